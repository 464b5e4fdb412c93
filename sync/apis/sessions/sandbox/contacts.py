"""Contact records: the rules of a POST /contacts body, and a record's wire form.

A record is the public Contact object (seed 003) in a fixed key order. The
sandbox keeps each record only as its rendered JSON bytes, so a list of
200,000 contacts is served by joining bytes, never by encoding dicts.

Choices where the seed is silent: ``type`` is one of ``CONTACT_TYPES``;
fields the seed does not list are ignored (as a schema validator that strips
them would); ``fullName`` and ``email`` must not be blank; an email needs one
``@`` with a dot in the domain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from sync.apis.sessions.sandbox.wire import Rejected, encode_json

CONTACT_TYPES: Final[tuple[str, ...]] = ("client", "external", "partner", "vendor")
# Wire order of a Contact, as the seed lists its fields.
CONTACT_KEYS: Final[tuple[str, ...]] = (
    "id", "fullName", "mentionName", "email", "phone", "company", "title", "department",
    "type", "isActive", "metadata", "createdAt", "updatedAt",
)  # fmt: skip
REQUIRED_TEXT: Final[tuple[str, ...]] = ("fullName", "email", "type")
NULLABLE_TEXT: Final[tuple[str, ...]] = ("mentionName", "phone", "company", "title", "department")
# What an edit may change (the admin surface); id and the stamps are the server's.
EDITABLE: Final[frozenset[str]] = frozenset(REQUIRED_TEXT + NULLABLE_TEXT + ("isActive", "metadata"))
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_key(email: str) -> str:
    """The uniqueness key of an email: addresses differing only in case are the same."""
    return email.strip().casefold()


def render(record: Mapping[str, Any]) -> bytes:
    return encode_json({key: record[key] for key in CONTACT_KEYS})


def parse(rendered: bytes) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(rendered)
    return record


def validated_create(body: Any) -> tuple[dict[str, Any], bool]:
    """The contact fields of a POST body and its ``canLogin``; raises ``Rejected`` (400).

    Every problem is reported at once, in ``errors``, the first as the message.
    """
    fields = body if isinstance(body, dict) else {}
    problems: list[dict[str, str]] = []
    for name in REQUIRED_TEXT:
        if fields.get(name) is None:
            problems.append({"field": name, "message": f"{name} is required"})
    checked = check_fields({k: v for k, v in fields.items() if k in EDITABLE}, problems)
    can_login = fields.get("canLogin", False)
    if not isinstance(can_login, bool):
        problems.append({"field": "canLogin", "message": "canLogin must be a boolean"})
    if problems:
        raise Rejected(400, problems[0]["message"], errors=problems)
    record: dict[str, Any] = dict.fromkeys(NULLABLE_TEXT) | {"isActive": True, "metadata": None}
    return record | checked, bool(can_login)


def validated_edit(changes: Any) -> dict[str, Any]:
    """The fields of an admin edit, checked; unknown fields are refused here (400)."""
    if not isinstance(changes, dict):
        raise Rejected(400, "Request body must be a JSON object")
    problems = [
        {"field": name, "message": f"{name} cannot be edited"} for name in sorted(set(changes) - EDITABLE)
    ]
    checked = check_fields(changes, problems)
    for name in REQUIRED_TEXT:
        if name in changes and changes[name] is None:
            problems.append({"field": name, "message": f"{name} is required"})
    if problems:
        raise Rejected(400, problems[0]["message"], errors=problems)
    return checked


def check_fields(fields: Mapping[str, Any], problems: list[dict[str, str]]) -> dict[str, Any]:
    """Type-check the given editable fields, appending to ``problems``; the cleaned values."""
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        message = _problem(name, value)
        if message is not None:
            problems.append({"field": name, "message": message})
        elif name in EDITABLE:
            cleaned[name] = value.strip() if name == "email" and isinstance(value, str) else value
    return cleaned


def _problem(name: str, value: Any) -> str | None:
    if value is None:
        # Required fields are checked by the caller; the others are nullable, but not isActive.
        return "isActive must be a boolean" if name == "isActive" else None
    if name in REQUIRED_TEXT or name in NULLABLE_TEXT:
        if not isinstance(value, str):
            return f"{name} must be a string"
        if name in REQUIRED_TEXT and not value.strip():
            return f"{name} must not be empty"
        if not value.isascii() and not _encodable(value):
            return f"{name} must be valid Unicode text (no lone surrogates)"
    if name == "email" and not _EMAIL.match(value.strip()):
        return "email must be a valid email address"
    if name == "type" and value not in CONTACT_TYPES:
        return f"type must be one of: {', '.join(CONTACT_TYPES)}"
    if name == "isActive" and not isinstance(value, bool):
        return "isActive must be a boolean"
    if name == "metadata" and not isinstance(value, dict):
        return "metadata must be an object or null"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def new_record(contact_id: int, fields: Mapping[str, Any], *, stamp: str) -> dict[str, Any]:
    record = dict(fields) | {"id": contact_id, "createdAt": stamp, "updatedAt": stamp}
    return {key: record[key] for key in CONTACT_KEYS}
