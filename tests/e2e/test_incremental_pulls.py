"""Incremental pulls against the Lev sandbox: only what changed, when the server proves it can.

The harness's other tests walk everything every run (CONTACTS_SYNC_FULL_WALK_EVERY=0s);
these use the default schedule: a full walk a day, filtered walks between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.runner import RunResult, run_once
from tests.conftest import Harness

DAILY = {"full_walk_every": "1d"}
FILTER = "filter[updated_at][gte]"


class IncrementalHarness(Harness):
    def sync(self, **overrides: Any) -> RunResult:
        return super().sync(**{**DAILY, **overrides})

    def lists(self) -> list[Any]:
        return [e for e in self.sandbox.state.request_log() if e.method == "GET" and "/contacts" in e.path]

    def filtered(self) -> list[Any]:
        return [e for e in self.lists() if FILTER in e.query]


@pytest.fixture
def lev(database_url: str) -> Iterator[IncrementalHarness]:
    with running_sandbox(contacts=450, seed=5) as sandbox:  # 3 pages of 200 when walked whole
        harness = IncrementalHarness(sandbox, database_url)
        yield harness
        harness.close()


def listed(harness: Harness) -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in harness.table.execute("SELECT * FROM contacts WHERE id IS NOT NULL")}


def test_with_the_filter_honoured_a_second_sync_lists_only_what_changed(lev: IncrementalHarness) -> None:
    first = lev.sync()
    assert first.counts["walk"] == "full"
    some = next(iter(listed(lev).values()))
    lev.sandbox.state.admin_edit(some["id"], {"title": "Edited between the syncs"})
    lev.sandbox.state.reset_log()

    second = lev.sync()

    assert second.outcome == "ok", second.error
    assert second.counts["walk"] == "filtered"
    # The probe (3 first pages, once a day), then one filtered page: the walk itself is 1 request.
    walk = [e for e in lev.filtered() if "2999-" not in str(e.query) and "1970-" not in str(e.query)]
    assert len(walk) == 1
    assert len(lev.lists()) == 4
    assert listed(lev)[some["id"]]["title"] == "Edited between the syncs"

    lev.sandbox.state.reset_log()
    third = lev.sync()  # the probe's verdict is cached for a day: one request
    assert third.counts["walk"] == "filtered"
    assert len(lev.lists()) == 1


def test_with_the_filter_ignored_every_sync_walks_everything_and_misses_nothing(database_url: str) -> None:
    with running_sandbox(contacts=450, seed=5) as sandbox:
        sandbox.state.set_filter_mode("ignore")  # a server without the filter
        harness = IncrementalHarness(sandbox, database_url)
        try:
            harness.sync()
            some = next(iter(listed(harness).values()))
            sandbox.state.admin_edit(some["id"], {"title": "Seen by a full walk"})
            second = harness.sync()
            assert second.counts["walk"] == "full"
            assert listed(harness)[some["id"]]["title"] == "Seen by a full walk"
            sandbox.state.reset_log()
            harness.sync()
            assert len(harness.lists()) == 3  # the verdict is cached: no probe, the whole list
        finally:
            harness.close()


@pytest.mark.parametrize("mode", ["ignore", "reject"])
def test_a_filter_honoured_then_no_longer_is_caught_and_nothing_is_missed(
    lev: IncrementalHarness, mode: str
) -> None:
    lev.sync()
    assert lev.sync().counts["walk"] == "filtered"  # probed and honoured
    rows = list(listed(lev).values())
    lev.sandbox.state.set_filter_mode(mode)
    lev.sandbox.state.admin_edit(rows[0]["id"], {"title": "Edited while the server changed"})

    result = lev.sync()

    assert result.outcome == "ok", result.error
    assert result.counts["walk"] == "full"  # the run went on as a full walk
    assert listed(lev)[rows[0]["id"]]["title"] == "Edited while the server changed"
    lev.sandbox.state.reset_log()
    assert lev.sync().counts["walk"] == "full"  # and stays full until a new probe proves otherwise


class EditBehindTheWalk(httpx.BaseTransport):
    """The real network; right after the walk's second page, another user edits a contact the
    first page listed (behind the walk)."""

    def __init__(self, sandbox: SandboxServer, contact_id: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._sandbox, self._contact_id, self._pages = sandbox, contact_id, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "GET" and request.url.path.endswith("/contacts"):
            self._pages += 1
            if self._pages == 2:
                response.read()
                self._sandbox.state.admin_edit(self._contact_id, {"title": "Edited behind the walk"})
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_contact_edited_during_a_walk_is_picked_up_by_the_next_incremental_run(
    lev: IncrementalHarness,
) -> None:
    first_page_contact = min(c["id"] for c in lev.sandbox.state.all_contacts() if c["is_connected"])
    result = run_once(
        lev.settings(**DAILY), store=lev.store, transport=EditBehindTheWalk(lev.sandbox, first_page_contact)
    )
    assert result.outcome == "ok", result.error
    assert listed(lev)[first_page_contact]["title"] != "Edited behind the walk"  # behind the walk: missed

    nxt = lev.sync()
    assert nxt.counts["walk"] == "filtered"
    assert listed(lev)[first_page_contact]["title"] == "Edited behind the walk"


def test_disconnections_are_flagged_only_by_full_walks(lev: IncrementalHarness) -> None:
    lev.sync()
    lev.sync()  # probed: filtered walks from now on
    gone = next(iter(listed(lev).values()))
    lev.sandbox.state.disconnect(gone["id"])

    filtered = lev.sync()
    assert filtered.counts["walk"] == "filtered"
    assert filtered.counts["disconnected"] == 0
    assert listed(lev)[gone["id"]]["is_connected"] in (True, 1)

    full = run_once(lev.settings(**DAILY), store=lev.store, full_walk=True)  # `sync --full`
    assert full.counts["walk"] == "full"
    assert full.counts["disconnected"] == 1
    assert listed(lev)[gone["id"]]["is_connected"] in (False, 0)
