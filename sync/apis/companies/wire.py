"""The company-contacts API on the wire: requests as values, answers parsed and checked.

Pure: no sockets here. `client.py` sends what this module builds and hands
back what it received; this module decides what that answer means. Errors are
FastAPI's: `{"detail": "..."}`, or for a 422 a list of `{"loc", "msg", ...}`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sync.apis.companies.fields import (
    CONTACT_FIELDS,
    CONTACTS_PATH,
    NULLABLE_TEXT,
    PATCHABLE_FIELDS,
    REQUIRED_ON_CREATE,
)
from sync.apis.kinds import Kind
from sync.errors import (
    AuthError,
    FatalError,
    InvalidResponse,
    PageTooLarge,
    RateLimited,
    RequestRejected,
    ServerUnavailable,
    SyncError,
)
from sync.plan import ContactId, PreparedWrite, Refusal, canonical_json
from sync.values import text_problem

# The shape email-validator (pydantic's EmailStr) insists on, checked before sending.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
MAX_DETAIL = 300  # characters of a server's message quoted in ours
MAX_ERRORS_SHOWN = 5


def canonical_uuid(value: Any) -> str | None:
    """The lowercase hyphenated form of a UUID given as text, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def contact_path(remote_id: ContactId) -> str | None:
    """`/contacts/{id}` for a UUID id, or None when it is not one (never sent, then)."""
    contact_id = canonical_uuid(remote_id)
    return None if contact_id is None else f"{CONTACTS_PATH}/{contact_id}"


class CompaniesWireRules:
    """How local values become request bodies, and which ones the API would refuse.

    `company_ids` are the companies the store syncs: a create for any other is refused
    here, since the list of a company the token does not own could never show it.
    """

    def __init__(self, company_ids: Iterable[str]) -> None:
        self.company_ids = frozenset(filter(None, map(canonical_uuid, company_ids)))

    @property
    def writable(self) -> Collection[str]:
        return PATCHABLE_FIELDS

    def prepare_create(self, fields: Mapping[str, Any]) -> PreparedWrite | Refusal:
        problems: list[str] = []
        company_id = canonical_uuid(fields.get("company_id"))
        if fields.get("company_id") is None:
            problems.append("company_id is required: the company (one of company_ids) to create it in")
        elif company_id is None:
            problems.append(f"company_id must be a UUID, not {fields.get('company_id')!r:.80}")
        elif company_id not in self.company_ids:
            problems.append(f"company_id {company_id} is not one of the companies this store syncs")
        body: dict[str, Any] = {"company_id": company_id}
        for name in REQUIRED_ON_CREATE:
            if fields.get(name) is None:
                problems.append(f"{name} is required to create a contact")
        for name in sorted(PATCHABLE_FIELDS):
            value = fields.get(name)
            if value is None:
                continue  # absent: the API's default (null, or false for is_primary)
            wire, problem = wire_value(name, value)
            if problem:
                problems.append(problem)
            else:
                body[name] = wire
        if problems:
            return Refusal("; ".join(problems), {k: fields.get(k) for k in sorted(fields)})
        return PreparedWrite("POST", CONTACTS_PATH, canonical_json(body))

    def prepare_update(
        self, remote_id: ContactId, changes: Mapping[str, Any]
    ) -> tuple[PreparedWrite | None, Refusal | None]:
        path = contact_path(remote_id)
        if path is None:
            reason = f"the contact id {remote_id!r:.80} is not a UUID, so it names no contact"
            return None, Refusal(reason, {k: changes[k] for k in sorted(changes)})
        refused: dict[str, Any] = {}
        reasons: list[str] = []
        body: dict[str, Any] = {}
        for name in sorted(changes):
            wire, problem = wire_value(name, changes[name])
            if problem:
                refused[name] = changes[name]
                reasons.append(problem)
            else:
                body[name] = wire
        prepared = PreparedWrite("PATCH", path, canonical_json(body)) if body else None
        refusal = Refusal("; ".join(reasons), refused) if refused else None
        return prepared, refusal

    def prepare_delete(self, remote_id: ContactId) -> PreparedWrite | Refusal:
        path = contact_path(remote_id)
        if path is None:
            return Refusal(f"the contact id {remote_id!r:.80} is not a UUID, so it names no contact", {})
        return PreparedWrite("DELETE", path, b"")


