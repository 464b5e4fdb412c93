"""The company-contacts client over a real httpx.Client, with respx standing in for the server."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from sync.apis.companies.client import CompaniesClient, open_http
from sync.errors import AuthError, ContactGone, RequestRejected
from sync.plan import PreparedWrite, canonical_json
from sync.retrying import RetryPolicy

BASE = "https://companies.test"
TOKEN = "cmp_sk_unit_TOKEN_0123456789"
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
KEY = "unused"


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def contact(n: int, company: str = A, **values: Any) -> dict[str, Any]:
    return {
        "id": uid(n),
        "company_id": company,
        "first_name": f"N{n}",
        "last_name": None,
        "email": f"n{n}@example.org",
        "phone": None,
        "designation": None,
        "is_primary": False,
        "created_at": f"2024-01-01T00:00:{n % 60:02d}Z",
        "updated_at": "2024-01-01T00:00:00Z",
        **values,
    }


def rows(company: str, start: int, count: int) -> list[dict[str, Any]]:
    return [contact(n, company) for n in range(start, start + count)]


class Harness:
    def __init__(self, router: respx.MockRouter, companies: list[str]) -> None:
        self.router = router
        self.sleeps: list[float] = []
        self.client = CompaniesClient(
            open_http(base_url=BASE, token=TOKEN, timeout=5.0),
            company_ids=companies,
            retry=RetryPolicy(attempts=4),
            sleep=self.sleeps.append,
            rng=random.Random(0),
        )


@pytest.fixture
def api() -> Iterator[Harness]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        harness = Harness(router, [A, B])
        yield harness
        harness.client.close()


def lists(router: respx.MockRouter) -> list[dict[str, str]]:
    return [
        dict(call.request.url.params)
        for call in router.calls
        if call.request.method == "GET" and call.request.url.path == "/contacts"
    ]


def serve_lists(api: Harness, data: dict[str, list[dict[str, Any]]], cap: int | None = None) -> None:
    """A list endpoint over `data`; `cap` silently cuts pages (no 422)."""

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = int(params.get("limit", 100))
        if cap is not None:
            limit = min(limit, cap)
        skip = int(params.get("skip", 0))
        return httpx.Response(200, json=data[params["company_id"]][skip : skip + limit])

    api.router.get("/contacts").mock(side_effect=answer)


def walk(api: Harness) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = api.client.fetch_page(cursor)
        ids += [c["id"] for c in page.contacts]
        assert page.total is None and page.has_more == (page.next_cursor is not None)
        cursor = page.next_cursor
        if cursor is None:
            return ids


def test_a_short_page_ends_a_company_and_the_walk_goes_on_to_the_next(api: Harness) -> None:
    """A server that takes limit=1000: one page a company, companies in id order."""
    serve_lists(api, {A: rows(A, 0, 30), B: rows(B, 100, 7)})
    assert walk(api) == [uid(n) for n in [*range(30), *range(100, 107)]]
    assert lists(api.router) == [
        {"company_id": A, "skip": "0", "limit": "1000"},
        {"company_id": B, "skip": "0", "limit": "1000"},
    ]


def test_a_silent_cap_at_the_documented_default_is_probed_then_learned(api: Harness) -> None:
    """A page of exactly 100 when 1000 were asked may be a silent cap: the next page is asked,
    and since it has rows the client asks 100 from then on (no probe for the next company)."""
    serve_lists(api, {A: rows(A, 0, 150), B: rows(B, 1000, 150)}, cap=100)
    assert len(walk(api)) == 300
    asked = [(p["company_id"], p["skip"], p["limit"]) for p in lists(api.router)]
    assert asked == [(A, "0", "1000"), (A, "100", "1000"), (B, "0", "100"), (B, "100", "100")]


def test_a_422_on_limit_lowers_the_page_to_what_the_server_says(api: Harness) -> None:
    """422 with ctx.le = 250: the client asks 250 at once (not counted as a retry) and remembers."""
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        params = request.url.params
        if int(params["limit"]) > 250:
            item = {
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "msg": "Input should be <= 250",
                "input": params["limit"],
                "ctx": {"le": 250},
            }
            return httpx.Response(422, json={"detail": [item]})
        skip = int(params["skip"])
        data = rows(params["company_id"], 0 if params["company_id"] == A else 500, 300)
        return httpx.Response(200, json=data[skip : skip + int(params["limit"])])

    api.router.get("/contacts").mock(side_effect=answer)
    assert len(walk(api)) == 600
    limits = [p["limit"] for p in lists(api.router)]
    assert limits == ["1000", "250", "250", "250", "250"]
    assert api.client.stats.retries == 0 and api.sleeps == []


def test_a_422_on_limit_without_a_ceiling_falls_back_to_the_documented_100(api: Harness) -> None:
    item = {"type": "x", "loc": ["query", "limit"], "msg": "too large"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["limit"] != "100":
            return httpx.Response(422, json={"detail": [item]})
        return httpx.Response(200, json=[])

    api.router.get("/contacts").mock(side_effect=answer)
    assert walk(api) == []
    assert [p["limit"] for p in lists(api.router)] == ["1000", "100", "100"]


def test_a_cursor_of_a_company_no_longer_synced_is_refused_so_the_walk_restarts(api: Harness) -> None:
    other = "cccccccc-0000-4000-8000-000000000003"
    with pytest.raises(RequestRejected, match="not synced any more"):
        api.client.fetch_page(f"{other}:200")
    with pytest.raises(RequestRejected):
        api.client.fetch_page("garbage")
    assert api.router.calls.call_count == 0


def test_a_list_must_be_a_bare_array_of_the_companys_contacts(api: Harness) -> None:
    """An object instead of an array, or a contact of another company, is InvalidResponse (retried,
    then fatal), naming what is wrong."""
    from sync.errors import InvalidResponse

    api.router.get("/contacts").mock(return_value=httpx.Response(200, json={"items": []}))
    with pytest.raises(InvalidResponse, match="not a JSON array"):
        api.client.fetch_page(None)
    api.router.get("/contacts").mock(return_value=httpx.Response(200, json=[contact(1, B)]))
    with pytest.raises(InvalidResponse, match=f"belongs to company {B}"):
        api.client.fetch_page(None)
    api.router.get("/contacts").mock(return_value=httpx.Response(200, json=[contact(1, is_primary="yes")]))
    with pytest.raises(InvalidResponse, match="is_primary"):
        api.client.fetch_page(None)


def test_fetch_one_answers_none_for_404_and_for_a_contact_of_another_company(api: Harness) -> None:
    api.router.get(f"/contacts/{uid(1)}").mock(return_value=httpx.Response(200, json=contact(1)))
    api.router.get(f"/contacts/{uid(2)}").mock(
        return_value=httpx.Response(404, json={"detail": "Contact not found"})
    )
    other = "cccccccc-0000-4000-8000-000000000003"
    api.router.get(f"/contacts/{uid(3)}").mock(return_value=httpx.Response(200, json=contact(3, other)))
    assert api.client.fetch_one(uid(1)) == contact(1)
    assert api.client.fetch_one(uid(2)) is None
    assert api.client.fetch_one(uid(3)) is None


def test_a_patch_of_a_deleted_contact_is_contact_gone_and_a_delete_of_one_is_done(api: Harness) -> None:
    gone = httpx.Response(404, json={"detail": "Contact not found"})
    api.router.patch(f"/contacts/{uid(4)}").mock(return_value=gone)
    api.router.delete(f"/contacts/{uid(4)}").mock(return_value=gone)
    with pytest.raises(ContactGone, match="Contact not found"):
        api.client.send_write(PreparedWrite("PATCH", f"/contacts/{uid(4)}", b'{"phone":"1"}'), KEY)
    assert api.client.send_write(PreparedWrite("DELETE", f"/contacts/{uid(4)}", b""), KEY) is None


def test_a_429_waits_as_long_as_retry_after_says(api: Harness) -> None:
    route = api.router.get(f"/contacts/{uid(5)}")
    route.side_effect = [
        httpx.Response(429, json={"detail": "Rate limit exceeded"}, headers={"Retry-After": "7"}),
        httpx.Response(200, json=contact(5)),
    ]
    assert api.client.fetch_one(uid(5)) == contact(5)
    assert len(api.sleeps) == 1 and 7.0 <= api.sleeps[0] < 8.0
    assert api.client.stats.rate_limited == 1


def test_a_429_without_retry_after_backs_off(api: Harness) -> None:
    route = api.router.get(f"/contacts/{uid(5)}")
    route.side_effect = [
        httpx.Response(429, json={"detail": "Rate limit exceeded"}),
        httpx.Response(200, json=contact(5)),
    ]
    assert api.client.fetch_one(uid(5)) == contact(5)
    assert len(api.sleeps) == 1 and 0 < api.sleeps[0] <= 0.5


POST_BODY = {"company_id": A, "email": "ada@example.org", "first_name": "Ada", "is_primary": True}
POST = PreparedWrite("POST", "/contacts", canonical_json(POST_BODY))


def test_a_create_timed_out_after_sending_is_adopted_from_the_list_not_sent_twice(api: Harness) -> None:
    """The POST times out; the lookup lists company A, finds the contact (email case aside) and
    adopts the newest of two identical ones; there is no second POST."""
    made = contact(
        9, email="ada@EXAMPLE.org", first_name="Ada", is_primary=True, created_at="2024-05-01T00:00:00Z"
    )
    twin = dict(made, id=uid(8), created_at="2023-01-01T00:00:00Z")
    serve_lists(api, {A: [*rows(A, 0, 3), made, twin]})
    post = api.router.post("/contacts").mock(side_effect=httpx.ReadTimeout("slow"))
    assert api.client.send_write(POST, KEY) == made
    assert post.call_count == 1
    assert lists(api.router)[0]["company_id"] == A


def test_a_create_answered_5xx_is_sent_again_when_the_lookup_finds_nothing(api: Harness) -> None:
    serve_lists(api, {A: rows(A, 0, 3)})
    created = contact(9, email="ada@example.org", first_name="Ada", is_primary=True)
    post = api.router.post("/contacts")
    post.side_effect = [
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(201, json=created),
    ]
    assert api.client.send_write(POST, KEY) == created
    assert post.call_count == 2
    assert all(call.request.content == POST.body for call in post.calls)


def test_a_create_refused_before_connecting_is_resent_without_a_lookup(api: Harness) -> None:
    """A connect error means nothing was sent: no lookup is needed (nor made)."""
    created = contact(9)
    post = api.router.post("/contacts")
    api.router.get(f"/contacts/{uid(1)}").mock(return_value=httpx.Response(200, json=contact(1)))
    api.client.fetch_one(uid(1))  # the API has answered once: connects now get normal retries
    post.side_effect = [httpx.ConnectError("refused"), httpx.Response(201, json=created)]
    assert api.client.send_write(POST, KEY) == created
    assert lists(api.router) == []


def test_a_create_rejected_with_422_quotes_each_field_and_its_message(api: Harness) -> None:
    items = [
        {"type": "missing", "loc": ["body", "email"], "msg": "Field required", "input": None},
        {
            "type": "string_type",
            "loc": ["body", "phone"],
            "msg": "Input should be a valid string",
            "input": 5,
        },
    ]
    api.router.post("/contacts").mock(return_value=httpx.Response(422, json={"detail": items}))
    with pytest.raises(RequestRejected) as caught:
        api.client.send_write(POST, KEY)
    assert str(caught.value) == (
        "POST /contacts answered 422: email: Field required; phone: Input should be a valid string"
    )
    assert caught.value.status == 422


@pytest.mark.parametrize(("status", "advice"), [(401, "CONTACTS_SYNC_API_TOKEN"), (403, "does not own")])
def test_auth_failures_say_what_to_do_and_never_show_the_token(
    api: Harness, status: int, advice: str
) -> None:
    echoed = {"detail": f"bad credentials: Bearer {TOKEN}"}
    api.router.get("/contacts").mock(return_value=httpx.Response(status, json=echoed))
    with pytest.raises(AuthError) as caught:
        api.client.fetch_identity()
    message = str(caught.value)
    assert advice in message and A in message
    assert TOKEN not in message and "***" in message


def test_the_token_is_masked_in_any_answer_that_echoes_it(api: Harness) -> None:
    echoed = contact(1, designation=f"token {TOKEN}")
    api.router.get(f"/contacts/{uid(1)}").mock(return_value=httpx.Response(200, json=echoed))
    found = api.client.fetch_one(uid(1))
    assert found is not None and found["designation"] == "token ***"
    assert api.router.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"
