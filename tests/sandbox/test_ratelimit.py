"""Rate limits per endpoint and per account, over a short window."""

from __future__ import annotations

import time

import pytest

from sync.apis.lev.sandbox import running_sandbox
from sync.apis.lev.sandbox.ratelimit import TIERS, RateLimiter, tier_limits
from tests.sandbox.helpers import api_client, error_of


def test_per_endpoint_limit_with_retry_after_seconds() -> None:
    """The 11th GET /contacts in a free-tier window is 429 with retry_after_seconds; waiting frees it."""
    with (
        running_sandbox(contacts=5, tier="free", window_seconds=1.0) as server,
        api_client(server) as http,
    ):
        statuses = [http.get("/contacts").status_code for _ in range(10)]
        assert statuses == [200] * 10
        limited = http.get("/contacts")
        assert limited.status_code == 429
        error = error_of(limited)
        assert error["type"] == "rate_limit_exceeded"
        assert error["message"] == "Rate limit exceeded"
        wait = error["retry_after_seconds"]
        assert 0 < wait <= 1.0
        assert "retry-after" not in limited.headers
        # Another endpoint still has room: the ceiling is per endpoint.
        assert http.get("/contacts/101").status_code == 200
        time.sleep(wait)
        assert http.get("/contacts").status_code == 200


def test_account_wide_limit_spans_endpoints() -> None:
    """Free tier: 30 requests spread over endpoints fill the account; the 31st anywhere is 429."""
    with (
        running_sandbox(contacts=5, tier="free", window_seconds=2.0) as server,
        api_client(server) as http,
    ):
        for path in ("/contacts", "/contacts/101", "/me"):
            assert all(http.get(path).status_code == 200 for _ in range(10))
        limited = http.post("/contacts", json={"contact_type": "sponsor", "company_id": 1})
        assert limited.status_code == 429
        assert 0 < error_of(limited)["retry_after_seconds"] <= 2.0
        # The refused write was not applied.
        assert len(server.state.all_contacts()) == 5


def test_refused_requests_do_not_count_and_header_is_optional() -> None:
    """429s do not use budget; with retry_after_header the answer also has Retry-After."""
    with (
        running_sandbox(contacts=2, tier="free", window_seconds=1.0, retry_after_header=True) as server,
        api_client(server) as http,
    ):
        for _ in range(10):
            http.get("/me")
        refused = [http.get("/me") for _ in range(5)]
        assert {r.status_code for r in refused} == {429}
        assert refused[0].headers["retry-after"] == "1"
        time.sleep(error_of(refused[-1])["retry_after_seconds"])
        assert http.get("/me").status_code == 200


def test_tiers_match_the_published_table() -> None:
    """free 30/10, standard 100/20, enterprise 500/60, unlimited none; unknown tier rejected."""
    assert {name: (t.account_per_window, t.endpoint_per_window) for name, t in TIERS.items()} == {
        "free": (30, 10),
        "standard": (100, 20),
        "enterprise": (500, 60),
        "unlimited": (None, None),
    }
    with pytest.raises(ValueError, match="unknown tier"):
        tier_limits("platinum")


def test_sliding_window_wait_is_exact() -> None:
    """The reported wait is when the oldest counted request leaves the window."""
    now = [100.0]
    limiter = RateLimiter(tier_limits("free"), window_seconds=10.0, clock=lambda: now[0])
    for step in range(10):
        now[0] = 100.0 + step * 0.5
        assert limiter.admit("GET /contacts") is None
    now[0] = 105.0
    assert limiter.admit("GET /contacts") == pytest.approx(5.0)
    now[0] = 110.0
    assert limiter.admit("GET /contacts") is None
