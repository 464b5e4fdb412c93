"""Backoff maths and the one retry loop, without real sleeping."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from sync.errors import InvalidResponse, NetworkError, RateLimited, RequestRejected, ServerUnavailable
from sync.retrying import RetryBudget, RetryPolicy, backoff_delay, call_with_retries

POLICY = RetryPolicy(attempts=6, base_delay=0.5, max_delay=30.0, max_hint=120.0, budget_seconds=600.0)


class FixedRandom(random.Random):
    """A Random whose random() always returns the same number."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class Flaky:
    """An operation that raises the given errors in turn, then returns 'done'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def run(
    operation: Callable[[], str],
    *,
    policy: RetryPolicy = POLICY,
    budget: RetryBudget | None = None,
    also_retry: tuple[type[Exception], ...] = (),
) -> tuple[list[float], list[tuple[Exception, int, float]], Callable[[], str]]:
    sleeps: list[float] = []
    retries: list[tuple[Exception, int, float]] = []

    def go() -> str:
        return call_with_retries(
            operation,
            policy=policy,
            budget=budget or RetryBudget(policy.budget_seconds),
            sleep=sleeps.append,
            on_retry=lambda error, attempt, delay: retries.append((error, attempt, delay)),
            rng=random.Random(1),
            also_retry=also_retry,
        )

    return sleeps, retries, go


# --- backoff_delay -------------------------------------------------------------------


def test_backoff_grows_exponentially_then_is_capped() -> None:
    """With the jitter at its floor the delay is half of base*2^(n-1), capped by max_delay."""
    low = FixedRandom(0.0)
    delays = [backoff_delay(n, POLICY, hint=None, rng=low) for n in range(1, 10)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    high = FixedRandom(1.0)
    assert backoff_delay(3, POLICY, hint=None, rng=high) == 2.0
    assert backoff_delay(40, POLICY, hint=None, rng=high) == 30.0


@pytest.mark.parametrize("attempt", [1, 2, 5, 8, 20])
def test_backoff_jitter_stays_within_half_to_full_ceiling(attempt: int) -> None:
    """Jittered delays fall in [ceiling/2, ceiling] and are not all the same."""
    rng = random.Random(attempt)
    ceiling = min(POLICY.max_delay, POLICY.base_delay * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, POLICY, hint=None, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize("hint", [0.0, 0.3, 7.0, 45.5, 119.0])
def test_backoff_is_never_shorter_than_the_server_hint(hint: float) -> None:
    """A server hint is a floor for the delay, with only a little jitter on top."""
    rng = random.Random(3)
    for attempt in (1, 2, 3):
        delay = backoff_delay(attempt, POLICY, hint=hint, rng=rng)
        ceiling = min(POLICY.max_delay, POLICY.base_delay * 2 ** (attempt - 1))
        assert delay >= hint
        assert delay <= max(ceiling, hint + POLICY.base_delay)


def test_backoff_caps_the_server_hint_at_max_hint() -> None:
    """A hint longer than max_hint waits about max_hint, not the hint."""
    rng = random.Random(4)
    for _ in range(50):
        delay = backoff_delay(1, POLICY, hint=10_000.0, rng=rng)
        assert POLICY.max_hint <= delay <= POLICY.max_hint + POLICY.base_delay


# --- call_with_retries ---------------------------------------------------------------


def test_retryable_errors_are_retried_until_success() -> None:
    """Retryable errors are retried with a wait each time, and the result is returned."""
    operation = Flaky(ServerUnavailable("503"), NetworkError("reset"), RateLimited("429"))
    sleeps, retries, go = run(operation)
    assert go() == "done"
    assert operation.calls == 4
    assert len(sleeps) == 3
    assert [attempt for _, attempt, _ in retries] == [1, 2, 3]
    assert [delay for _, _, delay in retries] == sleeps


def test_retries_stop_after_the_attempts() -> None:
    """An error that keeps coming is raised after `attempts` tries, with attempts-1 waits."""
    operation = Flaky(*(ServerUnavailable(f"503 #{n}") for n in range(10)))
    sleeps, _, go = run(operation, policy=RetryPolicy(attempts=4))
    with pytest.raises(ServerUnavailable, match="503 #3"):
        go()
    assert operation.calls == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    "error",
    [RequestRejected("422", status=422, request_id="r"), InvalidResponse("bad"), ValueError("bug")],
)
def test_non_retryable_errors_are_raised_at_once(error: Exception) -> None:
    """An error that is not retryable is raised on the first try without waiting."""
    operation = Flaky(error)
    sleeps, _, go = run(operation)
    with pytest.raises(type(error)):
        go()
    assert operation.calls == 1
    assert sleeps == []


def test_also_retry_adds_error_types() -> None:
    """Errors named in also_retry are retried like retryable ones."""
    operation = Flaky(InvalidResponse("garbled"))
    sleeps, _, go = run(operation, also_retry=(InvalidResponse,))
    assert go() == "done"
    assert len(sleeps) == 1


def test_retries_stop_when_the_budget_is_spent() -> None:
    """Once the next wait would overrun the run's budget, the error is raised instead of waiting."""
    budget = RetryBudget(12.0)
    operation = Flaky(*(RateLimited("429", retry_after=5.0) for _ in range(10)))
    sleeps, _, go = run(operation, policy=RetryPolicy(attempts=10), budget=budget)
    with pytest.raises(RateLimited):
        go()
    assert operation.calls == 3
    assert len(sleeps) == 2
    assert budget.retries == 2
    assert budget.spent == pytest.approx(sum(sleeps))
    assert budget.spent <= 12.0


def test_an_empty_budget_allows_no_retry() -> None:
    """A zero budget raises the first retryable error without waiting."""
    operation = Flaky(ServerUnavailable("503"))
    sleeps, _, go = run(operation, budget=RetryBudget(0.0))
    with pytest.raises(ServerUnavailable):
        go()
    assert sleeps == []


def test_rate_limit_hint_is_passed_to_the_wait() -> None:
    """RateLimited.retry_after sets the floor of the wait that follows it."""
    operation = Flaky(RateLimited("429", retry_after=42.0), ServerUnavailable("503", retry_after=3.0))
    sleeps, _, go = run(operation)
    assert go() == "done"
    assert 42.0 <= sleeps[0] <= 42.0 + POLICY.base_delay
    assert sleeps[1] >= 3.0


def test_a_429_storm_is_bounded_by_its_own_larger_count_not_the_attempts() -> None:
    """Rate limits say when to come back: more of them than attempts are waited out."""
    storm = [RateLimited("429", retry_after=0.01) for _ in range(POLICY.attempts + 2)]
    sleeps, _, go = run(Flaky(*storm))
    assert go() == "done"
    assert len(sleeps) == POLICY.attempts + 2
    endless = [RateLimited("429", retry_after=0.01) for _ in range(POLICY.attempts * 3 + 5)]
    _, _, go = run(Flaky(*endless))
    with pytest.raises(RateLimited):
        go()
