"""Commands that read a store never create one: a mistyped database_url says there is no
store there (exit 2) instead of reporting an empty one."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.e2e.accounts import cli_env, run_cli

pytestmark = pytest.mark.slow

# `check` says so too, but exits with the API's verdict: a sync would create the store there.
READ_ONLY = {
    ("status",): 2,
    ("status", "--json"): 2,
    ("conflicts",): 2,
    ("retry",): 2,
    ("sync", "--dry-run"): 2,
    ("check",): 3,
}


@pytest.mark.parametrize("where", ["missing-file", "missing-folder", "empty-file"])
def test_read_only_commands_find_no_store_and_create_nothing(tmp_path: Path, where: str) -> None:
    """status, conflicts, retry, a dry run and check where no store is: each names it, nothing is made."""
    path = {
        "missing-file": tmp_path / "no-such-file.db",
        "missing-folder": tmp_path / "no" / "such" / "dir" / "x.db",
        "empty-file": tmp_path / "empty.db",
    }[where]
    if where == "empty-file":
        path.touch()
    env = cli_env(
        None,
        f"sqlite:///{path}",
        CONTACTS_SYNC_API_URL="http://127.0.0.1:9/api/external/v2",
        CONTACTS_SYNC_API_TOKEN="lev_sk_read_only",
        CONTACTS_SYNC_RETRY_ATTEMPTS="1",
    )
    for args, exit_code in READ_ONLY.items():
        result = run_cli(env, *args)
        output = result.stdout + result.stderr
        assert result.returncode == exit_code, (args, output)
        assert f"there is no contacts-sync store at {path}" in output, (args, output)
        assert "0 contacts" not in output and "contacts in store" not in output
    if where == "empty-file":
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT name FROM sqlite_master").fetchall() == [], "tables were created"
    else:
        assert list(tmp_path.iterdir()) == [], "a file or folder was created"


@pytest.mark.postgres
def test_status_of_an_empty_postgresql_schema_says_there_is_no_store(pg_server_url: str) -> None:
    """An existing PostgreSQL database without contacts-sync's tables: exit 2, no table created."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"{pg_server_url.replace('postgresql://', 'postgresql+psycopg://')}?options=-csearch_path%3D{schema}"
        result = run_cli(cli_env(None, url), "status")
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            tables = admin.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            ).fetchall()
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "there is no contacts-sync store at" in result.stderr and "no contacts-sync tables" in result.stderr
    )
    assert tables == []
