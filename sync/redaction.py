"""Secrets masked out of what a server sends back, before anything else reads it.

A server or a proxy may echo the request's `Authorization` header (or a session
cookie) in an error body; from there it would reach error messages, the runs
and writes tables, the WAL file, `status` and the logs. The client passes each
answer's bytes and every header it quotes through a `Redactor` once, at the
point where remote text enters the product, so no sink needs to care.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
# What follows "Bearer " in an echoed header, even a token we do not know or one cut short.
# Only in error answers and quoted headers: a contact may well have "Bearer" in its title.
_BEARER = re.compile(rb"(?i)(bearer(?:\s|%20|\+)+)[A-Za-z0-9\-._~+/\\=%]+")


def spellings(secret: str) -> set[str]:
    """The ways a secret can appear in an answer: as is, JSON-escaped (`\\/` too), URL-encoded."""
    json_escaped = json.dumps(secret)[1:-1]
    ascii_escaped = json.dumps(secret, ensure_ascii=True)[1:-1]
    forms = {secret, json_escaped, ascii_escaped, quote(secret, safe=""), quote_plus(secret)}
    forms |= {form.replace("/", "\\/") for form in (json_escaped, ascii_escaped)}
    return {form for form in forms if form}


class Redactor:
    """Masks a given set of secrets (API token, session cookie...) in received bytes and text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= spellings(secret)
        # Longest first, so that a spelling containing another is masked whole.
        self._forms = sorted((form.encode() for form in forms), key=len, reverse=True)

    def answer(self, raw: bytes, *, error: bool = False) -> bytes:
        """An answer's body with every known secret masked; in an error answer also any bearer token."""
        for form in self._forms:
            if form in raw:
                raw = raw.replace(form, MASK.encode())
        if error:
            raw = _BEARER.sub(rb"\1" + MASK.encode(), raw)
        return raw

    def text(self, value: str) -> str:
        """A header or message we quote, masked like an error answer."""
        return self.answer(value.encode("utf-8", "surrogateescape"), error=True).decode(
            "utf-8", "surrogateescape"
        )
