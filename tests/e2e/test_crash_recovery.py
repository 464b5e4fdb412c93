"""A real `contacts-sync sync` process killed with SIGKILL mid-push, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.apis.lev.sandbox.testing import running_sandbox
from sync.engine import Engine
from tests.conftest import Harness, LocalTable


def cli_environment(base_url: str, token: str, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CONTACTS_SYNC_API_URL": base_url,
        "CONTACTS_SYNC_API_TOKEN": token,
        "CONTACTS_SYNC_DATABASE_URL": database_url,
        "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.05",
    }


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_writes", [1, 4, 9])
def test_killed_push_resumes_and_applies_every_write_once(tmp_path: Path, kill_after_writes: int) -> None:
    """SIGKILL while writes are in flight; the next run applies each one exactly once."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    table = LocalTable(database_url)
    with running_sandbox(contacts=60, seed=3) as sandbox:
        env = cli_environment(sandbox.base_url, sandbox.token, database_url)
        assert run_cli(env, "sync").returncode == 0
        for n in range(6):
            table.insert(contact_type="lender_contact", company_id=2, first_name=f"New{n}")
        edited = table.execute("SELECT local_id, id FROM contacts WHERE id IS NOT NULL ORDER BY id LIMIT 6")
        for n, row in enumerate(edited):
            table.update(row["local_id"], title=f"Edited {n}")
        # Each write is applied at once but answered late: a kill lands between the two.
        sandbox.state.set_faults("slow=400@p1/WRITE")
        process = subprocess.Popen(
            [sys.executable, "-m", "sync.cli", "sync"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            writes = [e for e in sandbox.state.request_log() if e.method in ("POST", "PATCH")]
            if len(writes) >= kill_after_writes:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        sandbox.state.set_faults("")
        finished = run_cli(env, "sync")
        assert finished.returncode == 0, finished.stdout + finished.stderr

        created = [c for c in sandbox.state.all_contacts() if (c["first_name"] or "").startswith("New")]
        assert sorted(c["first_name"] for c in created) == [f"New{n}" for n in range(6)]
        for n, row in enumerate(edited):
            assert sandbox.state.contact(row["id"])["title"] == f"Edited {n}"
        local_new = table.execute("SELECT id FROM contacts WHERE first_name LIKE 'New%'")
        assert sorted(r["id"] for r in local_new) == sorted(c["id"] for c in created)
        assert table.execute("SELECT count(*) AS n FROM writes")[0]["n"] == 0


def test_a_bug_mid_run_is_recorded_as_a_failed_run_with_exit_3(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception fails the run (exit 3, not a traceback), and the history shows it ended."""
    assert harness.sync().outcome == "ok"

    def broken_plan(self: Engine) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Engine, "plan", broken_plan)
    result = harness.sync()
    assert result.outcome == "failed" and result.exit_code == 3, result
    last = harness.table.execute("SELECT outcome, error, finished_at FROM runs ORDER BY started_at DESC")[0]
    assert last["outcome"] == "failed" and last["finished_at"] is not None
    assert "RuntimeError" in last["error"]
