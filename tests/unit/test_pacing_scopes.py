"""The pacer with named scopes: limits per group of endpoints, on a fake clock."""

from __future__ import annotations

import pytest

from sync.pacing import ACCOUNT, RateBudget, SlidingWindowPacer

POST = "POST /contacts"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def companies_budget(window: float = 60.0) -> RateBudget:
    return RateBudget.scoped(
        {POST: 3, "general": 5}, scopes={POST: POST}, other_scope="general", window_seconds=window
    )


def paced(clock: FakeClock) -> SlidingWindowPacer:
    return SlidingWindowPacer(companies_budget(), clock=clock, sleep=clock.sleep, margin_seconds=0.0)


def send(pacer: SlidingWindowPacer, endpoint: str) -> float:
    """One request answered at once; the time it was let through."""
    pacer.wait(endpoint)
    pacer.answered(endpoint)
    return pacer._clock()


def test_every_other_endpoint_shares_one_scope() -> None:
    """GET /contacts, GET /contacts/{id}, PATCH and DELETE count together against one limit."""
    clock = FakeClock()
    pacer = paced(clock)
    endpoints = ["GET /contacts", "GET /contacts/{id}", "PATCH /contacts/{id}", "DELETE /contacts/{id}"]
    times = [send(pacer, endpoints[i % 4]) for i in range(6)]
    assert times[:5] == [1000.0] * 5
    assert times[5] == 1060.0  # the sixth waits for the first to leave the window


def test_posts_have_their_own_scope_and_do_not_use_the_general_one() -> None:
    """Three POSTs fill their own limit; the general scope still has all its room."""
    clock = FakeClock()
    pacer = paced(clock)
    assert [send(pacer, POST) for _ in range(3)] == [1000.0] * 3
    assert [send(pacer, "GET /contacts") for _ in range(5)] == [1000.0] * 5
    assert send(pacer, POST) == 1060.0


def test_a_429_holds_every_endpoint_of_its_scope() -> None:
    """A 429 to a GET holds the PATCHes too (one count at the server), not the POSTs."""
    clock = FakeClock()
    pacer = paced(clock)
    pacer.slow_down("GET /contacts", 7.0)
    assert send(pacer, POST) == 1000.0
    assert send(pacer, "PATCH /contacts/{id}") == 1007.0


def test_a_scoped_budget_has_no_account_ceiling() -> None:
    budget = companies_budget()
    assert budget.scopes_of("GET /contacts/{id}") == ("general",)
    assert budget.scopes_of(POST) == (POST,)
    assert budget.limit_of(POST) == 3 and budget.limit_of("general") == 5
    lev_like = RateBudget(100, 20, 60.0)
    assert lev_like.scopes_of("GET /contacts") == (ACCOUNT, "GET /contacts")


def test_a_scope_without_a_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="general"):
        RateBudget.scoped({POST: 60}, scopes={POST: POST}, other_scope="general", window_seconds=60)
