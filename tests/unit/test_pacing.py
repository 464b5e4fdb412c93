"""The client-side pacer, on a fake clock."""

from __future__ import annotations

import random
import threading
import time

import pytest

from sync.errors import Interrupted
from sync.pacing import (
    ACCOUNT,
    RateBudget,
    SlidingWindowPacer,
    budget_for_tier,
    budget_from_me,
)
from sync.runner import pause_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def send(pacer: SlidingWindowPacer, endpoint: str) -> None:
    """One request answered at once, as the client uses the pacer."""
    pacer.wait(endpoint)
    pacer.answered(endpoint)


def paced(budget: RateBudget | None, clock: FakeClock) -> SlidingWindowPacer:
    return SlidingWindowPacer(budget, clock=clock, sleep=clock.sleep, margin_seconds=0.0)


def test_no_window_ever_holds_more_than_the_endpoint_limit() -> None:
    """However requests are spread, any span of one window holds at most the endpoint's limit."""
    clock = FakeClock()
    pacer = paced(RateBudget(account_limit=100, endpoint_limit=5, window_seconds=10), clock)
    sent = []
    for _ in range(23):
        send(pacer, "PATCH /contacts/{id}")
        sent.append(clock.now)
        clock.now += 0.3
    for start in sent:
        assert len([t for t in sent if start <= t < start + 10]) <= 5
    # ...and it does not wait longer than needed: 23 requests at 5 per 10 s take 4 full windows.
    assert sent[-1] - sent[0] < 4 * 10 + 1


def test_however_late_the_server_counts_a_request_its_window_holds_no_more_than_the_limit() -> None:
    """The server counts a request on arrival, anywhere between our send and its answer.

    With jittery latency (up to 3 s on a 10 s window) every window of the server's
    arrival times still holds at most the limit: each request is counted from its
    answer once it has one.
    """
    rng = random.Random(7)
    clock = FakeClock()
    pacer = paced(RateBudget(account_limit=100, endpoint_limit=5, window_seconds=10), clock)
    arrivals = []
    for _ in range(60):
        pacer.wait("PATCH /contacts/{id}")
        clock.now += rng.uniform(0, 3)  # on the way there
        arrivals.append(clock.now)
        clock.now += rng.uniform(0, 0.5)  # the answer on its way back
        pacer.answered("PATCH /contacts/{id}")
    for start in arrivals:
        assert len([t for t in arrivals if start <= t < start + 10]) <= 5


def test_a_request_in_flight_longer_than_the_window_still_holds_its_slot() -> None:
    """Two requests sent at 1000 and answered at 1011 (past the 10 s window) keep a limit of 2
    full until 1021: the server may have counted them as late as 1011."""
    clock = FakeClock()
    answers_due = [2]

    def sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now >= 1011 and answers_due:
            for _ in range(answers_due.pop()):
                pacer.answered("GET /contacts")

    pacer = SlidingWindowPacer(
        RateBudget(account_limit=100, endpoint_limit=2, window_seconds=10),
        clock=clock,
        sleep=sleep,
        margin_seconds=0.0,
    )
    pacer.wait("GET /contacts")
    pacer.wait("GET /contacts")
    pacer.wait("GET /contacts")
    assert clock.now >= 1021


def test_the_account_limit_binds_across_endpoints() -> None:
    """Requests to different endpoints share the account-wide limit."""
    clock = FakeClock()
    pacer = paced(RateBudget(account_limit=4, endpoint_limit=4, window_seconds=60), clock)
    for endpoint in ("GET /contacts", "POST /contacts", "PATCH /contacts/{id}", "GET /contacts"):
        send(pacer, endpoint)
    send(pacer, "POST /contacts")
    assert clock.now >= 1060


def test_without_a_budget_it_never_waits_until_told_to() -> None:
    """No known budget: no pacing, but a 429 holds the endpoint for the time asked."""
    clock = FakeClock()
    pacer = paced(None, clock)
    for _ in range(50):
        send(pacer, "GET /contacts")
    assert clock.now == 1000
    pacer.slow_down("GET /contacts", 7.5)
    send(pacer, "PATCH /contacts/{id}")
    assert clock.now == 1000  # another endpoint is not held after one 429
    send(pacer, "GET /contacts")
    assert clock.now >= 1007.5


def test_two_429s_in_a_row_hold_the_whole_account() -> None:
    """A second 429 before any success means the account-wide ceiling: every endpoint waits."""
    clock = FakeClock()
    pacer = paced(None, clock)
    pacer.slow_down("GET /contacts", 2)
    pacer.slow_down("POST /contacts", 3)
    send(pacer, "PATCH /contacts/{id}")
    assert clock.now >= 1003


def test_history_carries_over_to_the_next_run() -> None:
    """A run started right after another respects the requests the first one made."""
    clock = FakeClock()
    budget = RateBudget(account_limit=100, endpoint_limit=3, window_seconds=60)
    first = paced(budget, clock)
    for _ in range(3):
        send(first, "GET /contacts")
    second = paced(budget, clock)
    second.restore(first.snapshot())
    send(second, "GET /contacts")
    assert clock.now >= 1060
    assert set(first.snapshot()["log"]) == {ACCOUNT, "GET /contacts"}


def test_budgets_from_the_tier_table_and_from_me() -> None:
    """Known tiers map to the published limits; /me numbers win over its tier name."""
    assert budget_for_tier("standard") == RateBudget(100, 20, 60.0)
    assert budget_for_tier("unlimited") is None
    assert budget_from_me({"platform": {"api_tier": "free"}}) == RateBudget(30, 10, 60.0)
    assert budget_from_me(
        {"platform": {"api_tier": "free", "rate_limits": {"account_per_window": 7, "endpoint_per_window": 3}}}
    ) == RateBudget(7, 3, 60.0)
    assert budget_from_me({"platform": {"api_tier": "mystery"}}) is None
    assert budget_from_me(["not", "a", "dict"]) is None


def test_me_numbers_are_found_under_other_key_names() -> None:
    """An unpublished /me shape is read by what its keys name, not by one exact spelling."""
    me = {"platform": {"rate_limits": {"requests_per_minute": 100, "per_endpoint_per_minute": 20}}}
    assert budget_from_me(me) == RateBudget(100, 20, 60.0)
    assert budget_from_me({"platform": {"api_tier": "Enterprise"}}) == RateBudget(500, 60, 60.0)


def test_a_shutdown_ends_a_paced_wait_instead_of_spinning_through_it() -> None:
    """With the limit reached and a stop set, the pacer raises Interrupted at once."""
    stop = threading.Event()
    pacer = SlidingWindowPacer(RateBudget(100, 1, 60.0), sleep=pause_until(stop))
    send(pacer, "GET /contacts")
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Interrupted):
        pacer.wait("GET /contacts")
    assert time.monotonic() - started < 30  # not the 60 s window
    assert pacer.waited_seconds >= 60  # one wait was begun, not thousands of short ones
    assert pacer.waited_seconds < 61


def test_a_limit_read_as_zero_still_lets_one_request_a_window_through() -> None:
    """/me saying 0.5 a minute (read as 0) must not stall the run."""
    clock = FakeClock()
    pacer = paced(budget_from_me({"platform": {"rate_limits": {"account": 0.5, "endpoint": 0.5}}}), clock)
    send(pacer, "GET /contacts")
    send(pacer, "GET /contacts")
    assert 1060 <= clock.now < 1061
