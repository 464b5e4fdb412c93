"""A store that cannot be used says why, with the fix for that cause; a damaged file stops the run."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

import storage.database
from storage.store import Store
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.errors import StoreError
from tests.conftest import Harness
from tests.e2e.processes import Cli


def server_address(server_url: str) -> str:
    """host:port of the test server (the configured one, or the session's throwaway one)."""
    url = make_url(server_url)
    return f"{url.host}:{url.port or 5432}"


def damage_root_page(path: Path, table: str) -> None:
    """Overwrite the page-type byte of `table`'s root page, as a torn write or bad sector would."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\x03")


@pytest.mark.slow
def test_a_store_with_a_damaged_page_stops_the_sync_before_any_request(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A file that integrity_check calls malformed, in a page a sync does not read, exits 3 as damaged."""
    db = tmp_path / "contacts.db"
    cli = Cli(sandbox, f"sqlite:///{db}")
    assert cli.run("sync").returncode == 0
    damage_root_page(db, "conflicts")
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        sqlite3.connect(db).execute("PRAGMA integrity_check").fetchall()
    requests_before = len(sandbox.state.request_log())

    done = cli.run("sync")

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stdout[-2000:]
    assert len(lines) == 1 and "Traceback" not in done.stdout + done.stderr
    assert f"the store sqlite:///{db} is damaged" in lines[0]
    assert "restore" in lines[0] and "backup" in lines[0]
    assert len(sandbox.state.request_log()) == requests_before


def test_a_read_only_file_says_to_give_write_access(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A store opened read-only (tests run as root: a mode=ro URI, not chmod) names the file and the fix."""
    db = tmp_path / "contacts.db"
    Store.open(f"sqlite:///{db}").close()
    harness = Harness(sandbox, f"sqlite:///file:{db}?mode=ro&uri=true")
    try:
        with pytest.raises(StoreError) as raised:
            harness.sync()
    finally:
        harness.close()
    message = str(raised.value)
    assert "is read-only for this process: attempt to write a readonly database; give the user" in message
    assert f"write access to {db} and its directory" in message
    assert "reachable" not in message


def test_a_full_disk_says_to_free_space(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A store that cannot grow (SQLITE_FULL, from max_page_count) fails the pull saying to free space."""
    url = f"sqlite:///{tmp_path / 'contacts.db'}"
    harness = Harness(sandbox, url)
    try:
        store = harness.store
        with store.read() as tx:
            pages = tx.exec_driver_sql("PRAGMA page_count").scalar_one()
        store.engine.dispose()  # every connection from here on has the limit
        event.listen(
            store.engine,
            "connect",
            lambda connection, _: connection.execute(f"PRAGMA max_page_count = {pages}"),
        )
        result = harness.sync()
    finally:
        harness.close()
    assert result.outcome == "failed"
    assert result.error is not None
    assert f"the store {url} has no room to grow: database or disk is full; free space" in result.error


def test_a_store_locked_past_the_busy_timeout_says_who_to_look_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLITE_BUSY after the busy timeout says another program holds a write transaction open."""
    db = tmp_path / "contacts.db"
    Store.open(f"sqlite:///{db}").close()
    monkeypatch.setattr(storage.database, "BUSY_TIMEOUT_MS", 300)
    other_program = sqlite3.connect(db, isolation_level=None)
    other_program.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as raised:
            Store.open(f"sqlite:///{db}")
    finally:
        other_program.execute("ROLLBACK")
        other_program.close()
    message = str(raised.value)
    assert "is locked: database is locked; another program has held a write transaction" in message


def test_a_directory_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    """A store path under a regular file fails with one message naming the path, not a traceback."""
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreError, match=r"contacts\.db cannot be created: File exists \(.*/a-file\)"):
        Store.open(f"sqlite:///{tmp_path / 'a-file' / 'contacts.db'}")


@pytest.mark.postgres
def test_a_missing_postgres_database_says_to_create_it(pg_server_url: str) -> None:
    """A PostgreSQL database that does not exist is named, with `createdb NAME` as the fix."""
    name = f"nosuch_{uuid.uuid4().hex[:8]}"
    where = server_address(pg_server_url)
    with pytest.raises(StoreError) as raised:
        Store.open(f"postgresql+psycopg://postgres:s3cret@{where}/{name}")
    message = str(raised.value)
    assert f"the store postgresql+psycopg://postgres:***@{where}/{name} does not exist" in message
    assert f"create it with `createdb {name}`" in message
    assert "s3cret" not in message


@pytest.mark.postgres
def test_a_postgres_server_that_is_not_there_says_to_check_host_and_port() -> None:
    """Nothing listening on the URL's port: the message says to check that PostgreSQL runs there."""
    with pytest.raises(StoreError) as raised:
        Store.open("postgresql+psycopg://postgres@127.0.0.1:9/test")
    assert "cannot be reached" in str(raised.value)
    assert "check that PostgreSQL is running on 127.0.0.1 port 9" in str(raised.value)


@pytest.mark.postgres
def test_a_refused_postgres_login_says_to_check_user_and_password(pg_server_url: str) -> None:
    """A login the server refuses (unknown role) says to check user and password, never showing it."""
    where = server_address(pg_server_url)
    with pytest.raises(StoreError) as raised:
        Store.open(f"postgresql+psycopg://nobody_{uuid.uuid4().hex[:6]}:s3cret@{where}/test")
    message = str(raised.value)
    assert "refused the login (authentication failed)" in message
    assert "check the user and password in the URL" in message
    assert "s3cret" not in message


@pytest.fixture
def schema_without_rights(pg_server_url: str) -> Iterator[str]:
    """A role that may log in and a schema it may use but not create tables in."""
    suffix = uuid.uuid4().hex[:8]
    role, schema = f"cs_guest_{suffix}", f"t_locked_{suffix}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"CREATE SCHEMA {schema}")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")  # may look, may not create
    try:
        server = pg_server_url.replace("postgresql://", "postgresql+psycopg://")
        yield server.replace("postgres@", f"{role}@") + f"?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.execute(f"DROP ROLE {role}")


@pytest.mark.postgres
def test_a_postgres_schema_without_rights_says_to_grant_them(schema_without_rights: str) -> None:
    """A user without rights on the schema gets 'permission denied' and what to grant."""
    with pytest.raises(StoreError) as raised:
        Store.open(schema_without_rights)
    assert "refused access (permission denied)" in str(raised.value)
    assert "grant the URL's user the rights" in str(raised.value)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_cli_names_a_missing_postgres_database_in_one_line(tmp_path: Path) -> None:
    """`contacts-sync sync` against a missing database exits 3 with one line carrying the createdb hint."""
    name = f"nosuch_{uuid.uuid4().hex[:8]}"
    with running_sandbox(contacts=1) as sandbox:
        cli = Cli(sandbox, f"postgresql://postgres@localhost/{name}")
        done = cli.run("sync")
    assert done.returncode == 3
    (line,) = done.stderr.strip().splitlines()
    assert f"createdb {name}" in line and "Traceback" not in done.stdout
    assert os.environ.get("PGPASSWORD", "\0") not in line
