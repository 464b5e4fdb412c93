"""The in-memory account behind the sessions sandbox, and everything it remembers.

``SessionsState`` holds the contacts (each only as its rendered JSON bytes, so
200,000 of them cost tens of megabytes and list without encoding), the email
index that keeps emails unique, the sessions, the fault plan, the switches,
the request log and counters, all guarded by one lock. Contacts can be hidden
from the user (no longer listed, email still taken, as a row another user's
permissions hide) or deleted (gone, email free again).

The admin methods are how tests and "other users" change the account behind
the client's back; the server exposes them under ``/_admin``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sync.apis.lev.sandbox.faults import FaultPlan
from sync.apis.sandbox_kit.faults import FaultDecision, FaultSpecError
from sync.apis.sandbox_kit.requestlog import RequestLogging
from sync.apis.sessions.sandbox.contacts import (
    email_key,
    new_record,
    parse,
    render,
    validated_create,
    validated_edit,
)
from sync.apis.sessions.sandbox.seed import seed_contacts
from sync.apis.sessions.sandbox.sessions import DEFAULT_ROLE, Session, SessionStore
from sync.apis.sessions.sandbox.wire import ERROR_BODIES, Rejected, js_stamp

# The Lev fault kinds this API's sandbox serves; see ``api`` for what each does here.
SUPPORTED_FAULTS: Final[frozenset[str]] = frozenset(
    {"500", "503", "html502", "429", "drop-before", "drop-after", "malformed", "empty200", "slow"}
)
DUPLICATE_EMAIL_ANSWERS: Final[tuple[str, ...]] = ("409", "400", "500")
NOT_FOUND: Final[str] = "Contact not found"


class DuplicateEmail(Exception):
    """A create or edit would give two contacts the same email."""

    def __init__(self, email: str, existing_id: int) -> None:
        super().__init__(f"Email already exists: {email}")
        self.email = email
        self.existing_id = existing_id


def supported_plan(plan: str | FaultPlan | None) -> FaultPlan:
    """Parse a SPEC and refuse kinds this sandbox does not serve (``FaultSpecError``)."""
    parsed = plan if isinstance(plan, FaultPlan) else FaultPlan.parse(plan)
    for rule in parsed.rules:
        if rule.fault.kind not in SUPPORTED_FAULTS:
            raise FaultSpecError(
                f"fault kind {rule.fault.kind!r} is not served by the sessions sandbox;"
                f" use one of {', '.join(sorted(SUPPORTED_FAULTS))}"
            )
    return parsed


class SessionsState(RequestLogging):
    """One account of the session-cookie API: contacts, sessions, faults, log; thread-safe."""

    def __init__(
        self,
        *,
        contacts: int = 500,
        seed: int = 0,
        role: str = DEFAULT_ROLE,
        session_id: str | None = None,
        secret: str | None = None,
        session_max_age: float | None = None,
        faults: str | FaultPlan | None = None,
        latency_ms: int = 0,
        error_body: str = "json",
        duplicate_email: str = "409",
        chunked: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if contacts < 0:
            raise ValueError("contacts must not be negative")
        self._lock = threading.RLock()
        self.error_body = "json"
        self.duplicate_email = "409"
        self.chunked = False
        self.settings({"error_body": error_body, "duplicate_email": duplicate_email, "chunked": chunked})
        self.latency_ms = latency_ms
        self.sessions = SessionStore(secret or secrets.token_urlsafe(32), clock=clock)
        self.session = self.sessions.open(role=role, sid=session_id, max_age=session_max_age)
        self._rendered: dict[int, bytes] = {}
        self._emails: dict[str, int] = {}
        self._hidden: set[int] = set()
        self._logins: set[int] = set()
        self._next_id = 1
        self._last_stamp = datetime.now(UTC) - timedelta(seconds=1)
        self._faults = supported_plan(faults)
        self._start_request_log()
        self.seed(contacts, seed)

    @property
    def cookie(self) -> str:
        """The ``connect.sid`` value of the session opened at start."""
        return self.sessions.cookie(self.session)

    # -- switches ------------------------------------------------------------

    def settings(self, changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Change some switches (``error_body``, ``duplicate_email``, ``chunked``); all of them.

        Raises ``ValueError`` naming the switch and its allowed values.
        """
        changes = dict(changes or {})
        unknown = sorted(set(changes) - {"error_body", "duplicate_email", "chunked"})
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        if "error_body" in changes and changes["error_body"] not in ERROR_BODIES:
            raise ValueError(f"error_body must be one of {', '.join(ERROR_BODIES)}")
        if "duplicate_email" in changes:
            changes["duplicate_email"] = str(changes["duplicate_email"])
            if changes["duplicate_email"] not in DUPLICATE_EMAIL_ANSWERS:
                raise ValueError(f"duplicate_email must be one of {', '.join(DUPLICATE_EMAIL_ANSWERS)}")
        if "chunked" in changes and not isinstance(changes["chunked"], bool):
            raise ValueError("chunked must be true or false")
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
            return {
                "error_body": self.error_body,
                "duplicate_email": self.duplicate_email,
                "chunked": self.chunked,
            }

    # -- the API's operations ------------------------------------------------------

    def visible_items(self) -> list[bytes]:
        """GET /contacts: a snapshot of the rendered contacts the user sees, by id.

        Only references are copied, so streaming it outside the lock costs no
        encoding and later writes do not tear it.
        """
        with self._lock:
            if not self._hidden:
                return list(self._rendered.values())
            return [item for cid, item in self._rendered.items() if cid not in self._hidden]

    def create_contact(self, body: Any) -> dict[str, Any]:
        """POST /contacts: validate, check the email is free, store.

        Raises ``Rejected`` (400) for a bad body and ``DuplicateEmail``.
        """
        fields, can_login = validated_create(body)
        with self._lock:
            record = self._insert(fields)
            if can_login:
                self._logins.add(record["id"])
                self.counters["can_login_sent"] += 1
            self.counters["contacts_created"] += 1
            return record

    # -- records ------------------------------------------------------------------

    def _stamp(self) -> str:
        # Strictly increasing at millisecond precision, even for two writes in one millisecond.
        now = datetime.now(UTC)
        if now < self._last_stamp + timedelta(milliseconds=1):
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return js_stamp(now)

    def _claim_email(self, email: str, contact_id: int) -> None:
        key = email_key(email)
        holder = self._emails.get(key)
        if holder is not None and holder != contact_id:
            raise DuplicateEmail(email, holder)
        self._emails[key] = contact_id

    def _insert(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        contact_id = self._next_id
        record = new_record(contact_id, fields, stamp=self._stamp())
        # Rendered before anything is claimed: a value that cannot be encoded leaves no trace.
        rendered = render(record)
        self._claim_email(fields["email"], contact_id)
        self._next_id += 1
        self._rendered[contact_id] = rendered
        return record

    def _require(self, contact_id: int) -> dict[str, Any]:
        rendered = self._rendered.get(contact_id)
        if rendered is None:
            raise Rejected(404, NOT_FOUND)
        return parse(rendered)

    def _admin_view(self, contact_id: int, record: dict[str, Any]) -> dict[str, Any]:
        return record | {"hidden": contact_id in self._hidden, "canLogin": contact_id in self._logins}

    # -- admin: another user changing the account ------------------------------------

    def seed(self, count: int, seed: int = 0) -> list[int]:
        """Append ``count`` seeded contacts after the current ones; their ids.

        The first batch of an empty account starts with the hand-picked cases.
        A seeded email already taken gets the next free ``+n`` variant.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            curated = not self._rendered and self._next_id == 1
            ids: list[int] = []
            for seeded in seed_contacts(count, seed, first_id=self._next_id, curated=curated):
                contact_id, rendered = seeded.id, seeded.rendered
                email = self._free_email(seeded.email)
                if email != seeded.email:
                    rendered = render(parse(rendered) | {"email": email})
                self._emails[email_key(email)] = contact_id
                self._rendered[contact_id] = rendered
                self._next_id = contact_id + 1
                ids.append(contact_id)
            return ids

    def _free_email(self, email: str) -> str:
        local, _, domain = email.partition("@")
        candidate, n = email, 1
        while email_key(candidate) in self._emails:
            n += 1
            candidate = f"{local}+{n}@{domain}"
        return candidate

    def all_contacts(self) -> list[dict[str, Any]]:
        """Every contact, hidden or not, with ``hidden`` and ``canLogin``."""
        with self._lock:
            return [self._admin_view(cid, parse(item)) for cid, item in self._rendered.items()]

    def contact(self, contact_id: int) -> dict[str, Any]:
        with self._lock:
            return self._admin_view(contact_id, self._require(contact_id))

    def admin_create(self, body: Any) -> dict[str, Any]:
        """Create a contact as another user would; same rules as the API."""
        fields, can_login = validated_create(body)
        with self._lock:
            record = self._insert(fields)
            if can_login:
                self._logins.add(record["id"])
            return self._admin_view(record["id"], record)

    def admin_edit(self, contact_id: int, changes: Any) -> dict[str, Any]:
        """Edit fields as another user would (email too, kept unique); updatedAt moves."""
        checked = validated_edit(changes)
        with self._lock:
            record = self._require(contact_id)
            effective = {k: v for k, v in checked.items() if record[k] != v}
            if effective:
                edited = record | effective | {"updatedAt": self._stamp()}
                rendered = render(edited)
                if "email" in effective:
                    self._claim_email(effective["email"], contact_id)
                    if email_key(record["email"]) != email_key(effective["email"]):
                        del self._emails[email_key(record["email"])]
                record = edited
                self._rendered[contact_id] = rendered
            return self._admin_view(contact_id, record)

    def set_hidden(self, contact_id: int, *, hidden: bool) -> dict[str, Any]:
        """Hide a contact from the user's list (its email stays taken) or show it again."""
        with self._lock:
            record = self._require(contact_id)
            (self._hidden.add if hidden else self._hidden.discard)(contact_id)
            return self._admin_view(contact_id, record)

    def delete(self, contact_id: int) -> dict[str, Any]:
        """Remove a contact for good; its email is free again."""
        with self._lock:
            record = self._require(contact_id)
            del self._rendered[contact_id]
            self._emails.pop(email_key(record["email"]), None)
            self._hidden.discard(contact_id)
            self._logins.discard(contact_id)
            return record

    # -- sessions ------------------------------------------------------------------

    def authenticate(self, cookie_header: str | None) -> Session | None:
        with self._lock:
            return self.sessions.find(cookie_header)

    def open_session(self, *, role: str, max_age: float | None = None) -> tuple[Session, str]:
        with self._lock:
            session = self.sessions.open(role=role, max_age=max_age)
            return session, self.sessions.cookie(session)

    def expire_session(self, number: int) -> Session:
        with self._lock:
            session = self.sessions.expire(number)
            if session is None:
                raise Rejected(404, f"No session {number}")
            return session

    def session_views(self) -> list[dict[str, Any]]:
        """The sessions without their ids or cookies: number, role, live."""
        with self._lock:
            return [
                {"number": s.number, "role": s.role, "live": self.sessions.is_live(s)}
                for s in self.sessions.all()
            ]

    # -- faults ----------------------------------------------------------------------

    def decide_fault(self, method: str) -> FaultDecision:
        with self._lock:
            return self._faults.decide(method)

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    def set_faults(self, plan: str | FaultPlan | None) -> FaultPlan:
        """Replace the fault plan; its request numbers count from the next request."""
        parsed = supported_plan(plan)
        with self._lock:
            parsed.reset_counts()
            self._faults = parsed
        return parsed

    # -- request log and counters --------------------------------------------------------

    def reset_log(self) -> None:
        """Forget the log and the counters, and restart fault numbering."""
        with self._lock:
            self._forget_requests()
            self._faults.reset_counts()
