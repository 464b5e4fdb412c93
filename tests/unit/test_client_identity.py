"""`LevClient.fetch_identity` over a real httpx.Client, with respx standing in for the server."""

from __future__ import annotations

import httpx
import pytest
import respx

from sync.apis.lev.client import LevClient, open_http
from sync.errors import AuthError, InvalidResponse
from sync.retrying import RetryPolicy

BASE = "https://API.lev.test:443/api/external/v2/"
ME = {"request_id": "req_me", "data": {"account": {"id": 42, "name": "Acme", "slug": "acme"}}}


def client(sleeps: list[float]) -> LevClient:
    http = open_http(base_url=BASE, token="lev_sk_unit_identity", origin_app="unit-tests", timeout=5.0)
    return LevClient(http, retry=RetryPolicy(attempts=3), sleep=sleeps.append)


@respx.mock
def test_fetch_identity_retries_a_passing_failure_and_names_the_account() -> None:
    """A 503 on GET /me is retried; the answer gives the account at the normalised base URL."""
    route = respx.get("https://api.lev.test/api/external/v2/me").mock(
        side_effect=[httpx.Response(503, json={"error": {"status": 503}}), httpx.Response(200, json=ME)]
    )
    sleeps: list[float] = []
    found = client(sleeps).fetch_identity()
    assert route.call_count == 2 and len(sleeps) == 1
    assert (found.api, found.base_url, found.account_id, found.account_name) == (
        "lev",
        "https://api.lev.test/api/external/v2",
        "42",
        "Acme (acme)",
    )


@respx.mock
def test_fetch_identity_refuses_a_token_and_an_answer_without_an_account() -> None:
    """401 is an AuthError at once; an answer without data.account.id is invalid after its retries."""
    respx.get("https://api.lev.test/api/external/v2/me").mock(
        return_value=httpx.Response(
            401, json={"request_id": "r401", "error": {"status": 401, "message": "bad"}}
        )
    )
    with pytest.raises(AuthError, match="GET /me answered 401"):
        client([]).fetch_identity()
    respx.get("https://api.lev.test/api/external/v2/me").mock(
        return_value=httpx.Response(200, json={"request_id": "r200", "data": {"user": {}}})
    )
    with pytest.raises(InvalidResponse, match=r"data\.account\.id"):
        client([]).fetch_identity()
