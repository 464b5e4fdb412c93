"""Fixtures shared by the suites: a real sandbox over loopback, real stores.

PostgreSQL tests use the server at CONTACTS_SYNC_TEST_PG_URL (default the local
one at 127.0.0.1:5432, database `test`), each in a schema of its own; when none
answers there, one throwaway server for the session (see tests/pg_server.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog

from config.settings import Settings, load_settings
from storage.store import Store
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.logs import configure_logging
from sync.runner import RunResult, run_once
from tests.pg_server import server_problem, throwaway_postgres

PG_URL = os.environ.get("CONTACTS_SYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
JSON_COLUMNS = {"phones", "contact_types", "extra"}
# Every walk full, as before incremental pulls, for the suites written against full walks (and
# the `contacts-sync` processes they start inherit it); tests of incremental pulls set their own.
FULL_WALK_EVERY = "0s"
os.environ.setdefault("CONTACTS_SYNC_FULL_WALK_EVERY", FULL_WALK_EVERY)
# And for settings built from an explicit environment in-process: the default, for the tests.
Settings.model_fields["full_walk_every"].default = timedelta(0)
Settings.model_rebuild(force=True)


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    configure_logging(level="WARNING", json=True)
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(contacts=300, seed=11) as server:
        yield server


class LocalTable:
    """Another program editing the `contacts` table with plain SQL, outside contacts-sync."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        params = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in (params or {}).items()}
        if self.is_postgres:
            dsn, _, options = self.url.replace("postgresql+psycopg", "postgresql").partition("?")
            with psycopg.connect(dsn, options=options.removeprefix("options=").replace("%3D", "=")) as db:
                cursor = db.execute(re.sub(r":(\w+)", r"%(\1)s", sql), params)
                rows = cursor.fetchall() if cursor.description else []
                names = [c.name for c in cursor.description or []]
        else:
            path = self.url.removeprefix("sqlite:///")
            db = sqlite3.connect(path)
            try:
                cursor = db.execute(sql, params)
                rows = cursor.fetchall()
                names = [c[0] for c in cursor.description or []]
                db.commit()
            finally:
                db.close()
        return [_decoded(dict(zip(names, row, strict=True))) for row in rows]

    def update(self, local_id: int, **values: Any) -> None:
        assignments = ", ".join(f"{name} = {self._placeholder(name)}" for name in values)
        self.execute(
            f"UPDATE contacts SET {assignments} WHERE local_id = :local_id", {**values, "local_id": local_id}
        )

    def insert(self, **values: Any) -> int:
        columns = ", ".join(values)
        placeholders = ", ".join(self._placeholder(name) for name in values)
        self.execute(f"INSERT INTO contacts ({columns}) VALUES ({placeholders})", values)
        return int(self.execute("SELECT max(local_id) AS m FROM contacts")[0]["m"])

    def row(self, **where: Any) -> dict[str, Any]:
        ((name, value),) = where.items()
        rows = self.execute(f"SELECT * FROM contacts WHERE {name} = :v", {"v": value})
        assert len(rows) == 1, f"expected one row with {name}={value!r}, got {len(rows)}"
        return rows[0]

    def _placeholder(self, name: str) -> str:
        return f"CAST(:{name} AS jsonb)" if self.is_postgres and name in JSON_COLUMNS else f":{name}"


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for name in JSON_COLUMNS & row.keys():
        if isinstance(row[name], str):
            row[name] = json.loads(row[name])
    for name in ("is_primary", "is_connected"):
        if isinstance(row.get(name), int):
            row[name] = bool(row[name])
    return row


@pytest.fixture(scope="session")
def pg_server_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """The configured server when it answers, else a throwaway one for the whole session."""
    problem = server_problem(PG_URL)
    if problem is None:
        yield PG_URL
        return
    with throwaway_postgres() as url:
        pytestconfig.stash[THROWAWAY_NOTE] = f"{url} (nothing answered at {PG_URL}: {problem})"
        yield url


THROWAWAY_NOTE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    note = config.stash.get(THROWAWAY_NOTE, None)
    if note is not None:
        terminalreporter.write_line(f"PostgreSQL tests ran on a throwaway server at {note}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'contacts.db'}"
        return
    server_url: str = request.getfixturevalue("pg_server_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{server_url.replace('postgresql://', 'postgresql+psycopg://')}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


class Harness:
    """One store and one sandbox, with the settings that join them."""

    def __init__(self, sandbox: SandboxServer, database_url: str) -> None:
        self.sandbox = sandbox
        self.database_url = database_url
        self.table = LocalTable(database_url)
        self._store: Store | None = None

    def settings(self, **overrides: Any) -> Settings:
        environ = {
            "CONTACTS_SYNC_API_URL": self.sandbox.base_url,
            "CONTACTS_SYNC_API_TOKEN": self.sandbox.token,
            "CONTACTS_SYNC_DATABASE_URL": self.database_url,
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
            "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.05",
            "CONTACTS_SYNC_TIMEOUT_SECONDS": "5",
            "CONTACTS_SYNC_FULL_WALK_EVERY": FULL_WALK_EVERY,
        }
        settings, _ = load_settings(environ=environ, flags=overrides)
        return settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.database_url)
        return self._store

    def sync(self, **overrides: Any) -> RunResult:
        return run_once(self.settings(**overrides), store=self.store)

    def remote(self, contact_id: int) -> dict[str, Any]:
        contact = self.sandbox.state.contact(contact_id)
        assert contact is not None
        return contact

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@contextlib.contextmanager
def synced_harness(tmp_path: Path, *, contacts: int, seed: int) -> Iterator[Harness]:
    """A fresh sandbox and a SQLite store after one successful first sync."""
    with running_sandbox(contacts=contacts, seed=seed) as sandbox:
        h = Harness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
        try:
            assert h.sync().outcome == "ok"
            yield h
        finally:
            h.close()


@pytest.fixture
def harness(sandbox: SandboxServer, database_url: str) -> Iterator[Harness]:
    h = Harness(sandbox, database_url)
    yield h
    h.close()
