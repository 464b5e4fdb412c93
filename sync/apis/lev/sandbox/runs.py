"""Runs as the sandbox saw them: which requests of one account belong together.

Each sync run builds its own HTTP client, so its requests come on connections no
other run uses; a run that writes one at a time (write_concurrency 1) sends on one
connection at a time. A connection's span is its first to its last request (by
the account's sequence numbers). Two spans that interleave are two clients
talking to one account at once: the fleet promises that never happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sync.apis.sandbox_kit.requestlog import LoggedRequest


@dataclass(frozen=True)
class ConnectionSpan:
    connection: int
    first_seq: int
    last_seq: int
    first_at: str
    last_at: str
    requests: int
    endpoints: tuple[str, ...]  # in order, e.g. ("GET /me", "GET /contacts", "POST /contacts")

    @property
    def starts_a_run(self) -> bool:
        """A run begins by asking the API whose account the token reaches."""
        return bool(self.endpoints) and self.endpoints[0] == "GET /me"

    def to_json(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "requests": self.requests,
            "starts_a_run": self.starts_a_run,
            "endpoints": list(self.endpoints),
        }


def connection_spans(log: Iterable[LoggedRequest]) -> list[ConnectionSpan]:
    """One span per connection that sent requests, in order of their first request."""
    grouped: dict[int, list[LoggedRequest]] = {}
    for entry in sorted(log, key=lambda e: e.seq):
        if entry.connection is not None:
            grouped.setdefault(entry.connection, []).append(entry)
    spans = [
        ConnectionSpan(
            connection=connection,
            first_seq=entries[0].seq,
            last_seq=entries[-1].seq,
            first_at=entries[0].received_at,
            last_at=entries[-1].received_at,
            requests=len(entries),
            endpoints=tuple(e.endpoint or f"{e.method} ?" for e in entries),
        )
        for connection, entries in grouped.items()
    ]
    return sorted(spans, key=lambda span: span.first_seq)


def overlapping_spans(spans: Iterable[ConnectionSpan]) -> list[tuple[ConnectionSpan, ConnectionSpan]]:
    """Every pair of spans where one began before the other had sent its last request."""
    ordered = sorted(spans, key=lambda span: span.first_seq)
    pairs = []
    for index, earlier in enumerate(ordered):
        for later in ordered[index + 1 :]:
            if later.first_seq > earlier.last_seq:
                break
            pairs.append((earlier, later))
    return pairs
