"""The session-contacts client over a real httpx.Client, with respx standing in for the server.

What the sandbox cannot serve: an element that is not valid JSON, or of the
wrong shape, in the middle of a long list; the cookie header as sent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from sync.apis import http as shared
from sync.apis.sessions.client import SessionsClient, endpoint_of
from sync.apis.sessions.wire import error_for
from sync.errors import InvalidResponse
from sync.retrying import RetryPolicy

BASE = "https://contacts.app.test/api"
COOKIE = "s%3Aunit-session-id.unitSignature%2Fabc"


def wire_contact(contact_id: int, **values: Any) -> dict[str, Any]:
    return {
        "id": contact_id,
        "fullName": f"Contact {contact_id}",
        "email": f"c{contact_id}@example.net",
        "type": "client",
        "isActive": True,
        "metadata": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        **values,
    }


def list_body(count: int, *, broken_at: int | None = None, element: bytes = b"") -> bytes:
    items = [json.dumps(wire_contact(n)).encode() for n in range(1, count + 1)]
    if broken_at is not None:
        items[broken_at - 1] = element
    return b"[" + b",".join(items) + b"]"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def client(router: respx.MockRouter) -> Iterator[SessionsClient]:
    http = shared.open_http(
        base_url=BASE, headers={"Accept": "application/json", "Cookie": f"connect.sid={COOKIE}"}, timeout=5.0
    )
    shell = shared.HttpShell(
        http,
        error_for=error_for,
        endpoint_of=endpoint_of,
        retry=RetryPolicy(attempts=2),
        sleep=lambda _seconds: None,
        rng=random.Random(0),
        secrets=(COOKIE,),
    )
    sessions = SessionsClient(shell, secrets=(COOKIE,))
    yield sessions
    sessions.close()


def test_the_list_request_carries_the_cookie_and_nothing_else_secret(
    router: respx.MockRouter, client: SessionsClient
) -> None:
    """GET /contacts sends `Cookie: connect.sid=<value>` as given (URL-encoded), and no Authorization."""
    route = router.get("/contacts").mock(return_value=httpx.Response(200, content=list_body(3)))
    page = client.fetch_page(None)
    assert [c["id"] for c in page.contacts] == [1, 2, 3] and page.next_cursor is None
    request = route.calls.last.request
    assert request.headers["Cookie"] == f"connect.sid={COOKIE}"
    assert "Authorization" not in request.headers


def test_a_malformed_element_mid_list_fails_the_walk_naming_it(
    router: respx.MockRouter, client: SessionsClient
) -> None:
    """Element 2,345 not valid JSON: chunks 1 and 2 come out, chunk 3 fails naming it, after a re-read."""
    body = list_body(3000, broken_at=2345, element=b'{"id": 2345, "fullName": "Ann" "x"}')
    route = router.get("/contacts").mock(return_value=httpx.Response(200, content=body))
    first = client.fetch_page(None)
    second = client.fetch_page(first.next_cursor)
    assert [len(first.contacts), len(second.contacts)] == [1000, 1000]
    with pytest.raises(InvalidResponse) as caught:
        client.fetch_page(second.next_cursor)
    assert "element 2345 (after the contact with id 2344) of the list is not valid JSON" in str(caught.value)
    assert str(caught.value).startswith("GET /contacts: element 2345")
    assert route.call_count == 2  # the first answer, and one re-read (two attempts)


def test_a_contact_of_the_wrong_shape_mid_list_is_named(
    router: respx.MockRouter, client: SessionsClient
) -> None:
    """A contact whose isActive is text fails its chunk naming the contact and field."""
    element = json.dumps(wire_contact(1500, isActive="yes")).encode()
    router.get("/contacts").mock(
        return_value=httpx.Response(200, content=list_body(2000, broken_at=1500, element=element))
    )
    first = client.fetch_page(None)
    with pytest.raises(InvalidResponse, match="contact 1500 has isActive='yes', not boolean"):
        client.fetch_page(first.next_cursor)


def test_a_list_that_is_not_an_array_is_refused(router: respx.MockRouter, client: SessionsClient) -> None:
    """A login page served with 200 (a proxy, an expired session elsewhere) is not taken for an empty list."""
    router.get("/contacts").mock(
        return_value=httpx.Response(
            200, content=b"<html><body>Sign in</body></html>", headers={"Content-Type": "text/html"}
        )
    )
    with pytest.raises(InvalidResponse, match="the answer is not a JSON array"):
        client.fetch_page(None)
