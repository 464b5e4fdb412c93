"""A store belongs to the account it first synced with: pointed at another, it refuses
before anything is sent or written, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sync.errors import AccountMismatch
from sync.logs import configure_logging
from sync.runner import run_once
from tests.conftest import Harness
from tests.e2e.accounts import cli_env, dump_tables, run_cli, two_accounts

# Who ran last and when: the run history, which may record the refused run.
RUN_HISTORY_CHECKPOINTS = {"lock.holder"}


def without_run_history(dump: dict[str, list[dict[str, object]]]) -> dict[str, list[dict[str, object]]]:
    kept = {name: rows for name, rows in dump.items() if name != "runs"}
    kept["checkpoints"] = [c for c in dump["checkpoints"] if c["name"] not in RUN_HISTORY_CHECKPOINTS]
    return kept


def test_a_store_pointed_at_another_account_refuses_and_changes_nothing(database_url: str) -> None:
    """Synced with A, pointed at B: exit 2 naming both; no write reaches B; the store is as it was;
    pointed back at A, the pending edit lands there."""
    with two_accounts() as (alpha, beta):
        a = Harness(alpha, database_url)
        b = Harness(beta, database_url)
        try:
            assert a.sync().outcome == "ok"
            first, second = a.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 2")
            # A write left pending by a run that failed (the engine sends these first) ...
            a.table.update(first["local_id"], title="Meant for Alpha")
            alpha.state.set_faults("503@1-99/PATCH")
            assert a.sync(retry_attempts=1).outcome == "failed"
            alpha.state.set_faults("")
            pending = a.table.execute("SELECT * FROM writes WHERE status = 'pending'")
            assert [w["path"] for w in pending] == [f"/contacts/{first['id']}"]
            # ... and an edit not planned yet.
            a.table.update(second["local_id"], city="Alphaville")
            before = dump_tables(a.table)
            beta_before = beta.state.all_contacts()
            beta.state.reset_log()

            with pytest.raises(AccountMismatch) as refused:
                run_once(b.settings(), store=a.store)

            message = str(refused.value)
            for named in (
                "Alpha Capital (alpha)",
                "id 1001",
                alpha.base_url,
                "Beta Partners (beta)",
                "id 2002",
            ):
                assert named in message, f"{named!r} not in {message}"
            assert beta.base_url in message and "contacts-sync rebind" in message and "reset" in message
            assert alpha.token not in message and beta.token not in message
            assert "\n" not in message
            assert [e.endpoint for e in beta.state.request_log()] == ["GET /me"]
            assert beta.state.all_contacts() == beta_before
            after = dump_tables(a.table)
            assert without_run_history(after) == without_run_history(before)
            new_runs = [r for r in after["runs"] if r not in before["runs"]]
            assert [(r["outcome"], r["error"]) for r in new_runs] == [("refused", message)]

            assert a.sync().outcome == "ok"
            assert a.remote(first["id"])["title"] == "Meant for Alpha"
            assert a.remote(second["id"])["city"] == "Alphaville"
            assert beta.state.all_contacts() == beta_before
        finally:
            a.close()
            b.close()


@pytest.mark.slow
def test_the_cli_refuses_with_exit_2_and_one_line_and_status_shows_whose_store_it_is(tmp_path: Path) -> None:
    """`sync` against another account exits 2 with one stderr line; `status` shows the account,
    the API and where the store is, and the refused run."""
    db_path = tmp_path / "contacts.db"
    database_url = f"sqlite:///{db_path}"
    with two_accounts() as (alpha, beta):
        assert run_cli(cli_env(alpha, database_url), "sync").returncode == 0

        refused = run_cli(cli_env(beta, database_url), "sync")
        status = run_cli(cli_env(alpha, database_url), "status")
        status_json = run_cli(cli_env(alpha, database_url), "status", "--json")
        alpha_url, beta_token = alpha.base_url, beta.token

    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2, refused.stderr
    assert len(lines) == 1 and "Alpha Capital (alpha)" in lines[0] and "Beta Partners (beta)" in lines[0]
    assert beta_token not in refused.stdout + refused.stderr
    assert status.returncode == 0, status.stderr
    assert f"store: {db_path}, belongs to lev account 'Alpha Capital (alpha)' (id 1001)" in status.stdout
    assert alpha_url in status.stdout and "refused" in status.stdout
    report = json.loads(status_json.stdout)
    assert report["store"] == str(db_path)
    assert report["account"]["account_id"] == "1001"
    assert report["account"]["base_url"] == alpha_url
    assert report["runs"][0]["outcome"] == "refused"


def test_a_renamed_account_goes_on_and_the_new_name_is_recorded(harness: Harness) -> None:
    """The same account id under a new name is the same account: the run goes on, the name is updated."""
    assert harness.sync().outcome == "ok"
    harness.sandbox.state.account_name = "Renamed Holdings"
    configure_logging(level="INFO", json=True)
    with capture_logs() as logs:
        assert harness.sync().outcome == "ok"
    binding = json.loads(
        harness.table.execute("SELECT value FROM checkpoints WHERE name = 'binding'")[0]["value"]
    )
    assert binding["account_name"] == "Renamed Holdings (sandbox)"
    assert [e["event"] for e in logs if e["event"].startswith("store.binding")] == ["store.binding.renamed"]


def test_an_old_store_is_bound_on_its_next_run_once_with_a_log_line(harness: Harness) -> None:
    """A store made before binding existed (synced, no binding) is bound on its next run, logged once."""
    assert harness.sync().outcome == "ok"
    harness.table.execute("DELETE FROM checkpoints WHERE name = 'binding'")
    configure_logging(level="INFO", json=True)
    with capture_logs() as logs:
        assert harness.sync().outcome == "ok"
        assert harness.sync().outcome == "ok"
    bound = [e for e in logs if e["event"].startswith("store.binding")]
    assert [e["event"] for e in bound] == ["store.binding.adopted"]
    account_id = str(harness.sandbox.state.account_id)
    assert f"(id {account_id}) at {harness.sandbox.base_url}" in bound[0]["account"]
    binding = json.loads(
        harness.table.execute("SELECT value FROM checkpoints WHERE name = 'binding'")[0]["value"]
    )
    assert binding["account_id"] == account_id and binding["api"] == "lev"
