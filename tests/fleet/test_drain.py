"""SIGTERM drains a worker: its running sync parks (writes kept under their keys), it exits 0."""

from __future__ import annotations

import collections
import json
import signal
from pathlib import Path

import pytest

from sync.apis.lev.sandbox.testing import running_sandbox
from tests.fleet.helpers import (
    AccountTable,
    Workers,
    add_sandbox_accounts,
    fleet_database,
    fleet_rows,
    token_variable,
    wait_until,
    write_fleet_file,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_sigterm_parks_the_running_sync_and_another_worker_finishes_it(
    pg_server_url: str, tmp_path: Path
) -> None:
    """A worker stopped mid-push exits 0 with its job parked; the next worker sends the rest, once each."""
    with running_sandbox(contacts=0) as sandbox, fleet_database(pg_server_url) as database_url:
        tokens = add_sandbox_accounts(sandbox, ["solo"], contacts=5)
        config = write_fleet_file(
            tmp_path / "fleet.toml", database_url=database_url, api_url=sandbox.base_url, accounts=["solo"]
        )
        workers = Workers(
            config,
            {token_variable("solo"): tokens["solo"]},
            *("--tick-seconds", "1", "--poll-seconds", "0.5", "--drain-seconds", "0"),
        )
        try:
            assert workers.cli("migrate").returncode == 0
            table = AccountTable(database_url, "cs_solo")
            names = [f"Drained {n}" for n in range(6)]
            for name in names:
                table.insert(contact_type="sponsor", company_id=1, first_name=name)
            solo = sandbox.accounts.named("solo")
            solo.set_faults("slow=700@p1/WRITE")
            first = workers.start(tmp_path)
            wait_until(
                lambda: any(e.method == "POST" for e in solo.request_log()),
                timeout=30,
                what="the first write",
                tail=workers.log_tail,
            )
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=20) == 0, workers.log_tail()
            row = fleet_rows(database_url)["solo"]
            assert row["last_outcome"] == "parked" and row["holder"] is None
            sent = sum(e.method == "POST" for e in solo.request_log())
            assert sent < len(names), "the push ended before the signal: nothing was parked"

            solo.set_faults("")
            workers.start(tmp_path)

            def created() -> collections.Counter[str]:
                return collections.Counter(
                    c["first_name"] for c in solo.all_contacts() if c["first_name"] in names
                )

            wait_until(lambda: len(created()) == len(names), timeout=30, what="the rest of the push")
            assert created() == collections.Counter(dict.fromkeys(names, 1))
            status = workers.cli("status", "--json")
            assert status.returncode == 0, status.stderr
            (entry,) = json.loads(status.stdout)
            assert entry["account"] == "solo" and entry["pending_writes"] == 0
            assert set(workers.stop_all(timeout=30).values()) == {0}
        finally:
            workers.kill_leftovers()
