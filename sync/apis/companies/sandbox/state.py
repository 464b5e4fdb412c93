"""The in-memory companies API behind the sandbox: accounts, companies, contacts and all it remembers.

``CompaniesState`` holds the seeded data, each company's contacts in created
order, the rate-limit windows, the fault plan, switches (``max_limit``,
``retry_after_header``, ``latency_ms``) and the request log (the newest
``log_limit`` requests with their answers: bounded, for long benchmark runs),
all behind one lock so the threaded server can call it from any thread. Contact operations
return rendered JSON bytes or raise ``Refused``; they never touch a socket.

Offsets are live, with no snapshot isolation: a contact created (at its
``created_at`` place) or deleted between two pages moves the later ones, so a
walk by ``skip`` can repeat or miss contacts, as against a real database.

The ``admin_*`` methods are how tests and "other users" change the data
behind the client's back; the server exposes them under ``/_admin``.
"""

from __future__ import annotations

import bisect
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sync.apis.companies.sandbox.answers import Refused
from sync.apis.companies.sandbox.contacts import Account, Company, Contact
from sync.apis.companies.sandbox.faults import Faults
from sync.apis.companies.sandbox.limits import GENERAL_PER_MINUTE, POST_PER_MINUTE, ClientLimits
from sync.apis.companies.sandbox.seed import random_uuid, seed_data
from sync.apis.companies.sandbox.validation import DEFAULT_LIMIT, contact_fields
from sync.apis.lev.sandbox.envelope import utc_stamp
from sync.apis.sandbox_kit.faults import FaultDecision
from sync.apis.sandbox_kit.requestlog import RequestLogging

TOKEN_PREFIX: Final[str] = "cmp_sk_sandbox_"  # noqa: S105 - a prefix, not a secret
NOT_FOUND: Final[str] = "Contact not found"
COMPANY_NOT_FOUND: Final[str] = "Company not found"
FORBIDDEN: Final[str] = "Not enough permissions to access this company's contacts"


def generated_token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(16)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with a zone (``Z`` or offset), in UTC; ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


def stamp_text(moment: datetime) -> str:
    # Pydantic's form: fractional seconds only when there are some.
    return utc_stamp(moment, micro=moment.microsecond != 0)


