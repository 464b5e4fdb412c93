"""The in-memory Lev account behind the sandbox, and everything it remembers.

``SandboxState`` holds the contacts (with their internal ``company_id``), the
companies, the Idempotency-Key store, the rate limiter, the fault plan, the
request log and counters, all guarded by one lock so the threaded server can
call it from any thread. The contact operations return a ``Reply`` (status,
envelope, headers) and never touch a socket, so they can be tested directly.

The admin methods (``admin_*``, ``connect``, ``disconnect``, ``set_faults``,
``request_log``, ``reset_log``) are how tests and "other users" change the
account behind the client's back; the server exposes them under ``/_admin``.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sync.apis.lev.fields import CONTACT_TYPES
from sync.apis.lev.sandbox.contacts import (
    TEXT_FIELDS,
    changed_fields,
    new_record,
    public_view,
    validated_create,
    validated_patch,
)
from sync.apis.lev.sandbox.envelope import Rejected, Reply, from_rejection, success, utc_stamp
from sync.apis.lev.sandbox.faults import FaultDecision, FaultPlan
from sync.apis.lev.sandbox.filters import FilterMode
from sync.apis.lev.sandbox.filters import filter_mode as filter_mode_of
from sync.apis.lev.sandbox.idempotency import Fingerprint, IdempotencyStore
from sync.apis.lev.sandbox.paging import cursor_page, offset_page, parse_list_query, resume_cursor
from sync.apis.lev.sandbox.phones import normalise_phones
from sync.apis.lev.sandbox.ratelimit import RateLimiter, tier_limits
from sync.apis.lev.sandbox.seed import DEFAULT_ACCOUNT_ID, company_count, seed_companies, seed_contacts
from sync.apis.sandbox_kit.requestlog import RequestLogging

TOKEN_PREFIX: Final[str] = "lev_sk_sandbox_"  # noqa: S105 - a prefix, not a secret
# The endless-junk fault's contacts: ids far above any real one, never stored.
JUNK_FIRST_ID: Final[int] = 900_000_001
NOT_FOUND: Final[str] = "Contact not found"
EMAIL_CHANGE: Final[str] = "Changing a contact's email is not supported yet"
# Fields an admin ("another user in the Lev UI") may edit, beyond the API's.
ADMIN_EDITABLE: Final[frozenset[str]] = TEXT_FIELDS | {
    "is_primary",
    "phones",
    "contact_types",
    "company_id",
}


def _admin_view(record: Mapping[str, Any]) -> dict[str, Any]:
    return public_view(record) | {"company_id": record["company_id"]}


def generated_token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(16)


class SandboxState(RequestLogging):
    """One Lev account: data, idempotency keys, limits, faults, log; thread-safe."""

    def __init__(
        self,
        *,
        contacts: int = 500,
        seed: int = 0,
        tier: str = "standard",
        window_seconds: float = 60.0,
        latency_ms: int = 0,
        faults: str | FaultPlan | None = None,
        token: str | None = None,
        read_only_token: str | None = None,
        account_id: int = DEFAULT_ACCOUNT_ID,
        account_slug: str = "sandbox",
        account_name: str = "Sandbox Account",
        retry_after_header: bool = False,
        filter_mode: FilterMode = "apply",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if contacts < 0:
            raise ValueError("contacts must not be negative")
        self._lock = threading.RLock()
        self.account_id = account_id
        # Two sandboxes with other ids and names are two accounts (a store is bound to one).
        self.account_slug = account_slug
        self.account_name = account_name
        self.token = token or generated_token()
        self.read_only_token = read_only_token
        self.tier = tier
        self.limiter = RateLimiter(tier_limits(tier), window_seconds=window_seconds, clock=clock)
        self.latency_ms = latency_ms
        self.retry_after_header = retry_after_header
        # apply | ignore (a server without filters) | reject (400): see sandbox.filters.
        self.filter_mode: FilterMode = filter_mode_of(filter_mode)
        self._junk_ids = itertools.count(JUNK_FIRST_ID)
        self._cursor_nonces = itertools.count(1)
        self.companies = seed_companies(company_count(contacts))
        self._contacts = {record["id"]: record for record in seed_contacts(contacts, seed)}
        self._next_contact_id = max(self._contacts, default=100) + 1
        self._next_phone = 1 + sum(len(r["phones"]) for r in self._contacts.values())
        self._last_stamp = datetime.now(UTC) - timedelta(seconds=1)
        self.idempotency = IdempotencyStore()
        self._faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self._start_request_log()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    # -- clocks and ids --------------------------------------------------

    def _stamp(self) -> str:
        # Strictly increasing, even for two writes in the same microsecond.
        now = datetime.now(UTC)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return utc_stamp(now, micro=True)

    def _phone_id(self) -> str:
        phone_id = f"ph_{self._next_phone}"
        self._next_phone += 1
        return phone_id

    def _company_exists(self, company_id: int) -> bool:
        return company_id in self.companies

    # -- the API's contact operations --------------------------------------

    def list_contacts(self, query: Mapping[str, str]) -> Reply:
        """GET /contacts: connected contacts only, cursor or offset pagination."""
        try:
            parsed = parse_list_query(query, self.filter_mode)
        except Rejected as rejection:
            return from_rejection(rejection)
        with self._lock:
            rows = [
                r
                for r in self._contacts.values()
                if r["is_connected"] and (parsed.updated is None or parsed.updated.matches(r))
            ]
            paginate = offset_page if parsed.sort is not None else cursor_page
            page, pagination = paginate(rows, parsed)
            data = [public_view(row, parsed.fields) for row in page]
        return success(data, pagination=pagination)

    def endless_page(self, query: Mapping[str, str], reply: Reply, *, junk: bool) -> Reply:
        """The endless faults: ``reply`` (a list page) made to go on forever.

        No contacts (or, with ``junk``, a full page of ever-new ones that are never
        stored), ``has_more`` true and a next_cursor that is new each time but resumes
        where the request stood; ``total`` stays the real one.
        """
        if reply.status != 200 or reply.body is None:
            return reply
        parsed = parse_list_query(query, self.filter_mode)  # valid: the real answer was 200
        with self._lock:
            data = (
                [public_view(self._junk_record(), parsed.fields) for _ in range(parsed.limit)] if junk else []
            )
            nonce = next(self._cursor_nonces)
        pagination = {**reply.body.get("pagination", {}), "has_more": True}
        if parsed.sort is None:
            pagination["next_cursor"] = resume_cursor(parsed, nonce)
        return success(data, pagination=pagination)

    def _junk_record(self) -> dict[str, Any]:
        junk_id = next(self._junk_ids)
        return new_record(
            junk_id,
            contact_types=["lender_contact"],
            company_id=1,
            owner_account_id=self.account_id,
            stamp=self._stamp(),
            connected=True,
            fields={"first_name": "Junk", "last_name": str(junk_id), "email": f"junk{junk_id}@junk.example"},
        )

    def get_contact(self, contact_id: str) -> Reply:
        """GET /contacts/{id}: any contact of the account, connected or not."""
        with self._lock:
            record = self._find(contact_id)
            if record is None:
                return from_rejection(Rejected(404, NOT_FOUND))
            return success(public_view(record))

    def create_contact(self, body: Any) -> Reply:
        """POST /contacts: validate, store as not connected, answer 201."""
        with self._lock:
            try:
                fields = validated_create(
                    body, company_exists=self._company_exists, new_phone_id=self._phone_id
                )
            except Rejected as rejection:
                return from_rejection(rejection)
            record = self._insert(fields, [fields["contact_type"]], connected=False)
            self.counters["contacts_created"] += 1
            return success(public_view(record), status=201)

    def patch_contact(self, contact_id: str, body: Any) -> Reply:
        """PATCH /contacts/{id}: documented fields only; email changes are 409."""
        with self._lock:
            record = self._find(contact_id)
            if record is None:
                return from_rejection(Rejected(404, NOT_FOUND))
            try:
                changes = validated_patch(body, new_phone_id=self._phone_id)
                if "email" in changes and changes["email"] != record["email"]:
                    raise Rejected(409, EMAIL_CHANGE)
            except Rejected as rejection:
                return from_rejection(rejection)
            if self._apply(record, changes):
                self.counters["contacts_patched"] += 1
            return success(public_view(record))

    def me(self, *, read_only: bool) -> Reply:
        """GET /me: ``{user, account, profile, subscription, platform}``.

        The real shape of ``platform`` is unpublished; the sandbox's is
        ``{api_tier, permission_level, rate_limits: {account_per_window,
        endpoint_per_window, window_seconds}}`` (limits null for ``unlimited``).
        """
        limits = self.limiter.limits
        return success(
            {
                "user": {"id": 1001, "email": "sandbox.user@example.com", "name": "Sandbox User"},
                "account": {
                    "id": self.account_id,
                    "name": self.account_name,
                    "slug": self.account_slug,
                    "account_type": "brokerage",
                },
                "profile": {},
                "subscription": {"plan": self.tier},
                "platform": {
                    "api_tier": self.tier,
                    "permission_level": "read_only" if read_only else "full_access",
                    "rate_limits": {
                        "account_per_window": limits.account_per_window,
                        "endpoint_per_window": limits.endpoint_per_window,
                        "window_seconds": self.limiter.window_seconds,
                    },
                },
            }
        )

    def idempotent(self, key: str, request: Fingerprint, apply: Callable[[], Reply]) -> Reply:
        """Replay the stored answer for ``key`` or run ``apply`` once and store it."""
        with self._lock:
            try:
                stored = self.idempotency.replay(key, request)
            except Rejected as rejection:
                return from_rejection(rejection)
            if stored is not None:
                self.counters["idempotent_replays"] += 1
                return stored
            answer = apply()
            self.idempotency.remember(key, request, answer)
            return answer

    # -- record helpers ----------------------------------------------------

    def _find(self, contact_id: str | int) -> dict[str, Any] | None:
        text = str(contact_id)
        # Only plain digits name a contact; "abc" or "-1" is simply not found.
        if not text.isdigit() or not text.isascii():
            return None
        return self._contacts.get(int(text))

    def _insert(
        self, fields: Mapping[str, Any], contact_types: list[str], *, connected: bool
    ) -> dict[str, Any]:
        contact_id = self._next_contact_id
        self._next_contact_id += 1
        record = new_record(
            contact_id,
            contact_types=contact_types,
            company_id=fields["company_id"],
            owner_account_id=self.account_id,
            stamp=self._stamp(),
            connected=connected,
            fields={k: v for k, v in fields.items() if k != "contact_types"},
        )
        self._contacts[contact_id] = record
        if record["is_primary"]:
            self._demote_other_primaries(record)
        return record

    def _apply(self, record: dict[str, Any], changes: Mapping[str, Any]) -> bool:
        """Write the changes that differ; bump updated_at; demote old primaries."""
        effective = changed_fields(record, changes)
        if not effective:
            return False
        record.update(effective)
        if "contact_types" in effective:
            record["contact_type"] = record["contact_types"][0] if record["contact_types"] else None
        record["updated_at"] = self._stamp()
        if record["is_primary"] and ("is_primary" in effective or "company_id" in effective):
            self._demote_other_primaries(record)
        return True

    def _demote_other_primaries(self, record: Mapping[str, Any]) -> None:
        for other in self._contacts.values():
            same_company = other["company_id"] == record["company_id"]
            if other is not record and same_company and other["is_primary"]:
                other["is_primary"] = False
                other["updated_at"] = self._stamp()

    # -- rate limits and faults ------------------------------------------------

    def admit(self, endpoint: str) -> float | None:
        """Count an authenticated request; the seconds to wait if over a limit."""
        with self._lock:
            return self.limiter.admit(endpoint)

    def decide_fault(self, method: str, *, listing: bool = False) -> FaultDecision:
        with self._lock:
            return self._faults.decide(method, listing=listing)

    def set_filter_mode(self, mode: str) -> FilterMode:
        """apply | ignore | reject the ``filter[...]`` parameters of GET /contacts; raises ValueError."""
        checked = filter_mode_of(mode)
        with self._lock:
            self.filter_mode = checked
        return checked

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    def set_faults(self, plan: str | FaultPlan | None) -> FaultPlan:
        """Replace the fault plan; its request numbers count from the next request."""
        parsed = plan if isinstance(plan, FaultPlan) else FaultPlan.parse(plan)
        with self._lock:
            parsed.reset_counts()
            self._faults = parsed
        return parsed

    # -- request log and counters ------------------------------------------------

    def reset_log(self) -> None:
        """Forget the log, the counters, the rate-limit windows and fault numbering."""
        with self._lock:
            self._forget_requests()
            self.limiter.reset()
            self._faults.reset_counts()

    # -- admin: another user changing the account ------------------------------------

    def all_contacts(self) -> list[dict[str, Any]]:
        """Every contact, connected or not, with its internal ``company_id``."""
        with self._lock:
            return [_admin_view(r) for _, r in self._sorted()]

    def contact(self, contact_id: int) -> dict[str, Any] | None:
        """One contact with ``company_id``, or None."""
        with self._lock:
            record = self._find(contact_id)
            return None if record is None else _admin_view(record)

    def admin_create(self, fields: Mapping[str, Any], *, connected: bool = True) -> dict[str, Any]:
        """Create a contact as the Lev UI would (connected by default); raises ``Rejected``."""
        fields = dict(fields)
        contact_types = fields.pop("contact_types", None)
        if contact_types is None:
            contact_types = [fields.pop("contact_type", "lender_contact")]
        fields.pop("contact_type", None)
        fields.setdefault("company_id", 1)
        with self._lock:
            cleaned = self._admin_fields(fields | {"contact_types": contact_types})
            record = self._insert(cleaned, cleaned["contact_types"], connected=connected)
            return _admin_view(record)

    def admin_edit(self, contact_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Edit any field as another user would (email included); updated_at moves."""
        with self._lock:
            record = self._require(contact_id)
            self._apply(record, self._admin_fields(changes))
            return _admin_view(record)

    def disconnect(self, contact_id: int) -> dict[str, Any]:
        return self._set_connected(contact_id, connected=False)

    def connect(self, contact_id: int) -> dict[str, Any]:
        return self._set_connected(contact_id, connected=True)

    def _set_connected(self, contact_id: int, *, connected: bool) -> dict[str, Any]:
        with self._lock:
            record = self._require(contact_id)
            if record["is_connected"] != connected:
                record["is_connected"] = connected
                record["updated_at"] = self._stamp()
            return _admin_view(record)

    def _require(self, contact_id: int) -> dict[str, Any]:
        record = self._find(contact_id)
        if record is None:
            raise Rejected(404, NOT_FOUND)
        return record

    def _sorted(self) -> list[tuple[int, dict[str, Any]]]:
        return sorted(self._contacts.items())

    def _admin_fields(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(changes) - ADMIN_EDITABLE)
        if unknown:
            raise Rejected(400, f"Not editable: {', '.join(unknown)}")
        cleaned: dict[str, Any] = {}
        for name, value in changes.items():
            if name in TEXT_FIELDS and value is not None and not isinstance(value, str):
                raise Rejected(400, f"{name} must be a string or null")
            cleaned[name] = value
        if "is_primary" in changes and not isinstance(changes["is_primary"], bool):
            raise Rejected(400, "is_primary must be a boolean")
        if "company_id" in changes:
            company_id = changes["company_id"]
            if not isinstance(company_id, int) or not self._company_exists(company_id):
                raise Rejected(400, f"company_id {company_id!r} not found")
        if "contact_types" in changes:
            types = changes["contact_types"]
            if not isinstance(types, list) or not types or not set(types) <= CONTACT_TYPES:
                raise Rejected(400, "contact_types must be a non-empty list of contact types")
            cleaned["contact_types"] = list(dict.fromkeys(types))
        if "phones" in changes:
            cleaned["phones"] = normalise_phones(changes["phones"], new_id=self._phone_id, nulls_allowed=True)
        return cleaned
