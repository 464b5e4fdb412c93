"""The session-contacts API on the wire: requests as values, answers checked and translated.

Pure: no sockets here. `client.py` sends what this module builds and hands back
what it received; this module decides what that answer means. The API has
list and create only, so the wire rules refuse every update and delete with a
reason a person can act on, and a create carries `canLogin` only when the
row asks for it in so many words.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from sync.apis.kinds import Kind
from sync.apis.sessions.fields import (
    CAN_LOGIN,
    CONTACT_FIELDS,
    CONTACTS_PATH,
    COOKIE_NAME,
    COOKIE_VARIABLE,
    FLAG_COLUMN,
    LOCAL_NAMES,
    QUOTED_ERROR_CHARS,
    REQUIRED_IN_ANSWER,
    REQUIRED_ON_CREATE,
    WIRE_NAMES,
    WRITABLE,
)
from sync.errors import (
    AuthError,
    FatalError,
    InvalidResponse,
    RateLimited,
    RequestRejected,
    ServerUnavailable,
    SyncError,
)
from sync.plan import ContactId, PreparedWrite, Refusal, canonical_json
from sync.values import text_problem

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BLANKS = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]*>")
_PRE = re.compile(r"(?is)<pre>(.*?)</pre>")
# What an error answer says when the email is taken: the API documents no shape, so the
# words decide ("Email already exists", "email is taken", "duplicate key ... email").
_DUPLICATE = re.compile(r"(?is)e-?mail.*(exist|taken|in use|duplicate|unique)|(duplicate|unique).*e-?mail")

SESSION_EXPIRED = (
    f"the session expired: sign in again and set {COOKIE_VARIABLE} to the new {COOKIE_NAME} value"
)
ROLE_NEEDED = "the session's user may not create contacts: their role must be consultant or admin"


class SessionsWireRules:
    """How local rows become POST /contacts bodies, and which changes this API cannot take."""

    @property
    def writable(self) -> Collection[str]:
        return WRITABLE

    def prepare_create(self, fields: Mapping[str, Any]) -> PreparedWrite | Refusal:
        problems: list[str] = []
        body: dict[str, Any] = {}
        for name in REQUIRED_ON_CREATE:
            value = fields.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(f"{name} is required to create a contact")
        for name in sorted(WRITABLE):
            value = fields.get(name)
            if value is None:
                continue  # the API's default: null, or isActive true
            problem = _value_problem(name, value)
            if problem:
                problems.append(problem)
            else:
                body[WIRE_NAMES[name]] = value
        can_login = fields.get(CAN_LOGIN)
        if can_login is True:
            body[WIRE_NAMES[CAN_LOGIN]] = True
        elif can_login not in (None, False):
            problems.append(f"{CAN_LOGIN} must be true, false or empty, not {can_login!r:.80}")
        if problems:
            return Refusal("; ".join(problems), {k: fields.get(k) for k in sorted(fields)})
        return PreparedWrite("POST", CONTACTS_PATH, canonical_json(body))

    def prepare_update(
        self, remote_id: ContactId, changes: Mapping[str, Any]
    ) -> tuple[PreparedWrite | None, Refusal | None]:
        names = ", ".join(sorted(changes))
        reason = f"this API cannot update contacts: the edit of {names} stays in the row and is not sent"
        return None, Refusal(reason, dict(changes))

    def prepare_delete(self, remote_id: ContactId) -> Refusal:
        return Refusal(
            f"this API cannot delete contacts: contact {remote_id} stays at the API; delete it in the "
            "app itself (the next pull brings the row back while the contact is listed)",
            {"id": remote_id},
        )


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _value_problem(name: str, value: Any) -> str | None:
    """Why a local value cannot go into a create, or None."""
    kind = CONTACT_FIELDS[name]
    if kind is Kind.TEXT:
        if not isinstance(value, str):
            return f"{name} must be text, not {type(value).__name__} {value!r:.80}"
        if name == "email" and not _EMAIL.match(value):
            return f"email {value!r:.80} is not an email address"
    elif kind is Kind.BOOLEAN:
        if not isinstance(value, bool):
            return f"{name} must be true or false, not {value!r:.80}"
    elif kind is Kind.JSON and not isinstance(value, dict):
        return f"{name} must be a JSON object (or empty), not {type(value).__name__} {value!r:.80}"
    unstorable = text_problem(value)
    return f"{name} {unstorable}: {value!r:.80}" if unstorable else None


# --- answers -------------------------------------------------------------------------


def contact_from_wire(item: Any, *, what: str, number: int | None = None) -> dict[str, Any]:
    """A Contact object checked against the seed's types, as local snake_case names.

    Fields this version does not know keep their wire names (the store keeps them
    in `extra`); the flag column is set, since the API showed the contact.
    `number` (1-based place in the list) names an element that has no id.
    """
    where = f"element {number} of the list" if number is not None else "the contact"
    if not isinstance(item, dict):
        raise InvalidResponse(f"{what}: {where} is not a JSON object")
    contact_id = item.get("id")
    if not _is_integer(contact_id) or not 0 < contact_id < 2**63:
        raise InvalidResponse(f"{what}: {where} has no integer id (id={contact_id!r:.40})")
    contact: dict[str, Any] = {}
    for wire_name, value in item.items():
        name = LOCAL_NAMES.get(wire_name)
        if name is None or name not in CONTACT_FIELDS:
            contact[wire_name] = value  # unknown to this version: kept, never dropped
            continue
        if value is None and name not in REQUIRED_IN_ANSWER:
            contact[name] = None
            continue
        if not _has_kind(value, CONTACT_FIELDS[name]):
            expected = CONTACT_FIELDS[name].value + ("" if name in REQUIRED_IN_ANSWER else " or null")
            expected = _KIND_WORDS.get(expected, expected)
            shown = f"{wire_name}={value!r:.80}"
            raise InvalidResponse(f"{what}: contact {contact_id} has {shown}, not {expected}")
        contact[name] = value
    missing = sorted(WIRE_NAMES[name] for name in REQUIRED_IN_ANSWER if name not in contact)
    if missing:
        raise InvalidResponse(f"{what}: contact {contact_id} lacks {', '.join(missing)}")
    contact[FLAG_COLUMN] = True
    return contact


_KIND_WORDS = {"json": "an object", "json or null": "an object or null"}


def _has_kind(value: Any, kind: Kind) -> bool:
    if kind is Kind.TEXT:
        return isinstance(value, str)
    if kind is Kind.INTEGER:
        return _is_integer(value)
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, dict)  # metadata: the only JSON field, an object


def parse_contact(raw: bytes, *, what: str) -> dict[str, Any]:
    """A create's answer: one Contact object."""
    if not raw.strip():
        raise InvalidResponse(f"{what}: the API answered 200 with an empty body")
    try:
        item = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidResponse(f"{what}: the answer is not JSON ({type(exc).__name__})") from None
    return contact_from_wire(item, what=what)


