"""Text a store cannot hold, found before it is stored or sent.

JSON allows a lone surrogate ("\\ud800"), which no UTF-8 text can hold, and
NUL, which PostgreSQL text cannot hold; SQLite text may hold bytes that are not
UTF-8, which reach us as lone surrogates (read with "surrogateescape").  Pure:
values in, the reason (or None) out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text_problem(value: Any, *, nul_allowed: bool = True) -> str | None:
    """Why `value` (text, or text inside lists and objects) cannot be stored as text, or None."""
    if isinstance(value, str):
        if not nul_allowed and "\x00" in value:
            return "holds a NUL character, which PostgreSQL text cannot hold"
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return "holds text that is not valid UTF-8 (a lone surrogate, or bytes that were not UTF-8)"
        return None
    if isinstance(value, list):
        items: Any = value
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return None
    for item in items:
        problem = text_problem(item, nul_allowed=nul_allowed)
        if problem:
            return problem
    return None


def unstorable_field(record: Mapping[str, Any], *, nul_allowed: bool = True) -> tuple[str, str] | None:
    """The first field of `record` holding text a store cannot hold, with why; None when all fit."""
    for name, value in record.items():
        problem = text_problem(value, nul_allowed=nul_allowed)
        if problem:
            return name, problem
    return None
