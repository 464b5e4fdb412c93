"""The Lev client over a real httpx.Client, with respx standing in for the server."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
import structlog
from structlog.testing import capture_logs

from sync.apis.lev.client import LevClient, open_http
from sync.errors import AuthError, FatalError, InvalidResponse, NetworkError, RequestRejected, SyncError
from sync.plan import PreparedWrite, canonical_json
from sync.retrying import RetryPolicy

BASE = "https://api.lev.test/api/external/v2"
TOKEN = "lev_sk_unit_TOKEN_0123456789"
KEY = "7f1d4c2e-1111-4222-8333-944445555666"


def contact(contact_id: int = 7, **values: Any) -> dict[str, Any]:
    return {"id": contact_id, "first_name": "Ada", "phones": [], "is_primary": False, **values}


def ok_contact(contact_id: int = 7, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"request_id": f"req_ok_{contact_id}", "data": contact(contact_id)})


def page(*ids: int, cursor: str | None = None) -> httpx.Response:
    body = {
        "request_id": "req_page",
        "data": [contact(i) for i in ids],
        "pagination": {
            "total": len(ids),
            "limit": 200,
            "has_more": cursor is not None,
            "next_cursor": cursor,
        },
    }
    return httpx.Response(200, json=body)


def failure(status: int, **extra: Any) -> httpx.Response:
    error = {"status": status, "type": "x", "message": f"failed {status}", "details": {}, **extra}
    return httpx.Response(status, json={"request_id": f"req_{status}", "error": error})


class Harness:
    def __init__(self, router: respx.MockRouter, attempts: int) -> None:
        self.router = router
        self.sleeps: list[float] = []
        self.client = LevClient(
            open_http(base_url=BASE, token=TOKEN, origin_app="unit-tests", timeout=5.0),
            retry=RetryPolicy(attempts=attempts),
            sleep=self.sleeps.append,
            rng=random.Random(0),
        )


@pytest.fixture
def lev() -> Iterator[Harness]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        harness = Harness(router, attempts=4)
        yield harness
        harness.client._http.close()


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """Structlog events at every level, whatever the suite configured."""
    previous = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(wrapper_class=previous)


PATCH = PreparedWrite("PATCH", "/contacts/7", canonical_json({"city": "Zürich", "title": ""}))
POST = PreparedWrite("POST", "/contacts", canonical_json({"company_id": 3, "contact_type": "sponsor"}))


# --- requests ------------------------------------------------------------------------


def test_page_request_sends_lev_headers_and_limit(lev: Harness) -> None:
    """A page fetch sends the bearer token, X-Origin-App, limit=200 and no idempotency key."""
    route = lev.router.get("/contacts").mock(return_value=page(1, 2, cursor="c2"))
    result = lev.client.fetch_page(None)
    assert [c["id"] for c in result.contacts] == [1, 2]
    assert result.next_cursor == "c2"
    request = route.calls.last.request
    assert request.url.path == "/api/external/v2/contacts"
    assert dict(request.url.params) == {"limit": "200"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Origin-App"] == "unit-tests"
    assert "Idempotency-Key" not in request.headers


def test_page_request_passes_the_cursor(lev: Harness) -> None:
    """A page fetch from a cursor sends it beside the limit."""
    route = lev.router.get("/contacts").mock(return_value=page(3))
    lev.client.fetch_page("abc==")
    assert dict(route.calls.last.request.url.params) == {"limit": "200", "cursor": "abc=="}


@pytest.mark.parametrize("write", [PATCH, POST], ids=["patch", "post"])
def test_write_sends_key_content_type_and_exact_bytes(lev: Harness, write: PreparedWrite) -> None:
    """A write sends its idempotency key, Content-Type JSON and the prepared bytes unchanged."""
    route = lev.router.request(write.method, write.path).mock(return_value=ok_contact(7, 201))
    answer = lev.client.send_write(write, KEY)
    assert answer == contact(7)
    request = route.calls.last.request
    assert request.content == write.body
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Origin-App"] == "unit-tests"


# --- retries -------------------------------------------------------------------------


def test_write_is_retried_with_the_same_key_and_bytes(lev: Harness, events: list[dict[str, Any]]) -> None:
    """After a 500, a dropped connection and a 429, every attempt carries the same key and bytes."""
    route = lev.router.patch("/contacts/7").mock(
        side_effect=[
            failure(500),
            httpx.ConnectError("connection dropped"),
            failure(429, retry_after_seconds=9),
            ok_contact(7),
        ]
    )
    assert lev.client.send_write(PATCH, KEY)["id"] == 7
    assert route.call_count == 4
    assert {call.request.headers["Idempotency-Key"] for call in route.calls} == {KEY}
    assert [call.request.content for call in route.calls] == [PATCH.body] * 4
    assert len(lev.sleeps) == 3
    assert lev.sleeps[2] >= 9.0
    stats = lev.client.stats
    assert (stats.requests, stats.rate_limited, stats.retries) == (4, 1, 3)
    assert stats.by_endpoint == {"PATCH /contacts/{id}": 4}

    requests = [e for e in events if e["event"] == "http.request"]
    assert len(requests) == 4
    assert [e["status"] for e in requests] == [500, None, 429, 200]
    assert [e["request_id"] for e in requests] == ["req_500", None, "req_429", "req_ok_7"]
    for event in requests:
        assert (event["method"], event["path"]) == ("PATCH", "/contacts/7")
        assert isinstance(event["duration_ms"], float)
        assert event["duration_ms"] >= 0
    assert [e["event"] for e in events].count("http.retry") == 3
    for event in events:
        assert TOKEN not in repr(event)
        assert "Bearer" not in repr(event)


def test_read_timeout_becomes_network_error_after_the_attempts(
    lev: Harness, events: list[dict[str, Any]]
) -> None:
    """A request that keeps timing out is NetworkError after `attempts` tries, waiting between them."""
    route = lev.router.get("/contacts").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(NetworkError, match="GET /contacts"):
        lev.client.fetch_page(None)
    assert route.call_count == 4
    assert len(lev.sleeps) == 3
    logged = [e for e in events if e["event"] == "http.request"]
    assert [(e["status"], e["error"]) for e in logged] == [(None, "ReadTimeout")] * 4


def test_422_is_request_rejected_without_retry(lev: Harness) -> None:
    """A 422 is RequestRejected with status and request_id, sent once."""
    route = lev.router.patch("/contacts/7").mock(return_value=failure(422))
    with pytest.raises(RequestRejected) as caught:
        lev.client.send_write(PATCH, KEY)
    assert (caught.value.status, caught.value.request_id) == (422, "req_422")
    assert route.call_count == 1
    assert lev.sleeps == []


def test_401_is_auth_error_without_retry(lev: Harness, events: list[dict[str, Any]]) -> None:
    """A 401 is AuthError at once, and neither the error nor the logs show the token."""
    route = lev.router.get("/contacts").mock(return_value=failure(401))
    with pytest.raises(AuthError) as caught:
        lev.client.fetch_page(None)
    assert route.call_count == 1
    assert lev.sleeps == []
    assert TOKEN not in str(caught.value)
    assert all(TOKEN not in repr(e) for e in events)


def test_malformed_success_is_retried_then_invalid_response(lev: Harness) -> None:
    """A 200 whose body is garbled is retried (under the same key) and then raised as InvalidResponse."""
    route = lev.router.post("/contacts").mock(return_value=httpx.Response(200, content=b"<html>oops</html>"))
    with pytest.raises(InvalidResponse, match="POST /contacts"):
        lev.client.send_write(POST, KEY)
    assert route.call_count == 4
    assert {call.request.headers["Idempotency-Key"] for call in route.calls} == {KEY}


def test_malformed_page_then_good_page_succeeds(lev: Harness) -> None:
    """One garbled page answer followed by a good one returns the good page."""
    lev.router.get("/contacts").mock(side_effect=[httpx.Response(200, json={"data": "x"}), page(1)])
    assert [c["id"] for c in lev.client.fetch_page(None).contacts] == [1]
    assert lev.client.stats.requests == 2


def test_undecodable_body_is_translated(lev: Harness) -> None:
    """A body that fails Content-Encoding decoding becomes a product error, not an httpx one."""
    lev.router.get("/contacts").mock(
        return_value=httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip")
        )
    )
    with pytest.raises((NetworkError, InvalidResponse)):
        lev.client.fetch_page(None)


def test_open_http_sets_bounded_timeouts_and_no_redirects() -> None:
    """The httpx client has explicit timeouts, follows no redirects and ignores proxy environment."""
    http = open_http(base_url=BASE + "/", token=TOKEN, origin_app="x", timeout=40.0)
    try:
        assert http.timeout.read == 40.0
        assert http.timeout.connect == 10.0
        assert http.follow_redirects is False
        assert str(http.base_url) == BASE + "/"
    finally:
        http.close()


def test_409_to_a_resend_is_retried_but_409_to_a_first_send_is_rejected(lev: Harness) -> None:
    """A resend answered 409 (the first attempt still in progress) is asked again; a first 409 is final."""
    route = lev.router.patch("/contacts/7").mock(
        side_effect=[httpx.ConnectError("dropped"), failure(409), ok_contact()]
    )
    assert lev.client.send_write(PATCH, KEY)["id"] == 7
    assert route.call_count == 3
    assert {call.request.headers["Idempotency-Key"] for call in route.calls} == {KEY}
    lev.router.patch("/contacts/8").mock(return_value=failure(409))
    with pytest.raises(RequestRejected):
        lev.client.send_write(PreparedWrite("PATCH", "/contacts/8", b'{"title":"x"}'), KEY)


# --- an API never reached ------------------------------------------------------------


@pytest.mark.parametrize(
    "failure_to_connect",
    [httpx.ConnectError("[Errno 111] Connection refused"), httpx.ConnectTimeout("timed out")],
    ids=["refused", "connect-timeout"],
)
def test_a_first_request_that_cannot_connect_is_tried_once_more_then_fatal(
    lev: Harness, failure_to_connect: Exception
) -> None:
    """Before any answer, a failed connect gets one retry after a second, then a FatalError with advice."""
    route = lev.router.get("/contacts").mock(side_effect=failure_to_connect)
    with pytest.raises(FatalError) as caught:
        lev.client.fetch_page(None)
    assert route.call_count == 2
    assert lev.sleeps == [1.0]
    message = str(caught.value)
    assert f"GET /contacts (first page): cannot connect to {BASE} ({failure_to_connect})" in message
    assert "check api_url" in message and "proxy" in message
    assert isinstance(caught.value, FatalError) and not isinstance(caught.value, NetworkError)


def test_once_the_api_has_answered_a_failed_connect_gets_the_normal_retries(lev: Harness) -> None:
    """After one answer, connect failures are retried `attempts` times like any network error."""
    lev.router.get("/contacts", params={"cursor": "c2"}).mock(side_effect=httpx.ConnectError("refused"))
    lev.router.get("/contacts").mock(return_value=page(1, cursor="c2"))
    lev.client.fetch_page(None)
    with pytest.raises(NetworkError, match="cannot connect"):
        lev.client.fetch_page("c2")
    assert lev.client.stats.requests == 1 + 4
    assert len(lev.sleeps) == 3


def test_an_identity_check_that_cannot_connect_fails_after_one_retry(lev: Harness) -> None:
    """`GET /me` (a run's first request) that cannot connect at all raises FatalError after one retry."""
    route = lev.router.get("/me").mock(side_effect=httpx.ConnectError("[Errno -2] Name or service not known"))
    with pytest.raises(FatalError, match=r"GET /me: cannot connect to .*Name or service not known"):
        lev.client.fetch_identity()
    assert route.call_count == 2


def test_the_url_in_a_connect_failure_has_no_password_or_query() -> None:
    """api_url's user, password and query stay out of the message that names it."""
    with respx.mock(assert_all_called=False) as router:
        router.get(url__startswith="https://api.lev.test/").mock(side_effect=httpx.ConnectError("refused"))
        client = LevClient(
            open_http(base_url="https://me:pa55word@api.lev.test/v2?key=k3y", token=TOKEN, origin_app="t"),
            sleep=lambda _seconds: None,
        )
        with pytest.raises(FatalError) as caught:
            client.fetch_page(None)
        client.close()
    assert "cannot connect to https://api.lev.test/v2 (refused)" in str(caught.value)
    assert "pa55word" not in str(caught.value) and "k3y" not in str(caught.value)


# --- redirects -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_named_with_its_target_and_not_followed(lev: Harness, status: int) -> None:
    """A 3xx is a FatalError naming the redirect, its target (no query) and the api_url to set; sent once."""
    route = lev.router.get("/contacts").mock(
        return_value=httpx.Response(
            status,
            headers={"Location": "/api/external/v3/contacts?limit=200&token=abc"},
            text="<h1>Moved</h1>",
        )
    )
    with pytest.raises(FatalError) as caught:
        lev.client.fetch_page(None)
    message = str(caught.value)
    assert (
        f"answered {status}, a redirect to https://api.lev.test/api/external/v3/contacts (its query left out)"
        in message
    )
    assert "does not follow redirects" in message
    assert "set api_url to its new address (https://api.lev.test/api/external/v3)" in message
    assert "token=abc" not in message and "not JSON" not in message
    assert route.call_count == 1


def test_a_redirect_without_location_still_says_redirect(lev: Harness) -> None:
    """A 302 with no Location header says it is a redirect and what to check."""
    lev.router.get("/contacts").mock(return_value=httpx.Response(302, text="moved"))
    with pytest.raises(FatalError, match=r"answered 302, a redirect without a Location header.*api_url"):
        lev.client.fetch_page(None)


# --- echoed secrets ------------------------------------------------------------------

SLASHED = "lev_sk_echo/with+slash_0123456789"


def echo_of(token: str) -> list[str]:
    """The forms a server or proxy may echo a credential in, as text inside a JSON body."""
    return [
        f"Authorization: Bearer {token}",
        token.replace("/", "\\/"),
        f"bearer {token[:14]}",  # cut short by the echo
        f"header was Bearer%20{token}",
    ]


@pytest.mark.parametrize("status", [400, 401, 422, 500])
def test_a_token_echoed_in_an_error_answer_reaches_no_message(status: int) -> None:
    """An error body echoing the token (plain, JSON-escaped, cut short, URL-encoded) leaves no trace of it."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        echoed = " | ".join(echo_of(SLASHED))
        body = ('{"request_id": "req_echo", "error": {"message": "' + echoed + '"}}').encode()
        router.patch("/contacts/7").mock(
            return_value=httpx.Response(status, content=body, headers={"Content-Type": "application/json"})
        )
        client = LevClient(
            open_http(base_url=BASE, token=SLASHED, origin_app="t"),
            retry=RetryPolicy(attempts=1),
            sleep=lambda _seconds: None,
        )
        with pytest.raises(SyncError) as caught:
            client.send_write(PATCH, KEY)
        client.close()
    message = str(caught.value)
    assert "Bearer ***" in message and "req_echo" in message
    for fragment in (SLASHED, SLASHED.replace("/", "\\/"), SLASHED[:14], "with+slash", "slash_0123"):
        assert fragment not in message, message


def test_any_given_secret_is_masked_in_answers_as_well() -> None:
    """A given secret (a session cookie, say) is masked in error and success bodies; "Bearer" data is kept."""
    cookie = "sess-9f8e7d6c5b4a"
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/contacts", params={"cursor": "x"}).mock(
            return_value=httpx.Response(
                200,
                json={
                    "request_id": "r",
                    "data": [contact(2, title=f"pasted {cookie}", department="Bearer bonds desk")],
                    "pagination": {"has_more": False},
                },
            )
        )
        router.get("/contacts").mock(
            side_effect=[
                failure(500, message=f"cookie session={cookie} rejected"),
                page(1),
            ]
        )
        client = LevClient(
            open_http(base_url=BASE, token=TOKEN, origin_app="t"),
            retry=RetryPolicy(attempts=1),
            sleep=lambda _seconds: None,
            secrets=[cookie],
        )
        with pytest.raises(SyncError) as caught:
            client.fetch_page(None)
        listed = client.fetch_page("x")
        client.close()
    assert "session=*** rejected" in str(caught.value)
    assert listed.contacts[0]["title"] == "pasted ***"
    # Only known secrets are masked in a successful answer: contact data may say "Bearer".
    assert listed.contacts[0]["department"] == "Bearer bonds desk"
