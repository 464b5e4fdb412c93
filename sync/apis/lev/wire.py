"""The Lev contacts API on the wire: requests as values, answers parsed and checked.

Pure: no sockets here.  `client.py` sends what this module builds and hands
back what it received; this module decides what that answer means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

import orjson
import phonenumbers

from sync.apis.lev.fields import (
    CONTACT_FIELDS,
    CONTACT_TYPES,
    CONTACTS_PATH,
    PATCHABLE_FIELDS,
    PHONE_INPUT_KEYS,
    PHONE_TYPES,
    Kind,
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
from sync.remote import Page
from sync.values import text_problem

# A longer string from the API is a broken answer, not a name; so a longer local one is
# refused before it is sent, or its own answer would be refused.
MAX_TEXT_LENGTH = 65_536
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_PATCHABLE_YET = {"email": "the Lev API does not support changing a contact's email yet (it answers 409)"}


class LevWireRules:
    """How local values become Lev request bodies, and which ones Lev refuses."""

    @property
    def writable(self) -> Collection[str]:
        return PATCHABLE_FIELDS

    def prepare_create(self, fields: Mapping[str, Any]) -> PreparedWrite | Refusal:
        problems: list[str] = []
        contact_type = fields.get("contact_type")
        if contact_type not in CONTACT_TYPES:
            problems.append(f"contact_type must be one of {sorted(CONTACT_TYPES)}, not {contact_type!r}")
        company_id = fields.get("company_id")
        if not (_is_integer(company_id) and company_id > 0):
            problems.append(f"company_id must be a positive integer, not {company_id!r}")
        body: dict[str, Any] = {"contact_type": contact_type, "company_id": company_id}
        for name in sorted(PATCHABLE_FIELDS):
            value = fields.get(name)
            if value is None:
                continue
            wire, problem = _wire_value(name, value)
            if problem:
                problems.append(problem)
            else:
                body[name] = wire
        if problems:
            return Refusal("; ".join(problems), {k: fields.get(k) for k in sorted(fields)})
        return PreparedWrite("POST", CONTACTS_PATH, canonical_json(body))

    def prepare_delete(self, remote_id: ContactId) -> None:
        # Lev has no delete: a row deleted locally is not a write, the next pull brings it back.
        return None

    def prepare_update(
        self, remote_id: ContactId, changes: Mapping[str, Any]
    ) -> tuple[PreparedWrite | None, Refusal | None]:
        refused: dict[str, Any] = {}
        reasons: list[str] = []
        body: dict[str, Any] = {}
        for name in sorted(changes):
            value = changes[name]
            if name in _NOT_PATCHABLE_YET:
                refused[name] = value
                reasons.append(f"{name}: {_NOT_PATCHABLE_YET[name]}")
                continue
            wire, problem = _wire_value(name, value)
            if problem:
                refused[name] = value
                reasons.append(problem)
            else:
                body[name] = wire
        prepared = (
            PreparedWrite("PATCH", f"{CONTACTS_PATH}/{remote_id}", canonical_json(body)) if body else None
        )
        refusal = Refusal("; ".join(reasons), refused) if refused else None
        return prepared, refusal


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _wire_value(name: str, value: Any) -> tuple[Any, str | None]:
    """A local value as the request schema wants it, or why it cannot be sent.

    The request schemas have no null: a cleared text field is sent as "" and a
    cleared phone list as [].
    """
    kind = CONTACT_FIELDS[name]
    if kind is Kind.TEXT:
        if value is None:
            return "", None
        if not isinstance(value, str):
            return None, f"{name} must be text, not {type(value).__name__} {value!r:.80}"
        unstorable = text_problem(value)
        if unstorable:
            return None, f"{name} {unstorable}: {value!r:.80}"
        # The answer would echo it back, and an answer's check refuses longer text.
        if len(value) > MAX_TEXT_LENGTH:
            return None, f"{name} has {len(value):,} characters; the API takes at most {MAX_TEXT_LENGTH:,}"
        if name == "email" and value and not _EMAIL.match(value):
            return None, f"email {value!r} is not an email address"
        return value, None
    if kind is Kind.BOOLEAN:
        if value is None:
            return False, None
        if isinstance(value, bool):
            return value, None
        return None, f"{name} must be true or false, not {value!r}"
    if name == "phones":
        phones, problem = _wire_phones(value)
        unstorable = None if problem else text_problem(phones)
        if unstorable:
            return None, f"phones {unstorable}: {value!r:.80}"
        return phones, problem
    return None, f"{name} cannot be written through the API"


def _wire_phones(value: Any) -> tuple[Any, str | None]:
    if value is None:
        return [], None
    if not isinstance(value, list):
        return None, f"phones must be a JSON list of objects with a 'raw' number, not {value!r}"
    phones: list[dict[str, str]] = []
    for position, phone in enumerate(value):
        where = f"phones[{position}]"
        if not isinstance(phone, dict) or not isinstance(phone.get("raw"), str):
            return None, f"{where} must be an object with a 'raw' number, not {phone!r}"
        entry = {k: phone[k] for k in PHONE_INPUT_KEYS if phone.get(k) is not None}
        if any(not isinstance(v, str) for v in entry.values()):
            return None, f"{where}: raw, type, country and extension must be text"
        if entry.get("type", "mobile") not in PHONE_TYPES:
            return None, f"{where}.type must be one of {sorted(PHONE_TYPES)}"
        try:
            number = phonenumbers.parse(entry["raw"], entry.get("country", "US"))
        except phonenumbers.NumberParseException:
            number = None
        # The API normalises to E.164 and answers 422 for what it cannot: say so before sending.
        if number is None or not phonenumbers.is_possible_number(number):
            return None, f"{where}.raw {entry['raw']!r} is not a phone number"
        phones.append(entry)
    return phones, None


# --- answers -------------------------------------------------------------------------


# Every digit becomes "0", every other byte a space: a run of 19 digits is then one `in`.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def _loads(raw: bytes) -> Any:
    """json.loads of the UTF-8 text, through orjson when that gives the same values (a page
    parses in half the CPU).

    orjson refuses what the json module reads (NaN, a lone surrogate's escape, very deep
    nesting): those answers, and their errors, go to the json module. It reads an integer
    beyond 64 bits as a float, where json keeps it whole: an answer with a run of 19 digits
    anywhere, the only place such an integer can hide, goes to the json module too.
    """
    if _LONG_NUMBER not in raw.translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw.decode("utf-8"))


def decode_body(raw: bytes, *, what: str) -> tuple[dict[str, Any], str | None]:
    """The JSON object of an answer and its request_id, or InvalidResponse naming `what`."""
    if not raw.strip():
        raise InvalidResponse(f"{what}: the API answered with an empty body")
    try:
        body = _loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidResponse(f"{what}: the answer is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(body, dict):
        raise InvalidResponse(f"{what}: the answer is JSON but not an object")
    request_id = body.get("request_id")
    return body, request_id if isinstance(request_id, str) else None


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

    `location` is a redirect's Location header made absolute, `path` the
    request's path below api_url (to tell which api_url the redirect points to).
    """
    if 300 <= status < 400:
        return FatalError(_redirect_message(status, what=what, location=location, path=path))
    message, request_id, hint = _error_details(raw, content_type)
    header_hint = _seconds(retry_after_header)
    if header_hint is not None:
        hint = max(hint or 0.0, header_hint)
    said = f"{what} answered {status}" + (f": {message}" if message else "")
    said += f" (request_id {request_id})" if request_id else ""
    error: SyncError
    if status == 429:
        error = RateLimited(said, retry_after=hint)
    elif status >= 500:
        error = ServerUnavailable(said, retry_after=hint)
    elif status in (401, 403):
        advice = (
            "check CONTACTS_SYNC_API_TOKEN"
            if status == 401
            else "the token lacks the permission for this call"
        )
        error = AuthError(f"{said}; {advice}")
    elif status in (400, 404, 409, 422):
        error = RequestRejected(said, status=status, request_id=request_id)
    else:
        error = FatalError(said)
    error.request_id = request_id
    return error


