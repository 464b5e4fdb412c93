"""One sync at a time per store: a kernel lock, released even on kill -9.

The lock is keyed on what the store is, never on how its URL is spelled:
`localhost` and `127.0.0.1`, `:5432` or none, extra query parameters, a symlink
to the SQLite file, all name one store and must take one lock.

SQLite: `filelock.FileLock` (flock) on a file beside the database's real path
(symlinks resolved); the lock file is never deleted, which would let two
processes lock two different files.
PostgreSQL: a session advisory lock on a connection held for the whole run.
Advisory locks live in the server's lock table, per database, so the key is the
OID of the schema the store's tables are in (tests run many schemas of one
database at once); the server and database are implied by where it is taken.

Who holds the lock is written to the `checkpoints` table so the one refused
can say who and since when, and cleared on release; `status` shows a holder
only while the lock is really held.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock
import structlog
from sqlalchemy import Connection, Engine, text, update

from storage.database import ensure_intact, sqlite_file, translate_store_errors
from storage.store import Store, now
from storage.tables import RUNS
from sync.errors import Interrupted, LockHeld, StoreError, SyncError

HOLDER = "lock.holder"
_POLL_SECONDS = 0.2
_RECORD_GRACE_SECONDS = 3.0
# The high half of every contacts-sync advisory key; the low half is the schema's OID.
_KEY_PREFIX = 0x0C0A_C757
log = structlog.get_logger("storage.locking")


@contextmanager
def sync_lock(
    store: Store, *, wait_seconds: float = 0.0, stop: threading.Event | None = None
) -> Iterator[None]:
    """Hold the store's lock; wait for it up to `wait_seconds`, or until `stop` is set.

    Holding it proves that every run still recorded as `running` is dead: they
    are marked `abandoned`. A damaged SQLite file stops here, before any change.
    """
    engine = store.engine
    stop = stop or threading.Event()
    if engine.dialect.name == "sqlite":
        lock_context = _file_lock(store, wait_seconds, stop)
    else:
        lock_context = _advisory_lock(store, engine, wait_seconds, stop)
    with lock_context:
        ensure_intact(engine)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}
        with store.write() as tx:
            store.save_checkpoint(tx, HOLDER, json.dumps(holder))
            save_runs_abandoned(tx)
        try:
            yield
        finally:
            with contextlib.suppress(SyncError), store.write() as tx:
                store.save_checkpoint(tx, HOLDER, None)


ABANDONED = (
    "its process ended without recording an outcome (killed, crashed, or stopped during a request); "
    "the next run resends what it left pending, under the same keys"
)


def save_runs_abandoned(tx: Connection) -> None:
    """Mark every run still `running` as `abandoned`: only the lock's holder may be running."""
    tx.execute(
        update(RUNS)
        .where(RUNS.c.outcome == "running")
        .values(outcome="abandoned", finished_at=now(), error=ABANDONED)
    )


def lock_file(engine: Engine) -> Path:
    """The lock file of a SQLite store: beside the database's real path, so a symlink shares it."""
    database = sqlite_file(engine.url) or Path("contacts.db")
    return Path(f"{os.path.realpath(database)}.lock")


@contextmanager
def _file_lock(store: Store, wait_seconds: float, stop: threading.Event) -> Iterator[None]:
    lock = filelock.FileLock(lock_file(store.engine), mode=0o600)
    deadline = time.monotonic() + wait_seconds
    for attempt in itertools.count():
        try:
            lock.acquire(timeout=max(0.0, min(_POLL_SECONDS, deadline - time.monotonic())))
            break
        except filelock.Timeout:
            _check_wait(store, deadline, wait_seconds, stop, first=attempt == 0)
    try:
        yield
    finally:
        lock.release()


def advisory_key(connection: Connection) -> int:
    """The store's advisory lock key: the same for every spelling of its URL."""
    schema_oid = connection.execute(
        text("SELECT oid FROM pg_namespace WHERE nspname = current_schema()")
    ).scalar()
    if schema_oid is None:
        raise StoreError(
            "the PostgreSQL search_path names no schema that exists; "
            "create the schema or fix the search_path in CONTACTS_SYNC_DATABASE_URL"
        )
    return (_KEY_PREFIX << 32) | int(schema_oid)


@contextmanager
def _advisory_lock(
    store: Store, engine: Engine, wait_seconds: float, stop: threading.Event
) -> Iterator[None]:
    deadline = time.monotonic() + wait_seconds
    with translate_store_errors(engine), engine.connect() as connection:
        key = advisory_key(connection)
        attempts = itertools.count()
        while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            connection.rollback()
            _check_wait(store, deadline, wait_seconds, stop, first=next(attempts) == 0)
            stop.wait(_POLL_SECONDS)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


def _check_wait(
    store: Store, deadline: float, wait_seconds: float, stop: threading.Event, *, first: bool
) -> None:
    if stop.is_set():
        raise Interrupted("stopped by a shutdown signal while waiting for the store's lock")
    if time.monotonic() >= deadline:
        raise _held(store, wait_seconds)
    if first:
        log.info("sync.lock.waiting", wait_seconds=wait_seconds)


def _held(store: Store, wait_seconds: float) -> LockHeld:
    # A holder that has just taken the lock writes its record a moment later.
    deadline = time.monotonic() + _RECORD_GRACE_SECONDS
    while True:
        with store.read() as tx:
            record = store.load_checkpoint(tx, HOLDER)
            holder = load_lock_holder(tx, record)
        if (record and holder) or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS / 4)
    holder = holder or "another process"
    running = f"another sync of this store is running ({holder})"
    if wait_seconds > 0:
        return LockHeld(
            f"waited {wait_seconds:g} s for the store's lock, and {running}; "
            "try again later, or pass a longer --wait SECONDS"
        )
    return LockHeld(f"{running}; try again later (`sync` also takes --wait SECONDS to wait for it)")


def describe_holder(record: str | None) -> str | None:
    """'pid 12 on host since ...' from the holder record (older versions saved that text itself)."""
    if not record:
        return None
    try:
        holder: Any = json.loads(record)
    except ValueError:
        return record
    if not isinstance(holder, dict):
        return record
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


def process_alive(pid: Any, host: Any) -> bool | None:
    """Whether a process recorded by pid and host still runs; None when it is another host's."""
    if host != socket.gethostname() or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def load_lock_holder(tx: Connection, record: str | None) -> str | None:
    """Who holds the store's lock now, from its `record`; None when nobody does.

    PostgreSQL says itself whether the advisory lock is granted. A SQLite holder
    clears its record on release; one killed before it could is known by its
    pid being gone (a holder on another host is taken at its word).
    """
    if tx.dialect.name == "postgresql":
        key = advisory_key(tx)
        held = tx.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = :high AND objid = :low AND objsubid = 1"
            ),
            {"high": key >> 32, "low": key & 0xFFFF_FFFF},
        ).scalar()
        return (describe_holder(record) or "another process") if held else None
    if not record:
        return None
    try:
        holder: Any = json.loads(record)
    except ValueError:
        holder = None
    if isinstance(holder, dict) and process_alive(holder.get("pid"), holder.get("host")) is False:
        return None
    return describe_holder(record)
