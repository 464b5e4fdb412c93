"""`contacts-sync check` against the sandbox: it says whether a sync would start, and why
not, with the exit code and message a sync would give, and changes nothing anywhere."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import LocalTable
from tests.e2e.accounts import cli_env, dump_tables, run_cli, two_accounts

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_with_a_good_token_shows_account_budget_and_store_and_changes_nothing(tmp_path: Path) -> None:
    """Good token, synced store: exit 0 with account, tier, budget and owner; only GET /me is sent,
    the store is not written."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    with two_accounts() as (alpha, _beta):
        alpha.state.tier = "standard"  # what GET /me states; the limiter itself stays open
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        before = dump_tables(LocalTable(database_url))
        alpha.state.reset_log()
        text = run_cli(cli_env(alpha, database_url), "check")
        as_json = run_cli(cli_env(alpha, database_url), "check", "--json")
        sent = {(e.method, e.endpoint) for e in alpha.state.request_log()}
        token = alpha.token
    assert text.returncode == 0, text.stdout + text.stderr
    assert "token accepted; account 'Alpha Capital (alpha)' (id 1001), tier standard" in text.stdout
    assert "belongs to lev account 'Alpha Capital (alpha)' (id 1001)" in text.stdout
    assert "schema up to date" in text.stdout and "ok: a sync would start" in text.stdout
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and report["sync_would_start"] is True and report["problems"] == []
    assert report["account"]["tier"] == "standard"
    assert report["store"]["pending_migrations"] == []
    assert sent == {("GET", "GET /me")}
    assert dump_tables(LocalTable(database_url)) == before
    assert token not in text.stdout + text.stderr + as_json.stdout + as_json.stderr


def test_check_with_a_bad_token_exits_3_with_the_sync_message(tmp_path: Path) -> None:
    """A token the API refuses: exit 3 and the 401 message a sync gives, the token not shown."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    with two_accounts() as (alpha, _beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        wrong = "lev_sk_sandbox_" + "0" * 32
        result = run_cli(cli_env(alpha, database_url, CONTACTS_SYNC_API_TOKEN=wrong), "check", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 3, result.stdout
    assert (
        report["problems"][0]["part"] == "api" and "GET /me answered 401" in report["problems"][0]["message"]
    )
    assert report["store"]["account"]["account_id"] == "1001"  # the store is still looked at
    assert wrong not in result.stdout + result.stderr


def test_check_against_an_unreachable_api_exits_3_naming_the_request(tmp_path: Path) -> None:
    """Nothing listens at api_url, no store yet: exit 3 saying the connection failed, the store a note."""
    env = cli_env(
        None,
        f"sqlite:///{tmp_path / 'contacts.db'}",
        CONTACTS_SYNC_API_URL=f"http://127.0.0.1:{closed_port()}/api/external/v2",
        CONTACTS_SYNC_API_TOKEN="lev_sk_unreachable",
        CONTACTS_SYNC_RETRY_ATTEMPTS="2",
    )
    result = run_cli(env, "check")
    assert result.returncode == 3, result.stdout
    assert "problem (api): GET /me: cannot connect" in result.stdout
    assert "or let a sync create the store there" in result.stdout
    assert "not ok: a sync would not start (exit 3)" in result.stdout


def test_check_of_a_store_that_belongs_to_another_account_exits_2(tmp_path: Path) -> None:
    """A store bound to A checked with B's token: exit 2 with the message a sync would give."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    with two_accounts() as (alpha, beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        refused = run_cli(cli_env(beta, database_url), "sync")
        result = run_cli(cli_env(beta, database_url), "check")
        beta_writes = [e for e in beta.state.request_log() if e.method != "GET"]
    assert result.returncode == 2, result.stdout
    problem = next(line for line in result.stdout.splitlines() if line.startswith("problem (account): "))
    assert problem.removeprefix("problem (account): ") == refused.stderr.strip().removeprefix(
        "contacts-sync: "
    )
    assert "Alpha Capital (alpha)" in problem and "Beta Partners (beta)" in problem
    assert beta_writes == []


def test_check_reports_a_pending_migration_without_applying_it(tmp_path: Path) -> None:
    """A store missing a migration: check names it, exits 0 (a sync applies it) and leaves it pending."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    table = LocalTable(database_url)
    with two_accounts() as (alpha, _beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        table.execute("DELETE FROM schema_migrations WHERE name = '0003_local_change_triggers'")
        table.execute("DROP TRIGGER contacts_sync_mark_insert")
        table.execute("DROP TRIGGER contacts_sync_mark_update")
        before = dump_tables(table)
        result = run_cli(cli_env(alpha, database_url), "check")
        after = dump_tables(table)
        synced = run_cli(cli_env(alpha, database_url), "sync")
    assert result.returncode == 0, result.stdout
    assert "migrations pending: 0003_local_change_triggers" in result.stdout
    assert "note: the next sync first applies the migrations 0003_local_change_triggers" in result.stdout
    assert after == before
    assert synced.returncode == 0, synced.stderr
    applied = {row["name"] for row in table.execute("SELECT name FROM schema_migrations")}
    assert "0003_local_change_triggers" in applied


def test_check_of_a_store_not_bound_yet_says_the_next_sync_binds_it(tmp_path: Path) -> None:
    """A store made before binding existed: exit 0 and a note that the next sync binds it."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    with two_accounts() as (alpha, _beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0
        LocalTable(database_url).execute("DELETE FROM checkpoints WHERE name = 'binding'")
        result = run_cli(cli_env(alpha, database_url), "check")
    assert result.returncode == 0, result.stdout
    assert "not bound to an account yet" in result.stdout
    assert "made before stores were bound to one account" in result.stdout
