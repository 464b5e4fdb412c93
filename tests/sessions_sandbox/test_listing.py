"""GET /contacts: one JSON array of what the user sees, streamed; mentions; unknown routes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.apis.sessions.sandbox import SessionsSandboxServer, SessionsState, running_sessions_sandbox
from sync.apis.sessions.sandbox.contacts import parse, render
from tests.sessions_sandbox.helpers import array_items, new_contact, session_client

LARGE = 200_000


def test_list_is_one_array_in_id_order(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """The list holds every visible contact once, ids ascending, with a Content-Length matching the body."""
    response = client.get("/contacts")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert int(response.headers["content-length"]) == len(response.content)
    contacts = response.json()
    ids = [c["id"] for c in contacts]
    assert ids == sorted(set(ids)) and len(ids) == 30
    assert contacts == [
        {k: v for k, v in c.items() if k not in ("hidden", "canLogin")} for c in sandbox.state.all_contacts()
    ]
    # The hand-picked first contacts carry the awkward values.
    assert contacts[3]["fullName"] == "Ana 🌻 Ferreira"
    assert contacts[4]["isActive"] is False


def test_chunked_list_has_the_same_body(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """With chunked on, the list comes with Transfer-Encoding: chunked and the same bytes."""
    plain = client.get("/contacts")
    sandbox.state.settings({"chunked": True})
    chunked = client.get("/contacts")
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in chunked.headers
    assert chunked.content == plain.content


def test_empty_account_lists_an_empty_array() -> None:
    """An account with no contacts answers []."""
    with running_sessions_sandbox(contacts=0) as server, session_client(server) as http:
        response = http.get("/contacts")
    assert (response.status_code, response.content) == (200, b"[]")


def test_list_follows_other_users_changes(client: httpx.Client, admin: httpx.Client) -> None:
    """Hidden and deleted contacts leave the list; deactivated stays (isActive false); shown returns."""
    first, second, third = (c["id"] for c in client.get("/contacts").json()[:3])
    admin.post(f"/contacts/{first}/hide")
    admin.delete(f"/contacts/{second}")
    admin.post(f"/contacts/{third}/deactivate")
    listed = {c["id"]: c for c in client.get("/contacts").json()}
    assert first not in listed and second not in listed
    assert listed[third]["isActive"] is False
    admin.post(f"/contacts/{first}/show")
    assert [c["id"] for c in client.get("/contacts").json()][:2] == [first, third]


def test_mentions(client: httpx.Client, admin: httpx.Client) -> None:
    """/contacts/mentions lists id, fullName, mentionName, email of the active visible contacts."""
    mentions = client.get("/contacts/mentions").json()
    contacts = client.get("/contacts").json()
    expected = [
        {k: c[k] for k in ("id", "fullName", "mentionName", "email")} for c in contacts if c["isActive"]
    ]
    assert mentions == expected
    assert len(expected) < len(contacts)


def test_unknown_routes_get_the_express_404(client: httpx.Client) -> None:
    """Routes the API lacks get Express's HTML 404 page naming method and path, session or not."""
    for method, path in (("GET", "/contacts/1"), ("PATCH", "/contacts"), ("GET", "/users")):
        response = client.request(method, path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert f"<pre>Cannot {method} /api{path}</pre>" in response.text


def test_seeding_is_deterministic() -> None:
    """The same seed gives the same contacts; another seed other ones."""
    first = SessionsState(contacts=50, seed=5).visible_items()
    assert SessionsState(contacts=50, seed=5).visible_items() == first
    assert SessionsState(contacts=50, seed=6).visible_items() != first


def test_seeded_contacts_render_as_the_api_does() -> None:
    """Seeded contacts, rendered from cached fragments, are byte for byte what the API's encoder writes."""
    items = SessionsState(contacts=2000, seed=9).visible_items()
    assert [render(parse(item)) for item in items] == items
    assert len({parse(item)["email"].casefold() for item in items}) == len(items)


def test_a_list_read_during_writes_is_a_snapshot(
    sandbox: SessionsSandboxServer, client: httpx.Client
) -> None:
    """A list taken before a create does not show it; the next one does."""
    items = sandbox.state.visible_items()
    created = new_contact(client)
    assert len(items) == 30
    assert client.get("/contacts").json()[-1] == created


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_200k_contacts_stream_with_modest_memory() -> None:
    """200,000 contacts come as one array of that many; the server's RSS grows far less than the body."""
    command = [sys.executable, "-m", "sync.apis.sessions.sandbox", "--port", "0", "--contacts", str(LARGE)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
            count, received, peak = _walk_large_list(process.pid, lines)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert count == LARGE
    body_bytes, length = received
    assert body_bytes == length > 50 * 1024 * 1024
    # Building the body would cost at least its size (~65 MiB); streaming costs a few MiB.
    assert peak * 1024 < body_bytes / 3


def _walk_large_list(pid: int, lines: dict[str, str]) -> tuple[int, tuple[int, int], int]:
    """(contacts counted, (bytes received, Content-Length), the server's peak RSS growth in KiB)."""
    before = peak = _rss_kib(pid)
    received = count = last_id = 0
    cookies = {"connect.sid": lines["CONTACTS_SYNC_SESSION_COOKIE"]}
    with (
        httpx.Client(cookies=cookies, timeout=120.0) as http,
        http.stream("GET", lines["CONTACTS_SYNC_API_URL"] + "/contacts") as response,
    ):
        assert response.status_code == 200

        def chunks() -> Iterator[bytes]:
            nonlocal received, peak
            for chunk in response.iter_bytes():
                received += len(chunk)
                peak = max(peak, _rss_kib(pid))
                yield chunk

        for item in array_items(chunks()):
            assert item["id"] > last_id
            last_id = item["id"]
            count += 1
    return count, (received, int(response.headers["content-length"])), peak - before
