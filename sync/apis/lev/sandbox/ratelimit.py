"""Lev's rate limits: an account-wide ceiling plus a per-endpoint ceiling per window.

| tier       | account-wide | per endpoint |
|------------|--------------|--------------|
| free       | 30           | 10           |
| standard   | 100          | 20           |
| enterprise | 500          | 60           |
| unlimited  | -            | -            |

The real window is a minute; here its length is configurable so tests can
use a second or two. The limiter is a sliding log: a request is admitted when
fewer than the limit were admitted in the last ``window_seconds``, both for the
account and for its endpoint (method + path template, e.g.
``PATCH /contacts/{id}``). Refused requests are not counted. The wait it
reports is the time until the oldest admitted request leaves the window, so a
client that sleeps exactly that long is admitted.

Not thread-safe on its own: ``SandboxState`` calls it under its lock.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class TierLimits:
    account_per_window: int | None
    endpoint_per_window: int | None


TIERS: Final[dict[str, TierLimits]] = {
    "free": TierLimits(30, 10),
    "standard": TierLimits(100, 20),
    "enterprise": TierLimits(500, 60),
    "unlimited": TierLimits(None, None),
}


def tier_limits(tier: str) -> TierLimits:
    try:
        return TIERS[tier]
    except KeyError:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}") from None


class RateLimiter:
    """Sliding-log limiter for one account; ``admit`` returns the wait, or None if admitted."""

    def __init__(
        self,
        limits: TierLimits,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float],
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.limits = limits
        self.window_seconds = window_seconds
        self._clock = clock
        self._account: deque[float] = deque()
        self._endpoints: defaultdict[str, deque[float]] = defaultdict(deque)

    def admit(self, endpoint: str) -> float | None:
        """Count the request if both ceilings allow it; else the seconds until they do."""
        now = self._clock()
        horizon = now - self.window_seconds
        account = self._account
        per_endpoint = self._endpoints[endpoint]
        for log in (account, per_endpoint):
            while log and log[0] <= horizon:
                log.popleft()
        waits = [
            self._wait(log, limit, now)
            for log, limit in (
                (account, self.limits.account_per_window),
                (per_endpoint, self.limits.endpoint_per_window),
            )
            if limit is not None and len(log) >= limit
        ]
        if waits:
            return max(waits)
        account.append(now)
        per_endpoint.append(now)
        return None

    def _wait(self, log: deque[float], limit: int, now: float) -> float:
        # The request that must leave the window before one more fits.
        oldest_blocking = log[len(log) - limit]
        wait = oldest_blocking + self.window_seconds - now
        # Round up to the millisecond so sleeping that long is always enough.
        return max(math.ceil(wait * 1000) / 1000, 0.001)

    def reset(self) -> None:
        self._account.clear()
        self._endpoints.clear()