def wire_value(name: str, value: Any) -> tuple[Any, str | None]:
    """A local value as the request schema takes it, or why the API would refuse it."""
    if name not in PATCHABLE_FIELDS:
        return None, f"{name} cannot be written through the API"
    if CONTACT_FIELDS[name] is Kind.BOOLEAN:
        if value is None:
            return False, None  # the API's default; it takes no null here
        if isinstance(value, bool):
            return value, None
        return None, f"{name} must be true or false, not {value!r:.80}"
    if value is None:
        if name in NULLABLE_TEXT:
            return None, None
        return None, f"{name} cannot be empty: the API requires it"
    if not isinstance(value, str):
        return None, f"{name} must be text, not {type(value).__name__} {value!r:.80}"
    unstorable = text_problem(value)
    if unstorable:
        return None, f"{name} {unstorable}: {value!r:.80}"
    if name == "email" and not _EMAIL.match(value):
        return None, f"email {value!r:.80} is not an email address"
    return value, None


# --- answers -------------------------------------------------------------------------


def decode_json(raw: bytes, *, what: str) -> Any:
    if not raw.strip():
        raise InvalidResponse(f"{what}: the API answered with an empty body")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidResponse(f"{what}: the answer is not JSON ({exc.__class__.__name__})") from None


def parse_list(raw: bytes, *, what: str, company_id: str) -> list[dict[str, Any]]:
    """A list answer: a bare JSON array of contacts, each of the company asked for."""
    body = decode_json(raw, what=what)
    if not isinstance(body, list):
        raise InvalidResponse(f"{what}: the answer is not a JSON array of contacts")
    return [check_contact(item, what=what, company_id=company_id) for item in body]


def parse_contact(raw: bytes, *, what: str, contact_id: str | None = None) -> dict[str, Any]:
    """A single-contact answer (get, create, update); `contact_id` is the one it must be."""
    contact = check_contact(decode_json(raw, what=what), what=what)
    if contact_id is not None and contact["id"] != contact_id:
        raise InvalidResponse(f"{what}: the answer is for contact {contact['id']}, not {contact_id}")
    return contact


def check_contact(item: Any, *, what: str, company_id: str | None = None) -> dict[str, Any]:
    """A Contact object with every known field of the documented type (null allowed but
    for `id`); ids in canonical form. `company_id`: the company it must belong to."""
    if not isinstance(item, dict):
        raise InvalidResponse(f"{what}: a contact is not a JSON object")
    contact_id = canonical_uuid(item.get("id"))
    if contact_id is None:
        raise InvalidResponse(f"{what}: a contact's id is not a UUID ({item.get('id')!r:.80})")
    contact = dict(item, id=contact_id)
    for name, kind in CONTACT_FIELDS.items():
        value = contact.get(name)
        if value is None:
            continue
        if kind is Kind.BOOLEAN and not isinstance(value, bool):
            raise InvalidResponse(f"{what}: contact {contact_id} has {name}={value!r:.80}, not true or false")
        if kind is Kind.TEXT and not isinstance(value, str):
            raise InvalidResponse(f"{what}: contact {contact_id} has {name}={value!r:.80}, not text")
    if contact.get("company_id") is not None:
        owner = canonical_uuid(contact["company_id"])
        if owner is None:
            raise InvalidResponse(
                f"{what}: contact {contact_id} has company_id={contact['company_id']!r:.80}, not a UUID"
            )
        contact["company_id"] = owner
    if company_id is not None and contact.get("company_id") != company_id:
        raise InvalidResponse(
            f"{what}: contact {contact_id} belongs to company {contact.get('company_id')}, "
            f"not to {company_id} whose contacts were asked for"
        )
    return contact


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
    """Translate an unsuccessful answer into the product's exception for it."""
    if 300 <= status < 400:
        return FatalError(_redirect_message(status, what=what, location=location))
    detail, items = _detail(raw, content_type)
    said = f"{what} answered {status}" + (f": {detail}" if detail else "")
    if status == 429:
        return RateLimited(said, retry_after=retry_after_seconds(retry_after_header))
    if status >= 500:
        return ServerUnavailable(said, retry_after=retry_after_seconds(retry_after_header))
    if status == 401:
        return AuthError(f"{said}; the API token was refused: check CONTACTS_SYNC_API_TOKEN")
    if status == 403:
        return AuthError(
            f"{said}; the API token does not own this company: check CONTACTS_SYNC_COMPANY_IDS, "
            "or use the token of the account that owns it"
        )
    if status == 422 and any(_names_limit(item) for item in items):
        ceiling = next((_ceiling(item) for item in items if _ceiling(item) is not None), None)
        return PageTooLarge(said, limit_max=ceiling)
    if status in (400, 404, 409, 422):
        return RequestRejected(said, status=status, request_id=None)
    return FatalError(said)


