"""Request-log headers with the secrets masked: cookie values and Authorization.

The log keeps each request as sent (``sync.apis.sandbox_kit.requestlog.LoggedRequest``)
so tests can assert on headers and bodies (``canLogin`` sent or not), but a
session cookie is a credential: every cookie keeps its name and loses its value.
"""

from __future__ import annotations

from collections.abc import Mapping

from sync.apis.sandbox_kit.requestlog import REDACTED, redacted_headers


def masked_cookies(header: str) -> str:
    """``a=1; connect.sid=s%3A...`` becomes ``a=REDACTED; connect.sid=REDACTED``."""
    parts = []
    for part in header.split(";"):
        name, equals, _ = part.strip().partition("=")
        parts.append(f"{name}={REDACTED}" if equals else REDACTED)
    return "; ".join(parts)


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out = redacted_headers(headers)
    for name, value in out.items():
        if name.lower() in {"cookie", "set-cookie"}:
            out[name] = masked_cookies(value)
    return out
