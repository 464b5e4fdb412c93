"""sync.incremental's decisions against the real sandbox: the probe in each filter mode, and the mark."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sync.apis.lev.sandbox import SandboxServer, running_sandbox
from sync.apis.lev.wire import decode_body, parse_page
from sync.incremental import (
    FAR_FUTURE,
    FAR_PAST,
    OVERLAP,
    REFUSED,
    ListAnswer,
    ProbeAnswer,
    WalkProgress,
    format_instant,
    judge_probe,
    parse_instant,
)
from tests.sandbox.helpers import api_client

GTE = "filter[updated_at][gte]"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(contacts=450) as server:  # about 400 listed: three pages of 200
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with api_client(sandbox) as http:
        yield http


def first_page(client: httpx.Client, gte: str | None) -> ProbeAnswer:
    params: dict[str, object] = {"limit": 200}
    if gte is not None:
        params[GTE] = gte
    response = client.get("/contacts", params=params)
    if response.status_code == 400:
        return REFUSED
    page = parse_page(response.content, what="probe")
    return ListAnswer(tuple(c["id"] for c in page.contacts), page.has_more, page.total)


def probe(client: httpx.Client) -> str:
    unfiltered = first_page(client, None)
    assert isinstance(unfiltered, ListAnswer)
    future = first_page(client, format_instant(FAR_FUTURE))
    past = first_page(client, format_instant(FAR_PAST))
    return judge_probe(future, past, unfiltered).verdict


@pytest.mark.parametrize(
    ("mode", "verdict"), [("apply", "honoured"), ("ignore", "ignored"), ("reject", "unsupported")]
)
def test_probe_tells_each_filter_mode_of_the_sandbox(
    sandbox: SandboxServer, client: httpx.Client, mode: str, verdict: str
) -> None:
    """The sandbox honouring, ignoring or refusing the filter gets the matching verdict."""
    sandbox.state.set_filter_mode(mode)
    assert probe(client) == verdict


def walk(client: httpx.Client, progress: WalkProgress) -> WalkProgress:
    """A cursor walk to the end, folding each page into `progress`."""
    params: dict[str, object] = {"limit": 200}
    if progress.gte is not None:
        params[GTE] = format_instant(progress.gte)
    while True:
        response = client.get("/contacts", params=params)
        assert response.status_code == 200, response.text
        body, _ = decode_body(response.content, what="walk")
        page = parse_page(response.content, what="walk")
        progress = progress.observe(page.contacts, body.get("timestamp"))
        if not page.has_more:
            return progress
        params["cursor"] = page.next_cursor


def test_edit_behind_a_full_walk_is_listed_by_the_next_filtered_walk(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """A contact edited after its page was listed, with later pages edited too, comes in the next walk."""
    listed = [c["id"] for c in sandbox.state.all_contacts() if c["is_connected"]]
    full = WalkProgress.start("full")
    params: dict[str, object] = {"limit": 200}
    while True:
        response = client.get("/contacts", params=params)
        body, _ = decode_body(response.content, what="walk")
        page = parse_page(response.content, what="walk")
        full = full.observe(page.contacts, body.get("timestamp"))
        if full.pages == 1:  # behind the walk, then ahead of it
            sandbox.state.admin_edit(listed[0], {"title": "Edited behind the walk"})
            sandbox.state.admin_edit(listed[-1], {"title": "Edited ahead of the walk"})
        if not page.has_more:
            break
        params["cursor"] = page.next_cursor
    mark = full.mark(previous=None, walk_seconds=None)
    assert mark is not None
    filtered = walk(client, WalkProgress.start("filtered", gte=mark - OVERLAP))
    assert filtered.pages == 1 and not filtered.outside_filter
    seen = [
        c["id"]
        for c in parse_page(
            client.get("/contacts", params={"limit": 200, GTE: format_instant(mark - OVERLAP)}).content,
            what="again",
        ).contacts
    ]
    assert listed[0] in seen and listed[-1] in seen


def test_filter_ignored_after_being_honoured_is_detected_on_the_first_page(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """Honoured when probed, ignored later: the filtered walk's first page shows contacts outside it."""
    assert probe(client) == "honoured"
    newest = max(c["updated_at"] for c in sandbox.state.all_contacts())
    sandbox.state.set_filter_mode("ignore")
    gte = parse_instant(newest)
    assert gte is not None
    progress = walk(client, WalkProgress.start("filtered", gte=gte))
    assert progress.outside_filter and not progress.flags_disconnections
