"""Lists that never end: every walk is bounded by the API's own total and by progress.

A fake Lev API over loopback serves the endless lists the sandbox cannot: empty
pages that always say there is more, and pages of ever-new junk contacts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.checks import load_tables
from tests.chaos.fakeapi import Answer, Request
from tests.chaos.helpers import FakeSynced, fake_synced, listing

JUNK_PAGE = 100


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[FakeSynced]:
    with fake_synced(tmp_path) as synced:
        yield synced


def test_empty_pages_that_always_say_there_is_more_stop_the_run(synced: FakeSynced) -> None:
    """Empty pages with has_more and a fresh cursor each time end the run with exit 3 after a few pages."""
    fresh = itertools.count(1)

    def respond(request: Request) -> Answer:
        return Answer.json(listing([], cursor=f"c{next(fresh)}", total=len(synced.contacts)))

    synced.api.answer("GET /contacts", respond)
    result = synced.run()
    assert result.outcome == "failed" and result.exit_code == 3, result
    assert "pages" in (result.error or "") and "brought no contact" in (result.error or ""), result.error
    gets = [r for r in synced.api.requests if r.method == "GET" and r.route == "GET /contacts"]
    assert 5 <= len(gets) <= 20, f"the walk took {len(gets)} pages"
    checkpoints = {c["name"]: c["value"] for c in load_tables(synced.db_path)["checkpoints"]}
    assert checkpoints.get("pull.cursor") is None, "the next run would resume the endless walk"


def test_pages_of_ever_new_junk_stop_at_the_total_the_api_gave(synced: FakeSynced) -> None:
    """Pages of ever-new contacts stop the run (exit 3) soon after the API's total, naming pages and why."""
    ids = itertools.count(10_000)

    def respond(request: Request) -> Answer:
        junk = [synced.contact(id=next(ids), first_name="Junk") for _ in range(JUNK_PAGE)]
        return Answer.json(listing(junk, cursor=f"c{junk[-1]['id']}", total=300))

    synced.api.answer("GET /contacts", respond)
    result = synced.run()
    assert result.outcome == "failed" and result.exit_code == 3, result
    assert "holds 300 contacts" in (result.error or ""), result.error
    gets = [r for r in synced.api.requests if r.route == "GET /contacts"]
    # 300 * 1.1 + 20 = 350 contacts: the fourth page is refused, unstored.
    assert len(gets) == 4, f"the walk took {len(gets)} pages"
    assert "4 pages" in (result.error or "")
    assert len(load_tables(synced.db_path)["contacts"]) <= 4 + 3 * JUNK_PAGE
