"""Helpers for the tests of a store bound to one account: two sandboxes as two accounts,
the real CLI in a process of its own, and a dump of every table of a store."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from tests.conftest import LocalTable


@contextlib.contextmanager
def two_accounts(contacts: int = 30) -> Iterator[tuple[SandboxServer, SandboxServer]]:
    """Accounts A and B: other people under the same contact ids (101, 102, ...)."""
    with (
        running_sandbox(
            contacts=contacts, seed=1, account_id=1001, account_slug="alpha", account_name="Alpha Capital"
        ) as alpha,
        running_sandbox(
            contacts=contacts, seed=2, account_id=2002, account_slug="beta", account_name="Beta Partners"
        ) as beta,
    ):
        assert alpha.state.contact(101) != beta.state.contact(101)
        yield alpha, beta


def cli_env(sandbox: SandboxServer | None, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CONTACTS_SYNC_DATABASE_URL": database_url,
        "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
        "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.05",
        "CONTACTS_SYNC_TIMEOUT_SECONDS": "5",
        **extra,
    }
    if sandbox is not None:
        env.setdefault("CONTACTS_SYNC_API_URL", sandbox.base_url)
        env.setdefault("CONTACTS_SYNC_API_TOKEN", sandbox.token)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`contacts-sync ARGS` as a real process, stdin not a terminal, JSON logs on stdout."""
    return subprocess.run(
        [sys.executable, "-m", "sync.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def table_names(table: LocalTable) -> list[str]:
    if table.is_postgres:
        rows = table.execute(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    else:
        rows = table.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return sorted(row["name"] for row in rows)


def dump_tables(table: LocalTable) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the store, in a stable order, as the database holds it."""
    dump = {}
    for name in table_names(table):
        rows = table.execute(f'SELECT * FROM "{name}"')
        dump[name] = sorted(rows, key=repr)
    return dump
