"""Other programs using the store while a sync runs."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from sync.runner import RunResult
from tests.conftest import Harness


def sync_in_background(harness: Harness) -> tuple[threading.Thread, list[RunResult]]:
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(harness.sync()))
    thread.start()
    return thread, results


def test_an_edit_made_while_its_write_is_in_flight_is_kept_and_sent_next(harness: Harness) -> None:
    """A row edited during the run that pushes its previous edit keeps the newer value."""
    harness.sync()
    row = harness.table.execute("SELECT * FROM contacts WHERE id IS NOT NULL ORDER BY id LIMIT 1")[0]
    harness.table.update(row["local_id"], title="First edit")
    harness.sandbox.state.set_faults("slow=1500@p1/PATCH")
    thread, results = sync_in_background(harness)
    deadline = time.monotonic() + 10
    while not [e for e in harness.sandbox.state.request_log() if e.method == "PATCH"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    harness.table.update(row["local_id"], title="Second edit")  # while the PATCH is in flight
    thread.join(30)
    assert results[0].outcome == "ok"
    assert harness.table.row(local_id=row["local_id"])["title"] == "Second edit"
    assert harness.remote(row["id"])["title"] == "First edit"
    harness.sandbox.state.set_faults("")
    harness.sync()
    assert harness.remote(row["id"])["title"] == "Second edit"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_another_writer_holding_the_sqlite_lock_only_delays_the_sync(harness: Harness) -> None:
    """A program holding a write transaction for a while makes the sync wait, not fail."""
    harness.sync()
    other = sqlite3.connect(harness.database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE contacts SET title = 'Held' WHERE local_id = 1")
    thread, results = sync_in_background(harness)
    time.sleep(1.5)
    other.execute("COMMIT")
    other.close()
    thread.join(30)
    assert results[0].outcome == "ok", results[0].error
    assert results[0].counts["updated"] == 1