def _redirect_message(status: int, *, what: str, location: str | None, path: str | None) -> str:
    # Following it would send the token to wherever it points; the user decides instead.
    if not location:
        return (
            f"{what} answered {status}, a redirect without a Location header; contacts-sync does not "
            "follow redirects, on purpose: check api_url, and any proxy or login page in between"
        )
    parts = urlsplit(location)
    host = parts.netloc.rpartition("@")[2]  # a user or password in it stays out
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    moved = shown[: -len(path)] if path and path != "/" and shown.endswith(path) else None
    return (
        f"{what} answered {status}, a redirect to {shown}"
        + (" (its query left out)" if parts.query else "")
        + "; contacts-sync does not follow redirects, on purpose (the token goes to api_url only). "
        + "If the API has moved, set api_url to its new address"
        + (f" ({moved})" if moved else "")
        + "; otherwise check api_url, and any proxy or login page in between"
    )


def _error_details(raw: bytes, content_type: str) -> tuple[str, str | None, float | None]:
    if "json" not in content_type:
        return "the answer was not JSON (an error page from a proxy?)", None, None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "the error answer is not valid JSON", None, None
    if not isinstance(body, dict):
        return "", None, None
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
    message = str(error.get("message") or error.get("type") or "")[:500]
    hints = [_seconds(error.get("retry_after_seconds")), _seconds(body.get("retry_after_seconds"))]
    known = [h for h in hints if h is not None]
    return message, request_id, max(known) if known else None


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds < 86_400 else None


