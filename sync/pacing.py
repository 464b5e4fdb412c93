"""Client-side pacing: stay inside the API's rate budget instead of collecting 429s.

A sliding-window log per scope: at most N requests in any W seconds. By
default a request counts against the account and against its endpoint (Lev's
tiers); an API whose limits are per group of endpoints names its scopes instead
(`RateBudget.scoped`: the companies API counts POST /contacts in one scope and
every other endpoint together in another, with no account-wide ceiling).
Any fixed window of W seconds lies inside some sliding one, so this never
exceeds the server's count whichever way it slices time. The server counts a
request when it arrives, somewhere between our sending it and our reading the
answer: a request in flight holds its slot for as long as it is in flight,
however long that is, and is counted from its answer
once done, so a slow or jittery network can only make us more careful.
The recent log is saved in the store at the end of a run, so a cron run right
after the daemon's does not spend the same window twice.

Without a known budget it only adapts: after a 429 the endpoint (and, on the
second 429 in a row, the whole account) waits the time the server asked for.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "*"
IN_FLIGHT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RateBudget:
    """How many requests fit in `window_seconds`, per scope.

    `account_limit` None: no account-wide ceiling. `scopes` maps endpoints to a named
    scope they count in instead of their own, with `other_scope` for every endpoint
    not listed (None: each unlisted endpoint is its own scope); `scope_limits` gives
    named scopes their limits, `endpoint_limit` the rest.
    """

    account_limit: int | None
    endpoint_limit: int
    window_seconds: float
    scopes: Mapping[str, str] = field(default_factory=dict)
    other_scope: str | None = None
    scope_limits: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def scoped(
        cls, limits: Mapping[str, int], *, scopes: Mapping[str, str], other_scope: str, window_seconds: float
    ) -> RateBudget:
        """Limits per named scope only: `scopes` maps endpoints to one, the rest count in `other_scope`."""
        unknown = ({*scopes.values(), other_scope}) - set(limits)
        if unknown:
            raise ValueError(f"scopes without a limit: {sorted(unknown)}")
        return cls(
            None,
            limits[other_scope],
            window_seconds,
            scopes=dict(scopes),
            other_scope=other_scope,
            scope_limits=dict(limits),
        )

    def scopes_of(self, endpoint: str) -> tuple[str, ...]:
        """The scopes a request to `endpoint` counts against."""
        own = self.scopes.get(endpoint, self.other_scope) or endpoint
        return (own,) if self.account_limit is None else (ACCOUNT, own)

    def limit_of(self, scope: str) -> int:
        # At least one per window: a limit read as 0 (0.5 a minute, say) must not stall forever.
        if scope == ACCOUNT:
            return max(1, self.account_limit or 1)
        return max(1, self.scope_limits.get(scope, self.endpoint_limit))


# The published limits per minute (rate-limits page): account-wide, per endpoint.
TIERS: Mapping[str, tuple[int, int]] = {
    "free": (30, 10),
    "standard": (100, 20),
    "enterprise": (500, 60),
}


def budget_for_tier(tier: str | None, window_seconds: float = 60.0) -> RateBudget | None:
    if tier is None or tier not in TIERS:
        return None
    account, endpoint = TIERS[tier]
    return RateBudget(account, endpoint, window_seconds)


def budget_from_me(data: Any, window_seconds: float = 60.0) -> RateBudget | None:
    """Read a budget from `GET /me`, whose shape is unpublished: numbers if it gives them
    (keys naming "endpoint" or "account"), else its tier name, else None."""
    platform = data.get("platform") if isinstance(data, dict) else None
    if not isinstance(platform, dict):
        return None
    limits = platform.get("rate_limits")
    if isinstance(limits, dict):
        numbers = {k.lower(): v for k, v in limits.items() if _positive(v)}
        endpoint = next((v for k, v in numbers.items() if "endpoint" in k), None)
        account = next(
            (v for k, v in numbers.items() if "account" in k or k in ("requests_per_minute", "per_minute")),
            None,
        )
        window = next((v for k, v in numbers.items() if "window" in k and "second" in k), window_seconds)
        if account and endpoint:
            return RateBudget(int(account), int(endpoint), float(window))
    tier = platform.get("api_tier")
    return budget_for_tier(tier.lower() if isinstance(tier, str) else None, window_seconds)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


class SlidingWindowPacer:
    """Blocks each request until every scope it counts against has room."""

    def __init__(
        self,
        budget: RateBudget | None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        margin_seconds: float = 0.1,
    ) -> None:
        self.budget = budget
        self._clock = clock
        self._sleep = sleep
        self._margin = margin_seconds
        self._log: dict[str, list[float]] = {}  # per scope, answers' times, sorted
        self._in_flight: dict[str, int] = {}
        self._blocked_until: dict[str, float] = {}
        self._recent_429s = 0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def wait(self, endpoint: str) -> None:
        """Block until the endpoint has room; the request then holds it until `answered`."""
        while True:
            with self._lock:
                delay = self._delay(endpoint)
                if delay <= 0:
                    for scope in self._scopes(endpoint):
                        self._in_flight[scope] = self._in_flight.get(scope, 0) + 1
                    return
            self.waited_seconds += delay
            self._sleep(delay)

    def answered(self, endpoint: str) -> None:
        """A request let through by `wait` is over (answer or error): count it from now."""
        with self._lock:
            now = self._clock()
            for scope in self._scopes(endpoint):
                self._in_flight[scope] = max(0, self._in_flight.get(scope, 0) - 1)
                bisect.insort(self._log.setdefault(scope, []), now)

    def _delay(self, endpoint: str) -> float:
        now = self._clock()
        scopes = self._scopes(endpoint)
        delay = max(self._blocked_until.get(scope, 0.0) - now for scope in {ACCOUNT, endpoint, *scopes})
        if self.budget is None:
            return delay
        span = self.budget.window_seconds + self._margin
        for scope in scopes:
            log = self._log.setdefault(scope, [])
            del log[: bisect.bisect_right(log, now - span)]
            in_flight = self._in_flight.get(scope, 0)
            over = len(log) + in_flight - self.budget.limit_of(scope)
            if over < 0:
                continue
            if over < len(log):  # room once enough answered requests age out
                delay = max(delay, log[over] + span - now)
            else:  # only an answer frees a slot: look again shortly
                delay = max(delay, IN_FLIGHT_POLL_SECONDS)
        return delay

    def slow_down(self, endpoint: str, retry_after: float | None) -> None:
        """A 429 arrived: hold the endpoint for as long as the server asked (1 s if it did not)."""
        with self._lock:
            self._recent_429s += 1
            until = self._clock() + (retry_after if retry_after is not None else 1.0)
            # The endpoint, and the scope it shares with others (their limit is one count).
            for scope in {endpoint, *self._scopes(endpoint)} - {ACCOUNT}:
                self._blocked_until[scope] = max(self._blocked_until.get(scope, 0.0), until)
            if self._recent_429s >= 2:  # the account-wide ceiling, not just this endpoint's
                self._blocked_until[ACCOUNT] = max(self._blocked_until.get(ACCOUNT, 0.0), until)

    def succeeded(self) -> None:
        with self._lock:
            self._recent_429s = 0

    def _scopes(self, endpoint: str) -> tuple[str, ...]:
        # Without a budget: counted per account and endpoint, for a budget learned later.
        return (ACCOUNT, endpoint) if self.budget is None else self.budget.scopes_of(endpoint)

    def snapshot(self) -> dict[str, Any]:
        """The recent requests, for the next run (another process) to respect."""
        with self._lock:
            now = self._clock()
            keep = (self.budget.window_seconds if self.budget else 60.0) + self._margin
            return {
                "log": {s: [t for t in log if t > now - keep] for s, log in self._log.items()},
                "blocked_until": {s: t for s, t in self._blocked_until.items() if t > now},
            }

    def restore(self, saved: Mapping[str, Any]) -> None:
        with self._lock:
            for scope, times in (saved.get("log") or {}).items():
                self._log[scope] = sorted([*self._log.get(scope, ()), *(float(t) for t in times)])
            for scope, until in (saved.get("blocked_until") or {}).items():
                self._blocked_until[scope] = max(self._blocked_until.get(scope, 0.0), float(until))
