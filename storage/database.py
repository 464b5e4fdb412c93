"""Opening a store: the engine, its connection settings and its transactions.

SQLite is shared with other programs and with a second contacts-sync (cron next
to a daemon), so every connection runs in WAL mode with a busy timeout, and
every write transaction starts with BEGIN IMMEDIATE: a deferred transaction
that reads and then writes fails at once with SQLITE_BUSY whatever the timeout.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, IntegrityError

from storage.store_errors import Cause, damaged, postgres_cause, sqlite_cause
from sync.errors import ConfigError, ConstraintViolated, StoreError
from sync.plan import shown_as_text

BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "contacts_sync_read_only"


# json.dumps with options builds an encoder per call; a pull encodes every contact's base.
_RECORD_ENCODER = json.JSONEncoder(default=shown_as_text)


def record_json(value: Any) -> str:
    # Bookkeeping columns (a conflict's local value, a base) may hold what another
    # program stored in a row, a BLOB's bytes say: recorded as text, never a crash.
    return _RECORD_ENCODER.encode(value)


def create_store_engine(url: str) -> Engine:
    """An engine for `url`, set up for sharing; the SQLite file is made owner-only."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"CONTACTS_SYNC_DATABASE_URL {url!r} is not a database URL; "
            "use e.g. sqlite:///contacts.db or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if (path := sqlite_file(parsed)) is not None and parsed.query.get("mode") != "ro":
            _create_private_file(path, parsed)
        engine = create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, json_serializer=record_json
        )
        _share_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, json_serializer=record_json)
    raise ConfigError(
        f"CONTACTS_SYNC_DATABASE_URL uses {parsed.get_backend_name()!r}; "
        "contacts-sync supports sqlite and postgresql"
    )


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names, also in its `file:` URI form; None for other databases,
    an in-memory one or an unreadable URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if parsed.query.get("mode") == "memory":
        return None
    if parsed.query.get("uri") == "true" and database.startswith("file:"):  # file:/path?mode=ro&uri=true
        database = unquote(database.removeprefix("file:").partition("?")[0])
        if database.startswith("//"):  # file://localhost/abs or file:///abs
            database = "/" + database[2:].partition("/")[2]
    return Path(database)


def _create_private_file(path: Path, url: URL) -> None:
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, stat.S_IRUSR | stat.S_IWUSR)
    except OSError as exc:
        raise StoreError(
            f"the store {url.render_as_string(hide_password=True)} cannot be created: "
            f"{exc.strerror} ({exc.filename}); create the directory, or give this user write access to it"
        ) from None
    os.close(fd)


def _share_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        # Text that is not UTF-8 (another program's bytes) reads losslessly; the planner refuses it by name.
        dbapi_connection.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One short write transaction; never hold it across an HTTP call."""
    with translate_store_errors(engine), engine.begin() as connection:
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read that does not block other writers."""
    with (
        translate_store_errors(engine),
        engine.connect() as connection,
        connection.execution_options(**{_READ_ONLY: True}).begin(),
    ):
        yield connection


@contextmanager
def translate_store_errors(engine: Engine) -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        raise ConstraintViolated(
            f"the store {_describe(engine)} refused a change: {_first_line(exc)}; "
            "a row edited by hand may break a constraint (e.g. two rows with the same id)"
        ) from None
    except DatabaseError as exc:
        raise store_error(engine, exc) from None


def store_error(engine: Engine, exc: DBAPIError) -> StoreError:
    """The StoreError for a failed statement or connection, with the hint that fits its cause."""
    cause = _cause(engine, exc)
    if cause is None:
        return StoreError(
            f"the store {_describe(engine)} failed: {_first_line(exc)}; "
            "check that it is reachable and not locked by a crashed process"
        )
    return StoreError(f"the store {_describe(engine)} {cause.problem}: {_first_line(exc)}; {cause.advice}")


def _cause(engine: Engine, exc: DBAPIError) -> Cause | None:
    original = getattr(exc, "orig", None) or exc
    message = str(original)
    if engine.dialect.name == "sqlite":
        path = str(sqlite_file(engine.url) or engine.url.database)
        cause = sqlite_cause(getattr(original, "sqlite_errorname", None), message, path)
        if cause is None and _looks_damaged(engine):
            return damaged(path)
        return cause
    return postgres_cause(getattr(original, "sqlstate", None), message, engine.url)


def _looks_damaged(engine: Engine) -> bool:
    """An unexplained failure on a file that fails quick_check is damage, whatever it said."""
    try:
        return bool(quick_check(engine))
    except Exception:  # the check itself failed: say nothing more than the first error
        return False


def quick_check(engine: Engine) -> list[str]:
    """SQLite's `PRAGMA quick_check` findings (empty when intact): a pass over every page, no index sort."""
    with engine.connect() as connection, connection.execution_options(**{_READ_ONLY: True}).begin():
        rows = [str(row[0]) for row in connection.exec_driver_sql("PRAGMA quick_check")]
    return [] if rows == ["ok"] else rows


def ensure_intact(engine: Engine) -> None:
    """Stop with the `damaged` message when a SQLite store fails quick_check; PostgreSQL checks itself."""
    if engine.dialect.name != "sqlite":
        return
    try:
        findings = quick_check(engine)
    except DatabaseError as exc:
        raise store_error(engine, exc) from None
    if findings:
        path = str(sqlite_file(engine.url) or engine.url.database)
        cause = damaged(path)
        raise StoreError(
            f"the store {_describe(engine)} {cause.problem}: PRAGMA quick_check found "
            f"{len(findings)} problem(s), first: {findings[0][:200]}; {cause.advice}"
        )


def _describe(engine: Engine) -> str:
    # Unquoted: a SQLite `file:` URI would otherwise show as file%3A/...
    return unquote(engine.url.render_as_string(hide_password=True))


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0][:300]
