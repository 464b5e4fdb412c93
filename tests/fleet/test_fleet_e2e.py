"""The fleet end to end on PostgreSQL: 3 worker processes, 20 accounts, one worker killed mid-push."""

from __future__ import annotations

import collections
import os
import signal
from pathlib import Path

import pytest

from sync.apis.lev.sandbox.runs import connection_spans, overlapping_spans
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.state import SandboxState
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

ACCOUNTS = [f"acct-{n:02d}" for n in range(20)]
VICTIM = ACCOUNTS[7]
WORKER_OPTIONS = (
    "--concurrency", "2", "--tick-seconds", "1", "--heartbeat-seconds", "0.5",
    "--stalled-after-seconds", "2", "--poll-seconds", "0.5", "--drain-seconds", "2",
)  # fmt: skip


def created_named(state: SandboxState, prefix: str) -> collections.Counter[str]:
    return collections.Counter(
        c["first_name"] for c in state.all_contacts() if (c["first_name"] or "").startswith(prefix)
    )


def converged(
    sandbox: SandboxServer, edited: dict[str, tuple[int, str]], inserts: dict[str, list[str]]
) -> bool:
    for name in ACCOUNTS:
        state = sandbox.accounts.named(name)
        contact_id, first_name = edited[name]
        remote = state.contact(contact_id)
        if remote is None or remote["first_name"] != first_name:
            return False
        made = created_named(state, f"New {name} ")
        if any(made[wanted] < 1 for wanted in inserts[name]):
            return False
    return True


def test_three_workers_twenty_accounts_one_killed_mid_push(pg_server_url: str, tmp_path: Path) -> None:
    """Every account converges, no account is synced by two workers at once (the sandbox's
    connection spans never interleave), and the account whose worker was SIGKILLed mid-push
    is finished by another worker with each create applied exactly once."""
    with running_sandbox(contacts=0) as sandbox, fleet_database(pg_server_url) as database_url:
        tokens = add_sandbox_accounts(sandbox, ACCOUNTS, contacts=10)
        config = write_fleet_file(
            tmp_path / "fleet.toml", database_url=database_url, api_url=sandbox.base_url, accounts=ACCOUNTS
        )
        env = {token_variable(name): token for name, token in tokens.items()}
        workers = Workers(config, env, *WORKER_OPTIONS)
        try:
            migrated = workers.cli("migrate")
            assert migrated.returncode == 0, migrated.stdout + migrated.stderr
            for _ in range(3):
                workers.start(tmp_path)
            tables = {name: AccountTable(database_url, "cs_" + name.replace("-", "_")) for name in ACCOUNTS}

            def first_runs_done() -> bool:
                rows = fleet_rows(database_url)
                return all(rows.get(n, {}).get("last_outcome") == "ok" for n in ACCOUNTS)

            wait_until(
                first_runs_done, timeout=40, what="a first run of every account", tail=workers.log_tail
            )
            for name in ACCOUNTS:
                connected = [c for c in sandbox.accounts.named(name).all_contacts() if c["is_connected"]]
                assert tables[name].count() == len(connected) > 0, name

            # The victim's pushes take seconds (each write answered 0.8 s late): time to kill one.
            victim = sandbox.accounts.named(VICTIM)
            victim.set_faults("slow=800@p1/WRITE")
            # Edits and inserts in every account's table, as another program would make them.
            edited: dict[str, tuple[int, str]] = {}
            inserts: dict[str, list[str]] = {}
            for name in [VICTIM, *(n for n in ACCOUNTS if n != VICTIM)]:
                inserts[name] = [f"New {name} {n}" for n in range(5 if name == VICTIM else 2)]
                for first_name in inserts[name]:
                    tables[name].insert(contact_type="sponsor", company_id=1, first_name=first_name)
                row = tables[name].update_first_row(first_name=f"Edited {name}")
                edited[name] = (int(row["id"]), f"Edited {name}")

            def victim_mid_push() -> str | None:
                holder = fleet_rows(database_url)[VICTIM]["holder"]
                pushing = any(e.method in ("POST", "PATCH") for e in victim.request_log())
                return holder if pushing and holder else None

            wait_until(lambda: victim_mid_push() is not None, timeout=30, what="the victim mid-push",
                       tail=workers.log_tail)  # fmt: skip
            holder = victim_mid_push()
            assert holder and holder.startswith("pid "), holder
            pid = int(holder.split()[1])
            os.kill(pid, signal.SIGKILL)
            workers.by_pid(pid).wait(timeout=10)
            writes_before_kill = sum(e.method in ("POST", "PATCH") for e in victim.request_log())
            victim.set_faults("")

            wait_until(
                lambda: converged(sandbox, edited, inserts),
                timeout=45,
                what="every account to converge",
                tail=workers.log_tail,
            )
            # The victim's run was finished by another worker, every create exactly once.
            made = created_named(victim, f"New {VICTIM} ")
            assert made == collections.Counter({name: 1 for name in inserts[VICTIM]})
            assert writes_before_kill < len(inserts[VICTIM]) + 1, "the kill came after the push"
            for name in ACCOUNTS:
                assert created_named(sandbox.accounts.named(name), f"New {name} ") == collections.Counter(
                    {first_name: 1 for first_name in inserts[name]}
                ), name
            # No account was ever talked to by two clients at once.
            for name in ACCOUNTS:
                spans = connection_spans(sandbox.accounts.named(name).request_log())
                assert len([s for s in spans if s.starts_a_run]) >= 2, name
                assert overlapping_spans(spans) == [], name

            codes = workers.stop_all(timeout=30)
            assert set(codes.values()) == {0}, workers.log_tail()
            status = workers.cli("status", "--json")
            assert status.returncode == 0, status.stderr
        finally:
            workers.kill_leftovers()