class CompaniesState(RequestLogging):
    """One companies API: accounts (tokens), companies, contacts, limits, faults, log; thread-safe."""

    def __init__(
        self,
        *,
        accounts: int = 2,
        companies: int = 4,
        contacts_per_company: int = 25,
        seed: int = 0,
        tokens: Sequence[str] = (),
        max_limit: int = DEFAULT_LIMIT,
        post_limit: int | None = POST_PER_MINUTE,
        general_limit: int | None = GENERAL_PER_MINUTE,
        window_seconds: float = 60.0,
        retry_after_header: bool = False,
        latency_ms: int = 0,
        faults: str | Faults | None = None,
        log_limit: int | None = 2_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(tokens) > accounts or len(set(tokens)) != len(tokens) or not all(tokens):
            raise ValueError("tokens: at most one per account, non-empty and all different")
        if max_limit < 1 or latency_ms < 0:
            raise ValueError("max_limit must be at least 1 and latency_ms not negative")
        self._lock = threading.RLock()
        data = seed_data(
            accounts=accounts, companies=companies, contacts_per_company=contacts_per_company, seed=seed
        )
        self.companies: dict[str, Company] = {company.id: company for company in data.companies}
        all_tokens = [*tokens, *(generated_token() for _ in range(accounts - len(tokens)))]
        self.accounts: tuple[Account, ...] = tuple(
            Account(number, token, tuple(c.id for c in data.companies if c.account == number))
            for number, token in enumerate(all_tokens, start=1)
        )
        self._by_token = {account.token: account for account in self.accounts}
        self._contacts: dict[str, Contact] = {contact.id: contact for contact in data.contacts}
        self._by_company: dict[str, list[Contact]] = {company_id: [] for company_id in self.companies}
        for contact in data.contacts:
            if contact.company_id is not None:
                self._by_company[contact.company_id].append(contact)
        self._next_seq = len(data.contacts) + 1
        self._ids = random.Random(f"companies-new-ids-{seed}")
        newest = max((parse_instant(c.updated_at) for c in data.contacts), default=datetime.now(UTC))
        self._last_stamp = max(newest, datetime.now(UTC) - timedelta(seconds=1))
        self.max_limit = max_limit
        self.retry_after_header = retry_after_header
        self.latency_ms = latency_ms
        self.limits = ClientLimits(
            post_limit=post_limit, general_limit=general_limit, window_seconds=window_seconds, clock=clock
        )
        self._faults = faults if isinstance(faults, Faults) else Faults.parse(faults)
        self._start_request_log(limit=log_limit)

    # -- accounts ------------------------------------------------------------

    @property
    def token(self) -> str:
        """The first account's token (the one ``serve`` prints)."""
        return self.accounts[0].token

    def account_of(self, token: str) -> Account | None:
        return self._by_token.get(token)

    # -- clocks and ids --------------------------------------------------------

    def _stamp(self) -> tuple[datetime, str]:
        # Strictly increasing, so updated_at moves on every change however close two are.
        now = datetime.now(UTC)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now, stamp_text(now)

    def _new_id(self) -> str:
        while True:
            contact_id = random_uuid(self._ids)
            if contact_id not in self._contacts:
                return contact_id

    # -- the API's contact operations -----------------------------------------------

    def list_page(self, company_id: str, skip: int, limit: int) -> bytes:
        """One page of a company's contacts in created order, as a JSON array."""
        with self._lock:
            page = self._by_company.get(company_id, [])[skip : skip + limit]
            return b"[" + b",".join(contact.rendered for contact in page) + b"]"

    def get_contact(self, contact_id: str) -> bytes:
        with self._lock:
            return self._require(contact_id).rendered

    def create_contact(self, fields: Mapping[str, Any]) -> bytes:
        """Store a new contact from checked fields; 400 if its company does not exist."""
        with self._lock:
            contact = self._insert(fields)
            self.counters["contacts_created"] += 1
            return contact.rendered

    def patch_contact(self, contact_id: str, changes: Mapping[str, Any]) -> bytes:
        """Apply the checked changes that differ; updated_at moves when one does."""
        with self._lock:
            contact, changed = self._patch(contact_id, changes)
            if changed:
                self.counters["contacts_patched"] += 1
            return contact.rendered

    def delete_contact(self, contact_id: str) -> None:
        with self._lock:
            self._remove(contact_id)
            self.counters["contacts_deleted"] += 1

    def _insert(self, fields: Mapping[str, Any], *, created: datetime | None = None) -> Contact:
        self._require_company(fields.get("company_id"))
        now, now_text = self._stamp()
        created = created or now
        contact = Contact(
            id=self._new_id(),
            company_id=fields.get("company_id"),
            first_name=fields["first_name"],
            last_name=fields.get("last_name"),
            email=fields["email"],
            phone=fields.get("phone"),
            designation=fields.get("designation"),
            is_primary=bool(fields.get("is_primary", False)),
            created_at=stamp_text(created),
            updated_at=now_text,
            created=created,
            seq=self._next_seq,
        )
        self._next_seq += 1
        self._contacts[contact.id] = contact
        self._place(contact)
        return contact

    def _patch(self, contact_id: str, changes: Mapping[str, Any]) -> tuple[Contact, bool]:
        contact = self._require(contact_id)
        effective = {name: value for name, value in changes.items() if getattr(contact, name) != value}
        if not effective:
            return contact, False
        moves = "company_id" in effective
        if moves:
            self._require_company(effective["company_id"])
            self._unplace(contact)
        for name, value in effective.items():
            setattr(contact, name, value)
        contact.updated_at = self._stamp()[1]
        if moves:
            self._place(contact)
        return contact.changed(), True

    def _remove(self, contact_id: str) -> None:
        contact = self._require(contact_id)
        self._unplace(contact)
        del self._contacts[contact.id]

    def _require(self, contact_id: str) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise Refused(404, NOT_FOUND)
        return contact

    def _require_company(self, company_id: str | None) -> None:
        if company_id is not None and company_id not in self.companies:
            raise Refused(400, COMPANY_NOT_FOUND)

    def _place(self, contact: Contact) -> None:
        if contact.company_id is not None:
            bisect.insort(self._by_company[contact.company_id], contact, key=lambda row: row.order)

    def _unplace(self, contact: Contact) -> None:
        if contact.company_id is None:
            return
        rows = self._by_company[contact.company_id]
        index = bisect.bisect_left(rows, contact.order, key=lambda row: row.order)
        if index < len(rows) and rows[index] is contact:
            del rows[index]

    # -- rate limits and faults -----------------------------------------------------

    def admit(self, client: str, bucket: str) -> float | None:
        with self._lock:
            return self.limits.admit(client, bucket)

    def decide_fault(self, method: str) -> FaultDecision:
        with self._lock:
            return self._faults.decide(method)

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, plan: str | Faults | None) -> Faults:
        """Replace the fault plan; its request numbers count from the next request."""
        parsed = plan if isinstance(plan, Faults) else Faults.parse(plan)
        with self._lock:
            parsed.reset_counts()
            self._faults = parsed
        return parsed

    # -- request log, counters, switches ------------------------------------------------

    def reset_limits(self) -> None:
        with self._lock:
            self.limits.reset()

    def reset_log(self) -> None:
        """Forget the log, the counters, the rate-limit windows and fault numbering."""
        with self._lock:
            self._forget_requests()
            self.limits.reset()
            self._faults.reset_counts()

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "max_limit": self.max_limit,
                "retry_after_header": self.retry_after_header,
                "latency_ms": self.latency_ms,
                "post_limit": self.limits.limits["POST /contacts"],
                "general_limit": self.limits.limits["general"],
                "window_seconds": self.limits.window_seconds,
            }

    def update_settings(
        self,
        *,
        max_limit: int | None = None,
        retry_after_header: bool | None = None,
        latency_ms: int | None = None,
    ) -> dict[str, Any]:
        """Change the switches given; ValueError (nothing changed) for a bad value."""
        if max_limit is not None and max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        if latency_ms is not None and latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        with self._lock:
            if max_limit is not None:
                self.max_limit = max_limit
            if retry_after_header is not None:
                self.retry_after_header = retry_after_header
            if latency_ms is not None:
                self.latency_ms = latency_ms
            return self.settings()

    # -- admin: other users changing the data ---------------------------------------

    def all_contacts(self, company_id: str | None = None) -> list[dict[str, Any]]:
        """Every contact in created order, or one company's."""
        with self._lock:
            rows = sorted(self._contacts.values(), key=lambda row: row.order)
            return [row.view() for row in rows if company_id is None or row.company_id == company_id]

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._contacts.get(contact_id)
            return None if found is None else found.view()

    def company_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": company.id,
                    "name": company.name,
                    "account": company.account,
                    "contacts": len(self._by_company[company.id]),
                }
                for company in self.companies.values()
            ]

    def admin_create(self, body: Mapping[str, Any], *, created_at: str | None = None) -> dict[str, Any]:
        """Create a contact as another user would; ``created_at`` (ISO) backdates its place.

        ``company_id`` defaults to the first company. Raises ``Refused``.
        """
        created = None
        if created_at is not None:
            try:
                created = parse_instant(created_at)
            except ValueError:
                raise Refused(
                    400, f"created_at {created_at!r} is not an ISO-8601 instant with a zone"
                ) from None
        fields = dict(body)
        if self.companies:
            fields.setdefault("company_id", next(iter(self.companies)))
        checked = contact_fields(fields, partial=False)
        with self._lock:
            return self._insert(checked, created=created).view()

    def admin_edit(self, contact_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        changes = contact_fields(body, partial=True)
        with self._lock:
            return self._patch(contact_id, changes)[0].view()

    def admin_delete(self, contact_id: str) -> None:
        with self._lock:
            self._remove(contact_id)
