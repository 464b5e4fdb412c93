"""What the engine needs of a contacts API: the interface each client implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sync.plan import PreparedWrite, WireRules


@dataclass(frozen=True)
class Page:
    contacts: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool
    request_id: str | None
    total: int | None = None  # how many the whole list holds, when the API says


@dataclass
class RequestStats:
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)


class Remote(Protocol):
    @property
    def rules(self) -> WireRules: ...

    @property
    def stats(self) -> RequestStats: ...

    def fetch_page(self, cursor: str | None) -> Page:
        """One page of contacts from `cursor` (None: the first page)."""
        ...

    def send_write(self, request: PreparedWrite, idempotency_key: str) -> dict[str, Any]:
        """Send one write, retried with the same key and bytes; the contact it answers."""
        ...
