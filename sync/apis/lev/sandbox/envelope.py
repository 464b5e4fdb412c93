"""The Lev response envelope: what every sandbox answer looks like on the wire.

Success: ``{request_id, timestamp, data, pagination?}``.
Error:   ``{request_id, error: {status, type, message, details, ...optional}}``.
Both carry a fresh uuid4 ``request_id``; the body is JSON with
``Content-Type: application/json``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sync.apis.lev.fields import ERROR_TYPES

JSON_TYPE: Final[str] = "application/json"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, JSON body (or raw bytes for faults) and extra headers."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Set only when the answer is deliberately not the JSON body (html502, malformed...).
    raw: bytes | None = None
    content_type: str = JSON_TYPE

    @property
    def request_id(self) -> str | None:
        return None if self.body is None else self.body.get("request_id")

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        # ensure_ascii=False: names like "Zoë" travel as UTF-8, as a real server sends them.
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()


class Rejected(Exception):
    """A request the sandbox refuses; turned into the error envelope by the caller."""

    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}


def new_request_id() -> str:
    return str(uuid.uuid4())


def utc_stamp(moment: datetime | None = None, *, micro: bool = False) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix; ``micro`` keeps microseconds."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    spec = "microseconds" if micro else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def success(
    data: Any,
    *,
    status: int = 200,
    pagination: dict[str, Any] | None = None,
) -> Reply:
    body: dict[str, Any] = {
        "request_id": new_request_id(),
        "timestamp": utc_stamp(),
        "data": data,
    }
    if pagination is not None:
        body["pagination"] = pagination
    return Reply(status=status, body=body)


def failure(
    status: int,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    error_type: str | None = None,
) -> Reply:
    """The error envelope; ``extra`` adds the optional members (retry_after_seconds...)."""
    error: dict[str, Any] = {
        "status": status,
        "type": error_type or ERROR_TYPES.get(status, "error"),
        "message": message,
        "details": details or {},
    }
    if extra:
        error.update(extra)
    return Reply(
        status=status,
        body={"request_id": new_request_id(), "error": error},
        headers=dict(headers or {}),
    )


def from_rejection(rejection: Rejected) -> Reply:
    return failure(rejection.status, rejection.message, details=rejection.details)
