"""The request log: every API request a sandbox received and what it answered.

Tests replay it through the OpenAPI validator, so it keeps the request as
sent (method, path with query string, headers, raw body) and the answer
(status, headers, body) plus the fault applied, if any. The Authorization
header is redacted, keeping the scheme so the security check still sees a
bearer token.

``RequestLogging`` is the part of a sandbox state that keeps the log and the
counters, under the state's own lock.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REDACTED = "REDACTED"


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, _, _ = value.partition(" ")
            value = f"{scheme} {REDACTED}" if scheme.lower() == "bearer" else REDACTED
        out[name] = value
    return out


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    received_at: str
    method: str
    # Path as sent, query string included: "/api/external/v2/contacts?limit=200".
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    # Path template such as "PATCH /contacts/{id}", None for unknown routes.
    endpoint: str | None
    # None when the connection was dropped without an answer.
    status: int | None
    fault: str | None
    request_id: str | None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    # The server's number for the connection it came on (None outside a server): one
    # client's requests share connections no other client uses (see sandbox.runs).
    connection: int | None = None

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "received_at": self.received_at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "endpoint": self.endpoint,
            "status": self.status,
            "fault": self.fault,
            "request_id": self.request_id,
            "response_headers": self.response_headers,
            "response_body": self.response_body.decode("utf-8", errors="replace"),
            "connection": self.connection,
        }


class RequestLogging:
    """The request log and named counters of a sandbox state, mixed into the state class.

    The state owns ``_lock`` (an RLock, so its own methods may hold it while
    counting) and calls ``_start_request_log`` in its ``__init__``; its
    ``reset_log`` calls ``_forget_requests`` under the lock beside whatever
    else it resets (rate-limit windows, fault numbering).
    """

    _lock: threading.RLock
    _log: deque[LoggedRequest]
    _seq: int
    counters: Counter[str]

    def _start_request_log(self, *, limit: int | None = None) -> None:
        """An empty log (keeping the newest ``limit`` entries, or all) and no counts."""
        self._log = deque(maxlen=limit)
        self._seq = 0
        self.counters = Counter()

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def request_log(self) -> list[LoggedRequest]:
        with self._lock:
            return sorted(self._log, key=lambda entry: entry.seq)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def counter_values(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def _forget_requests(self) -> None:
        """Empty the log and the counters; the caller holds the lock. Sequence numbers go on."""
        self._log.clear()
        self.counters.clear()