def parse_page(raw: bytes, *, what: str) -> Page:
    """A list answer checked against the documented envelope and Contact shape."""
    body, request_id = decode_body(raw, what=what)
    data = body.get("data")
    pagination = body.get("pagination")
    if not isinstance(data, list):
        raise InvalidResponse(f"{what}: 'data' is missing or not a list", request_id=request_id)
    if not isinstance(pagination, dict):
        raise InvalidResponse(f"{what}: 'pagination' is missing", request_id=request_id)
    has_more = pagination.get("has_more")
    next_cursor = pagination.get("next_cursor")
    if not isinstance(has_more, bool):
        raise InvalidResponse(f"{what}: pagination.has_more is not true or false", request_id=request_id)
    if has_more and not (isinstance(next_cursor, str) and next_cursor):
        raise InvalidResponse(f"{what}: has_more is true but next_cursor is missing", request_id=request_id)
    contacts = [check_contact(item, what=what, request_id=request_id) for item in data]
    ids = [contact["id"] for contact in contacts]
    if len(set(ids)) != len(ids):
        raise InvalidResponse(f"{what}: the page lists a contact twice", request_id=request_id)
    total = pagination.get("total")
    return Page(
        contacts,
        next_cursor if has_more else None,
        has_more,
        request_id,
        total if _is_integer(total) and total >= 0 else None,
        body["timestamp"] if isinstance(body.get("timestamp"), str) else None,
    )


def parse_contact(raw: bytes, *, what: str) -> tuple[dict[str, Any], str | None]:
    """A single-contact answer (create, update, get): the contact and the request_id."""
    body, request_id = decode_body(raw, what=what)
    return check_contact(body.get("data"), what=what, request_id=request_id), request_id


def check_contact(item: Any, *, what: str, request_id: str | None) -> dict[str, Any]:
    """A Contact object with every known field of the documented type (null allowed)."""
    if not isinstance(item, dict):
        raise InvalidResponse(f"{what}: a contact is not a JSON object", request_id=request_id)
    contact_id = item.get("id")
    if not _is_integer(contact_id) or not 0 < contact_id < 2**63:
        raise InvalidResponse(f"{what}: a contact has no integer id ({contact_id!r})", request_id=request_id)
    if not _fits(item):
        # The field by field look, in documented order, names the first field that does not fit.
        for name, kind in CONTACT_FIELDS.items():
            value = item.get(name)
            if value is None or (_has_kind(value, kind) and _list_items_fit(name, value)):
                continue
            raise InvalidResponse(
                f"{what}: contact {contact_id} has {name}={value!r:.80}, not {kind.value}",
                request_id=request_id,
            )
    return item


def _fields_of(kind: Kind) -> tuple[str, ...]:
    return tuple(name for name, k in CONTACT_FIELDS.items() if k is kind)


_TEXT_FIELDS = _fields_of(Kind.TEXT)
_INTEGER_FIELDS = _fields_of(Kind.INTEGER)
_BOOLEAN_FIELDS = _fields_of(Kind.BOOLEAN)
_LIST_FIELDS = _fields_of(Kind.JSON)


def _fits(item: dict[str, Any]) -> bool:
    """`check_contact`'s rules, fast: every contact of every page passes here.

    Exact types, as json.loads makes them: `type(v) is int` also refuses a bool. The same
    rules as `_has_kind` and `_list_items_fit`, which name the field when this says no.
    """
    get = item.get
    for name in _TEXT_FIELDS:
        value = get(name)
        if value is not None and (type(value) is not str or len(value) > MAX_TEXT_LENGTH):
            return False
    for name in _INTEGER_FIELDS:
        value = get(name)
        if value is not None and type(value) is not int:
            return False
    for name in _BOOLEAN_FIELDS:
        value = get(name)
        if value is not None and type(value) is not bool:
            return False
    for name in _LIST_FIELDS:
        value = get(name)
        if value is None:
            continue
        if type(value) is not list:
            return False
        item_type = _LIST_ITEMS.get(name)
        if item_type is not None and not all(type(entry) is item_type for entry in value):
            return False
    return True


def _has_kind(value: Any, kind: Kind) -> bool:
    if kind is Kind.TEXT:
        return isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH
    if kind is Kind.INTEGER:
        return _is_integer(value)
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, list)


# What the documented lists hold; anything else in them is a broken answer.
_LIST_ITEMS: dict[str, type] = {"phones": dict, "contact_types": str}


def _list_items_fit(name: str, value: Any) -> bool:
    item_type = _LIST_ITEMS.get(name)
    return item_type is None or all(isinstance(item, item_type) for item in value)