def _detail(raw: bytes, content_type: str) -> tuple[str, list[dict[str, Any]]]:
    """FastAPI's `detail` quoted compactly ("field: msg" per validation error), and its items."""
    if "json" not in content_type:
        return "the answer was not JSON (an error page from a proxy?)", []
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "the error answer is not valid JSON", []
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return _shown(detail), []
    if not isinstance(detail, list):
        return "", []
    items = [item for item in detail if isinstance(item, dict)]
    parts = [_validation_error(item) for item in items[:MAX_ERRORS_SHOWN]]
    if len(items) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(items) - MAX_ERRORS_SHOWN} more")
    return _shown("; ".join(parts)), items


def _validation_error(item: Mapping[str, Any]) -> str:
    loc = item.get("loc")
    where = [str(part) for part in loc] if isinstance(loc, list) else []
    if len(where) > 1 and where[0] in ("body", "query", "path"):
        where = where[1:]  # "email", not "body.email"
    message = item.get("msg") if isinstance(item.get("msg"), str) else "invalid"
    return f"{'.'.join(where) or 'request'}: {message}"


def _names_limit(item: Mapping[str, Any]) -> bool:
    return item.get("loc") == ["query", "limit"]


def _ceiling(item: Mapping[str, Any]) -> int | None:
    ctx = item.get("ctx")
    le = ctx.get("le") if isinstance(ctx, dict) else None
    return le if isinstance(le, int) and not isinstance(le, bool) and le >= 1 else None


def _shown(text: str) -> str:
    """One line, bounded: a server's words inside our one-line messages."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1] + "…"


def retry_after_seconds(header: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if header is None or not header.strip():
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
        seconds = max(seconds, 0.0)
    return seconds if 0 <= seconds < 86_400 else None


def _redirect_message(status: int, *, what: str, location: str | None) -> str:
    # Following it would send the token to wherever it points; the user decides instead.
    shown = "a redirect without a Location header"
    if location:
        parts = urlsplit(location)
        host = parts.netloc.rpartition("@")[2]  # a user or password in it stays out
        shown = f"a redirect to {urlunsplit((parts.scheme, host, parts.path, '', ''))}"
    return (
        f"{what} answered {status}, {shown}; contacts-sync does not follow redirects, on purpose "
        "(the token goes to api_url only): if the API has moved, set CONTACTS_SYNC_API_URL to its "
        "new address; otherwise check it, and any proxy or login page in between"
    )


def create_lookup_key(body: bytes) -> object:
    """What the lookup before a create's resend matches on first: its company and its email,
    case aside (`CompaniesClient.find_created`). An unreadable body is its own key."""
    try:
        sent = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body
    if not isinstance(sent, dict) or not isinstance(sent.get("email"), str):
        return body
    return (sent.get("company_id"), sent["email"].casefold())
