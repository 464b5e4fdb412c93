"""`contacts-sync rebind` (the same account at a new URL) and `contacts-sync reset` (start over)."""

from __future__ import annotations

import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sync.apis.lev.sandbox.testing import running_sandbox
from tests.conftest import LocalTable
from tests.e2e.accounts import cli_env, dump_tables, run_cli, two_accounts

pytestmark = pytest.mark.slow


def but_the_lock_holder(dump: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {**dump, "checkpoints": [c for c in dump["checkpoints"] if c["name"] != "lock.holder"]}


def test_rebind_moves_the_store_to_the_same_account_at_a_new_url(tmp_path: Path) -> None:
    """The same account served at a new URL is refused until `rebind --yes`; a script without
    --yes changes nothing; the move is in the run history and the pending edit lands."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    table = LocalTable(database_url)
    with running_sandbox(contacts=20, seed=3) as old_url:
        assert run_cli(cli_env(old_url, database_url), "sync").returncode == 0
        row = table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 1")[0]
        table.update(row["local_id"], title="Moved with the account")
        with running_sandbox(state=old_url.state) as new_url:  # one account, a second address
            env = cli_env(new_url, database_url)
            refused = run_cli(env, "sync")
            unconfirmed = run_cli(env, "rebind")
            binding_before = table.execute("SELECT value FROM checkpoints WHERE name = 'binding'")
            rebound = run_cli(env, "rebind", "--yes")
            synced = run_cli(env, "sync")
            again = run_cli(env, "rebind", "--yes")
            old, new = old_url.base_url, new_url.base_url
        title = old_url.state.contact(row["id"])["title"]  # type: ignore[index]
    assert refused.returncode == 2 and "contacts-sync rebind" in refused.stderr
    assert unconfirmed.returncode == 2 and "no terminal to ask 'Rebind the store?' on" in unconfirmed.stderr
    assert json.loads(binding_before[0]["value"])["base_url"] == old
    assert rebound.returncode == 0, rebound.stderr
    assert f"  from lev account 'Sandbox Account (sandbox)' (id 56) at {old}" in rebound.stdout
    assert f"  to   lev account 'Sandbox Account (sandbox)' (id 56) at {new}" in rebound.stdout
    assert "warning" not in rebound.stdout  # the account id did not change
    assert synced.returncode == 0, synced.stderr
    assert title == "Moved with the account"
    assert again.returncode == 0 and "nothing to do" in again.stdout
    runs = table.execute("SELECT outcome, counts FROM runs WHERE outcome = 'rebound'")
    assert len(runs) == 1
    counts = runs[0]["counts"] if isinstance(runs[0]["counts"], dict) else json.loads(runs[0]["counts"])
    assert (counts["rebound_from"]["base_url"], counts["rebound_to"]["base_url"]) == (old, new)


def test_rebind_to_another_account_id_warns_before_it_binds(tmp_path: Path) -> None:
    """Rebinding to a different account id says so plainly before doing it."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    with two_accounts() as (alpha, beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        result = run_cli(cli_env(beta, database_url), "rebind", "--yes")
    assert result.returncode == 0, result.stderr
    assert "warning: the account id changes too" in result.stdout
    record = json.loads(
        LocalTable(database_url).execute("SELECT value FROM checkpoints WHERE name = 'binding'")[0]["value"]
    )
    assert record["account_id"] == "2002"


def test_reset_of_a_sqlite_store_keeps_a_copy_and_starts_over(tmp_path: Path) -> None:
    """reset names the backup beside the file (holding every row as it was), empties the store,
    keeps the run history; the next sync may then bind it to another account."""
    db_path = tmp_path / "contacts.db"
    database_url = f"sqlite:///{db_path}"
    table = LocalTable(database_url)
    with two_accounts() as (alpha, beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        table.insert(contact_type="sponsor", company_id=1, first_name="Never pushed")
        before = dump_tables(table)
        reset = run_cli(cli_env(alpha, database_url), "reset")
        emptied = dump_tables(table)
        synced = run_cli(cli_env(beta, database_url), "sync")
        beta_ids = {c["id"] for c in beta.state.all_contacts() if c["is_connected"]}
    assert reset.returncode == 0, reset.stderr
    assert (
        f"drop its {len(before['contacts'])} contact row(s) (1 created locally and never pushed)"
        in reset.stdout
    )
    match = re.search(r"kept in (\S+)$", reset.stdout.strip())
    assert match, reset.stdout
    backup = Path(match.group(1))
    assert backup.parent == db_path.parent and backup.name.startswith("contacts.db.before-reset-")
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    copy = dump_tables(LocalTable(f"sqlite:///{backup}"))
    assert but_the_lock_holder(copy) == but_the_lock_holder(before)  # reset held the lock
    for name in ("contacts", "sync_state", "writes", "conflicts", "local_changes"):
        assert emptied[name] == [], name
    assert not [c for c in emptied["checkpoints"] if c["name"] in ("binding", "pull.cursor")]
    assert [r["outcome"] for r in emptied["runs"]].count("reset") == 1
    assert len(emptied["runs"]) == len(before["runs"]) + 1
    assert synced.returncode == 0, synced.stderr
    assert {r["id"] for r in table.execute("SELECT id FROM contacts")} == beta_ids
    with sqlite3.connect(db_path) as db:  # local ids are never handed out again
        assert db.execute("SELECT min(local_id) FROM contacts").fetchone()[0] > max(
            r["local_id"] for r in before["contacts"]
        )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_reset_of_a_postgresql_store_needs_yes(database_url: str) -> None:
    """On PostgreSQL nothing is kept, so reset without --yes (and no terminal) changes nothing."""
    table = LocalTable(database_url)
    with two_accounts() as (alpha, _beta):
        env = cli_env(alpha, database_url)
        assert run_cli(env, "sync").returncode == 0
        before = dump_tables(table)
        unconfirmed = run_cli(env, "reset")
        unchanged = dump_tables(table)
        confirmed = run_cli(env, "reset", "--yes")
        emptied = dump_tables(table)
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert unchanged == before
    assert confirmed.returncode == 0, confirmed.stderr
    assert "kept in" not in confirmed.stdout
    assert emptied["contacts"] == [] and emptied["sync_state"] == []
    assert not [c for c in emptied["checkpoints"] if c["name"] == "binding"]


@pytest.mark.parametrize(("answer", "code"), [("y", 0), ("n", 2)])
def test_rebind_on_a_terminal_asks_and_does_only_what_was_answered(
    tmp_path: Path, answer: str, code: int
) -> None:
    """On a terminal rebind asks first: yes rebinds, no leaves the binding as it was."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    table = LocalTable(database_url)
    with two_accounts() as (alpha, beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        controller, terminal = pty.openpty()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "sync.cli", "rebind"],
                env=cli_env(beta, database_url),
                stdin=terminal,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            os.write(controller, f"{answer}\n".encode())
            out, err = process.communicate(timeout=120)
        finally:
            os.close(controller)
            os.close(terminal)
    record = json.loads(table.execute("SELECT value FROM checkpoints WHERE name = 'binding'")[0]["value"])
    assert process.returncode == code, out + err
    assert "Rebind the store? [y/N]" in out
    assert record["account_id"] == ("2002" if answer == "y" else "1001")
