"""One retry loop for every request, with backoff maths kept pure.

Hand-written on purpose (about forty lines): the wait must honour the server's
hint from the JSON body (`retry_after_seconds`) as well as `Retry-After`, be
capped, jittered, charged to a per-run budget and interruptible by a shutdown;
tenacity and stamina each cover only part of that.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sync.errors import RateLimited, RetryableError

T = TypeVar("T")

RATE_LIMITED_ATTEMPTS_FACTOR = 3


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries per request, the first included
    base_delay: float = 0.5  # seconds before the first retry, doubled each time
    max_delay: float = 30.0  # cap of the exponential part
    max_hint: float = 120.0  # longest server-asked wait we honour in one go
    budget_seconds: float = 600.0  # most a run may spend waiting, over all requests


def backoff_delay(attempt: int, policy: RetryPolicy, *, hint: float | None, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Exponential with "equal jitter" (half fixed, half random) so that several
    clients do not retry in step; never shorter than the server asked, plus a
    little jitter on top of that too.
    """
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    delay: float = ceiling / 2 + rng.random() * ceiling / 2
    if hint is not None:
        asked = min(hint, policy.max_hint)
        delay = max(delay, asked + rng.random() * min(policy.base_delay, asked / 10 + 0.05))
    return delay


@dataclass
class RetryBudget:
    """Waiting time a run has left; once spent, the run stops instead of hammering."""

    seconds: float
    spent: float = 0.0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def charge(self, delay: float) -> bool:
        with self._lock:  # shared by the threads that push writes
            if self.spent + delay > self.seconds:
                return False
            self.spent += delay
            self.retries += 1
            return True


def call_with_retries(
    operation: Callable[[], T],
    *,
    policy: RetryPolicy,
    budget: RetryBudget,
    sleep: Callable[[float], None],
    on_retry: Callable[[Exception, int, float], None],
    rng: random.Random,
    also_retry: tuple[type[Exception], ...] = (),
) -> T:
    """Run `operation`; on a retryable error wait and try again, within the limits."""
    retryable: tuple[type[Exception], ...] = (RetryableError, *also_retry)
    attempt = failures = rate_limited = 1
    while True:
        try:
            return operation()
        except retryable as error:
            # A 429 says when to come back, so a storm of them is bounded by the waiting
            # budget and a larger count; other failures by the attempts.
            if isinstance(error, RateLimited):
                if rate_limited >= policy.attempts * RATE_LIMITED_ATTEMPTS_FACTOR:
                    raise
                rate_limited += 1
            else:
                if failures >= policy.attempts:
                    raise
                failures += 1
            hint = error.retry_after if isinstance(error, RetryableError) else None
            delay = backoff_delay(attempt, policy, hint=hint, rng=rng)
            if not budget.charge(delay):
                raise
            on_retry(error, attempt, delay)
            sleep(delay)
            attempt += 1
