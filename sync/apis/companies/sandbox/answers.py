"""What the sandbox sends back: an ``Answer`` (status, bytes, headers) and FastAPI's error shape.

The companies API is a FastAPI app, so errors are ``{"detail": "..."}``, or
``{"detail": [...]}`` (a list of validation errors) for a 422. A ``Refused``
exception carries such an answer out of any depth of the request handling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

JSON_TYPE: Final[str] = "application/json"


@dataclass(frozen=True)
class Answer:
    """One HTTP answer; ``content_type`` None means no body headers at all (204)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = JSON_TYPE

    def wire_headers(self) -> dict[str, str]:
        base = {} if self.content_type is None else {"Content-Type": self.content_type}
        return base | dict(self.headers)


def encoded(data: Any) -> bytes:
    # ensure_ascii=False: names like "Zoë" travel as UTF-8, as a real server sends them.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def json_answer(status: int, data: Any) -> Answer:
    return Answer(status, encoded(data))


def detail(
    status: int, message: str | list[dict[str, Any]], headers: Mapping[str, str] | None = None
) -> Answer:
    return Answer(status, encoded({"detail": message}), dict(headers or {}))


NO_CONTENT: Final[Answer] = Answer(204, content_type=None)


class Refused(Exception):
    """A request the sandbox refuses; ``answer`` is what goes back on the wire."""

    def __init__(
        self, status: int, message: str | list[dict[str, Any]], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message if isinstance(message, str) else f"{len(message)} validation error(s)")
        self.status = status
        self.detail = message
        self.answer = detail(status, message, headers)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The 422 items (empty for any other refusal), to merge with a request's other problems."""
        return self.detail if isinstance(self.detail, list) else []
