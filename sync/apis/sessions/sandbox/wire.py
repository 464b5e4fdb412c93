"""What the sessions sandbox puts on the wire: answers, error bodies, timestamps.

The seed documents no error shape, so the error body form is a switch:
``json`` sends ``{"message": ...}`` as Express's ``res.status(n).json(...)``
would, ``text`` sends the bare message as ``res.sendStatus(n)`` would. A few
answers have one fixed form whatever the switch, because Express itself sends
them: its 404 page for unknown routes and its default error handler's 500 page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any, Final, Literal

JSON_TYPE: Final[str] = "application/json; charset=utf-8"
TEXT_TYPE: Final[str] = "text/plain; charset=utf-8"
HTML_TYPE: Final[str] = "text/html; charset=utf-8"
ERROR_BODIES: Final[tuple[str, ...]] = ("json", "text")
ErrorBody = Literal["json", "text"]
# Bytes per socket write when streaming a list: big enough to keep syscalls few.
STREAM_WRITE_BYTES: Final[int] = 64 * 1024


def js_stamp(moment: datetime | None = None) -> str:
    """An instant as JavaScript's ``Date.toISOString()`` writes it: UTC, milliseconds, ``Z``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# ensure_ascii=False: "Zoë" travels as UTF-8, as JSON.stringify in Node sends it. One encoder
# for all: json.dumps builds a new one per call when given options, a third of a seed's time.
_ENCODER: Final[json.JSONEncoder] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


@dataclass(frozen=True)
class ListBody:
    """A JSON array streamed from pre-rendered items, never joined whole in memory.

    ``limit`` cuts the body after that many bytes (the ``malformed`` fault);
    ``chunked`` sends it with chunked transfer encoding instead of a
    Content-Length.
    """

    items: Sequence[bytes]
    chunked: bool = False
    limit: int | None = None

    @property
    def full_length(self) -> int:
        return 2 + sum(map(len, self.items)) + max(len(self.items) - 1, 0)

    @property
    def length(self) -> int:
        full = self.full_length
        return full if self.limit is None else min(self.limit, full)

    def pieces(self) -> Iterator[bytes]:
        """The body in pieces of about ``STREAM_WRITE_BYTES``, cut at ``limit``."""
        remaining = self.length
        for piece in self._whole_pieces():
            if remaining <= 0:
                return
            if len(piece) > remaining:
                piece = piece[:remaining]
            remaining -= len(piece)
            yield piece

    def _whole_pieces(self) -> Iterator[bytes]:
        batch: list[bytes] = [b"["]
        size = 1
        for index, item in enumerate(self.items):
            if index:
                batch.append(b",")
            batch.append(item)
            size += len(item) + 1
            if size >= STREAM_WRITE_BYTES:
                yield b"".join(batch)
                batch, size = [], 0
        batch.append(b"]")
        yield b"".join(batch)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, body bytes (or a streamed list) and headers."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    stream: ListBody | None = None

    def wire_headers(self) -> dict[str, str]:
        out = {"X-Powered-By": "Express"}
        if self.content_type is not None:
            out["Content-Type"] = self.content_type
        return out | self.headers


class Rejected(Exception):
    """A request the API refuses; the caller renders it in the configured error form."""

    def __init__(self, status: int, message: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


def json_reply(value: Any, *, status: int = 200) -> Reply:
    return Reply(status=status, body=encode_json(value))


def error_reply(
    form: str,
    status: int,
    message: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error in the configured form: ``{"message": ...}`` JSON, or the bare text."""
    if form == "text":
        return Reply(status, message.encode(), TEXT_TYPE, dict(headers or {}))
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    return Reply(status, encode_json(body), JSON_TYPE, dict(headers or {}))


def rejection_reply(form: str, rejection: Rejected) -> Reply:
    return error_reply(form, rejection.status, rejection.message, errors=rejection.errors)


def express_page(text: str) -> bytes:
    """The HTML page Express's final handler sends for a 404 or an unhandled error."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Error</title>\n</head>\n<body>\n<pre>{escape(text)}</pre>\n</body>\n</html>\n"
    ).encode()


def not_found_page(method: str, path: str) -> Reply:
    return Reply(404, express_page(f"Cannot {method} {path}"), HTML_TYPE)


def internal_error_page() -> Reply:
    return Reply(500, express_page("Internal Server Error"), HTML_TYPE)
