"""The published rate limits, per client: POST /contacts 60 a minute, everything else 120.

A client is its Bearer token when it sends one, else its address (POST, GET
and PATCH are public). Each (client, bucket) pair has its own sliding window,
Lev's ``RateLimiter`` with only an overall ceiling; refused requests use no
budget, and the reported wait is exactly long enough. The window is a minute
unless shortened for tests; a limit of None switches that bucket off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sync.apis.lev.sandbox.ratelimit import RateLimiter, TierLimits

POST_BUCKET: Final[str] = "POST /contacts"
GENERAL_BUCKET: Final[str] = "general"
POST_PER_MINUTE: Final[int] = 60
GENERAL_PER_MINUTE: Final[int] = 120


def bucket_of(method: str, template: str) -> str:
    return POST_BUCKET if (method, template) == ("POST", "/contacts") else GENERAL_BUCKET


class ClientLimits:
    """Sliding windows per client and bucket; not thread-safe (the state's lock guards it)."""

    def __init__(
        self,
        *,
        post_limit: int | None = POST_PER_MINUTE,
        general_limit: int | None = GENERAL_PER_MINUTE,
        window_seconds: float = 60.0,
        clock: Callable[[], float],
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        for name, limit in (("post_limit", post_limit), ("general_limit", general_limit)):
            if limit is not None and limit < 1:
                raise ValueError(f"{name} must be at least 1, or None for no limit")
        self.limits = {POST_BUCKET: post_limit, GENERAL_BUCKET: general_limit}
        self.window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[tuple[str, str], RateLimiter] = {}

    def admit(self, client: str, bucket: str) -> float | None:
        """Count the request if the client's bucket has room; else the seconds until it has."""
        limit = self.limits[bucket]
        if limit is None:
            return None
        window = self._windows.get((client, bucket))
        if window is None:
            window = RateLimiter(
                TierLimits(limit, None), window_seconds=self.window_seconds, clock=self._clock
            )
            self._windows[(client, bucket)] = window
        return window.admit(bucket)

    def reset(self) -> None:
        self._windows.clear()
