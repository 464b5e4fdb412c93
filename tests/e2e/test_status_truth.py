"""`status` shows what is true now: a live daemon, the lock's current holder, dead runs as abandoned."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.locking import sync_lock
from storage.status import load_status, save_rejections_forgotten
from storage.store import Store
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.status_text import render_status
from tests.conftest import Harness, LocalTable
from tests.e2e.processes import Cli, mid_push, wait_until


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[SandboxServer, Cli, LocalTable]]:
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    Store.open(database_url).close()  # `status` refuses to look at a store that is not there yet
    with running_sandbox(contacts=40, seed=5) as sandbox:
        cli = Cli(sandbox, database_url)
        try:
            yield sandbox, cli, LocalTable(database_url)
        finally:
            cli.kill_leftovers()


def status_text(cli: Cli) -> str:
    done = cli.run("status")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_a_cleanly_stopped_daemon_leaves_no_next_run_in_status(
    setup: tuple[SandboxServer, Cli, LocalTable],
) -> None:
    """While the daemon runs, status shows it and its next run; after SIGTERM, neither."""
    _, cli, _ = setup
    daemon = cli.start("daemon", "--every", "1h")
    wait_until(lambda: (cli.status().get("daemon") or {}).get("last_outcome") == "ok", timeout=60)
    running = cli.status()["daemon"]
    assert running["running"] is True and running["pid"] == daemon.pid and running["next_run"]
    assert f"daemon: pid {daemon.pid} on " in status_text(cli)
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=15)
    assert daemon.returncode == 0
    assert cli.status()["daemon"] is None
    assert "next run" not in status_text(cli)


@pytest.mark.slow
def test_a_daemon_killed_with_sigkill_shows_as_not_running(
    setup: tuple[SandboxServer, Cli, LocalTable],
) -> None:
    """A daemon whose process is gone is shown as not running, with when it was last seen."""
    _, cli, _ = setup
    daemon = cli.start("daemon", "--every", "1h")
    wait_until(lambda: (cli.status().get("daemon") or {}).get("last_outcome") == "ok", timeout=60)
    daemon.kill()
    daemon.communicate(timeout=15)
    report = cli.status()["daemon"]
    assert report["running"] is False
    assert f"daemon: not running (last seen {report['last_seen']}, pid {daemon.pid} on " in status_text(cli)


@pytest.mark.slow
def test_a_failing_daemon_shows_its_backoff_in_the_text_status(
    setup: tuple[SandboxServer, Cli, LocalTable],
) -> None:
    """status (text) shows the daemon's failures in a row and until when it backs off."""
    _, cli, _ = setup
    cli.env["CONTACTS_SYNC_API_TOKEN"] = "lev_sk_not_the_right_one"
    daemon = cli.start("daemon", "--every", "1s")
    wait_until(lambda: bool((cli.status().get("daemon") or {}).get("backing_off_until")), timeout=60)
    text = status_text(cli)
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=15)
    line = next(line for line in text.splitlines() if line.startswith("daemon:"))
    assert "last run failed" in line
    assert "failure(s) in a row" in line
    assert "backing off: no run before 20" in line


def test_the_lock_holder_is_shown_only_while_the_lock_is_held(database_url: str) -> None:
    """status names the lock's holder while it is held, and nobody once it is released."""
    store = Store.open(database_url)
    try:
        with sync_lock(store), store.read() as tx:
            held = load_status(tx)
        with store.read() as tx:
            released = load_status(tx)
    finally:
        store.close()
    assert held["lock_holder"].startswith(f"pid {os.getpid()} on ")
    assert f"lock: held by pid {os.getpid()} on " in render_status(held)
    assert released["lock_holder"] is None
    assert "lock:" not in render_status(released)


@pytest.mark.slow
def test_a_run_killed_mid_push_is_abandoned_not_running(sandbox: SandboxServer, database_url: str) -> None:
    """A sync killed with SIGKILL shows as abandoned at once; the next run records it so."""
    cli = Cli(sandbox, database_url)
    table = LocalTable(database_url)
    victim = mid_push((sandbox, cli, table), "Gone", count=2, slow_ms=20000, command=("sync",))
    wait_until(lambda: cli.status()["lock_holder"] is not None)
    assert cli.status()["runs"][0]["outcome"] == "running"
    victim.kill()
    victim.communicate(timeout=15)

    report = cli.status()
    assert report["lock_holder"] is None
    assert report["runs"][0]["outcome"] == "abandoned"
    assert "abandoned" in status_text(cli)
    sandbox.state.set_faults("")
    assert cli.run("sync").returncode == 0
    stored = table.execute("SELECT outcome, error FROM runs ORDER BY started_at")
    assert [run["outcome"] for run in stored] == ["ok", "abandoned", "ok"]
    assert "ended without recording an outcome" in stored[1]["error"]


def test_rejected_writes_are_shown_once_each_with_the_id_retry_takes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Each rejection says its request, status and request_id once, labelled with the id `retry` takes."""
    harness = Harness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
    try:
        assert harness.sync().outcome == "ok"
        row = harness.table.execute("SELECT local_id, id FROM contacts WHERE id IS NOT NULL LIMIT 1")[0]
        harness.table.update(row["local_id"], title="Mine")
        sandbox.state.admin_edit(row["id"], {"title": "Theirs"})
        harness.table.insert(contact_type="sponsor", company_id=424242, first_name="Rejected")
        harness.table.insert(contact_type="nobody", company_id=1, first_name="Refused")
        assert harness.sync(conflict_policy="manual").outcome == "attention"
        with harness.store.read() as tx:
            report = load_status(tx)
        text = render_status(report)
        (rejected,) = [r for r in report["rejected_writes"] if not r["refused_locally"]]
        with harness.store.write() as tx:
            requeued = save_rejections_forgotten(tx, [rejected["write_id"]])
    finally:
        harness.close()
    (line,) = [line for line in text.splitlines() if "-> 422" in line]
    assert line.startswith(
        f"  write {rejected['write_id']} local_id={rejected['local_id']} POST /contacts -> 422: "
    )
    assert line.count(rejected["request_id"]) == 1 and line.count("POST /contacts") == 1
    assert "answered 422" not in line
    assert "re-queue with `contacts-sync retry WRITE_ID`" in text
    assert requeued == 1
    attention, first = report["runs"]
    assert f"run {attention['run_id']}" in text and "waiting for a person: 1 open conflict(s), " in text
    assert "2 rejected or refused write(s)" in text
    assert f"inserted {first['counts']['inserted']}," in text and first["counts"]["inserted"] > 0