def sent_email(request: PreparedWrite) -> str:
    """The email a create's body carries (the API's natural key: emails are unique)."""
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email:
        raise FatalError(f"{request.method} {request.path}: the stored create carries no email to look up")
    return email


def create_lookup_key(body: bytes) -> object:
    """What the lookup before a create's resend matches on: its email, as `same_email` compares
    it. An unreadable body is its own key."""
    try:
        sent = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body
    email = sent.get("email") if isinstance(sent, dict) else None
    return email.strip().casefold() if isinstance(email, str) else body


def same_email(a: str, b: str) -> bool:
    """Emails compared as a unique index on them would: case and outer blanks aside."""
    return a.strip().casefold() == b.strip().casefold()


def quoted_error(raw: bytes, content_type: str) -> str:
    """What an error answer says, one bounded line: its JSON `message`, its text, or its page's text.

    The API documents no error shape; Express sends `{"message": ...}`, bare text,
    or an HTML page, so each is read for what a person would read in it.
    """
    text = raw.decode("utf-8", "replace")
    said = text
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            body = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            said = body["message"]
        elif body is not None:
            said = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    elif "html" in content_type or text.lstrip().startswith("<"):
        pre = _PRE.search(text)
        said = html.unescape(_TAGS.sub(" ", pre.group(1) if pre else text))
    said = _BLANKS.sub(" ", said).strip()
    if len(said) > QUOTED_ERROR_CHARS:
        said = said[: QUOTED_ERROR_CHARS - 1] + "…"
    return said


def is_duplicate_email(status: int, quoted: str) -> bool:
    """Does this refusal of a create say the email is taken? (409; or 400/500 that says so.)"""
    if status == 409:
        return True
    return status in (400, 422, 500) and bool(_DUPLICATE.search(quoted))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: a number, or an HTTP date; None when absent or absurd."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
        seconds = max(seconds, 0.0)
    return seconds if 0 <= seconds < 86_400 else None


def error_for(
    status: int,
    raw: bytes,
    *,
    what: str,
    content_type: str,
    retry_after_header: str | None,
    location: str | None = None,
    path: str | None = None,
) -> SyncError:
    """Translate an unsuccessful answer into the product's exception for it.

    A 403 is read as a create's (a rejection of that one write, naming the roles that
    may create); the client turns a read's 403 into an AuthError.
    """
    retry_after = retry_after_header
    if 300 <= status < 400:
        return FatalError(_redirect_message(status, what=what, location=location))
    quoted = quoted_error(raw, content_type)
    said = f"{what} answered {status}" + (f": {quoted}" if quoted else "")
    if status == 401:
        # One line a person can act on: the cookie's session is over, not a wrong setting.
        return AuthError(f"{what} answered 401: {SESSION_EXPIRED}")
    if status == 403:
        return RequestRejected(f"{said}; {ROLE_NEEDED}", status=403, request_id=None)
    if status == 429:
        return RateLimited(said, retry_after=retry_after_seconds(retry_after))
    if status >= 500:
        return ServerUnavailable(said, retry_after=retry_after_seconds(retry_after))
    if status in (400, 404, 409, 422):
        return RequestRejected(said, status=status, request_id=None)
    return FatalError(said)


def _redirect_message(status: int, *, what: str, location: str | None) -> str:
    # Following it would send the session cookie to wherever it points; the user decides.
    shown = ""
    if location:
        parts = urlsplit(location)
        shown = f" to {parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return (
        f"{what} answered {status}, a redirect{shown}; contacts-sync does not follow redirects, on "
        "purpose (the session cookie goes to api_url only). A sign-in page means the session "
        f"expired: sign in again and set {COOKIE_VARIABLE}; if the API moved, set api_url to its "
        "new address"
    )
