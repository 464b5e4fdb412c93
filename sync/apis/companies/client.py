"""The company-contacts API over HTTP: a thin shell around `wire.py` and `walk.py`.

Requests go through the shared `sync.apis.http.HttpShell` (pacing, logging,
deadlines, the one retry loop, errors, redaction). What is particular here:

* the list is walked company after company with `skip`/`limit` (`walk.py`);
* the API has no idempotency keys, so a create is never resent blindly: once
  an attempt's outcome is unknown (a timeout or a dropped connection after
  sending, a 5xx, a garbled answer) every resend is preceded by a lookup for
  the contact that attempt may have made (`find_created`), which is adopted
  instead. PATCH and DELETE are idempotent and resent as they are.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sync.apis import http as shared
from sync.apis.companies.account import identity_of
from sync.apis.companies.fields import CONTACTS_PATH, DOCUMENTED_DEFAULT_LIMIT, PAGE_LIMIT_ASKED
from sync.apis.companies.walk import BadPosition, PageSize, Position, first_position, next_step, position_of
from sync.apis.companies.wire import (
    CompaniesWireRules,
    canonical_uuid,
    contact_path,
    error_for,
    parse_contact,
    parse_list,
)
from sync.errors import (
    ConfigError,
    ContactGone,
    FatalError,
    InvalidResponse,
    NetworkError,
    PageTooLarge,
    RequestRejected,
    ServerUnavailable,
)
from sync.plan import ContactId, PreparedWrite
from sync.remote import AccountIdentity, Pacer, Page, Taken
from sync.retrying import RetryBudget, RetryPolicy

JSON_HEADERS = {"Content-Type": "application/json"}
# How far the API's clock (created_at) may lag ours (a write's first attempt) and a contact
# our lost create made still count as made after it.
CLOCK_MARGIN = timedelta(minutes=5)


def open_http(
    *,
    base_url: str,
    token: str,
    timeout: float = 30.0,
    verify: bool = True,
    stop: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client sending the bearer token on every call (the seed requires it on the
    list and DELETE only; sending it everywhere costs nothing and counts us as one client)."""
    return shared.open_http(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=timeout,
        verify=verify,
        stop=stop,
        transport=transport,
    )


class CompaniesClient:
    """The company-contacts endpoints for the engine (see `sync.remote.Remote`)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        company_ids: Sequence[str],
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int = PAGE_LIMIT_ASKED,
        rng: random.Random | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        """`company_ids`: the companies to sync; `secrets` are masked in every answer,
        besides the token the client sends."""
        companies = [canonical_uuid(company) for company in company_ids]
        if not companies or None in companies:
            raise ConfigError("CONTACTS_SYNC_COMPANY_IDS must list the company ids (UUIDs) to sync")
        self.companies: list[str] = sorted({company for company in companies if company})
        self.rules = CompaniesWireRules(self.companies)
        self._http = http
        self._shell = shared.HttpShell(
            http,
            error_for=error_for,
            endpoint_of=functools.partial(shared.endpoint_template, collection=CONTACTS_PATH),
            retry=retry,
            budget=budget,
            pacer=pacer,
            sleep=sleep,
            rng=rng,
            secrets=secrets,
        )
        self.stats = self._shell.stats
        self._size = PageSize(asked=page_limit)
        # The next position, when the page before it may have been cut by a silent cap.
        self._probe: tuple[Position, int] | None = None
        self._size_lock = threading.Lock()

    def close(self) -> None:
        self._shell.close()

    # -- reads -------------------------------------------------------------------

    def fetch_identity(self) -> AccountIdentity:
        """One list request per company (`limit=1`): the token owns every synced company."""
        for company in self.companies:
            self._shell.with_retries(functools.partial(self._owned, company))
        return identity_of(self.companies, base_url=str(self._http.base_url))

    def fetch_page(self, cursor: str | None, *, updated_since: datetime | None = None) -> Page:
        if updated_since is not None:  # the adapter does not declare `incremental`
            raise FatalError("this API has no updated_at filter: walk the whole list")
        if cursor is None:
            at = first_position(self.companies)
            assert at is not None  # the constructor refuses an empty list
        else:
            try:
                at = position_of(cursor, self.companies)
            except BadPosition as exc:
                message = f"{exc}; the list is walked again from the start"
                raise RequestRejected(message, status=400, request_id=None) from None
        contacts, size = self._read_page(at)
        with self._size_lock:
            probing = self._probe[1] if self._probe is not None and self._probe[0] == at else None
            step = next_step(at, len(contacts), size, self.companies, probing=probing)
            if step.size != size:  # learned a cap: ask no more than it from now on
                self._size = step.size
            self._probe = (step.next, step.probing) if step.next and step.probing else None
        next_cursor = step.next.cursor if step.next is not None else None
        return Page(contacts, next_cursor, next_cursor is not None, request_id=None, total=None)

    def _read_page(self, at: Position) -> tuple[list[dict[str, Any]], PageSize]:
        """One page at `at`, asking the largest page known to be taken; a 422 on `limit`
        lowers it to what the server says it takes (else the documented default) and asks again."""
        what = f"GET {CONTACTS_PATH} of company {at.company_id} from {at.skip}"

        def attempt() -> tuple[list[dict[str, Any]], PageSize]:
            while True:
                with self._size_lock:
                    size = self._size
                params = {"company_id": at.company_id, "skip": at.skip, "limit": size.asked}
                try:
                    return self._list(what, params, at.company_id), size
                except PageTooLarge as exc:
                    smaller = _smaller(size, exc)
                    if smaller is None:
                        raise
                    with self._size_lock:
                        self._size = smaller

        result: tuple[list[dict[str, Any]], PageSize] = self._shell.with_retries(attempt)
        return result

    def _owned(self, company: str) -> None:
        # A 403 names the company and says the token does not own it (wire.error_for).
        self._list(f"GET {CONTACTS_PATH} of company {company}", {"company_id": company, "limit": 1}, company)

    def _list(self, what: str, params: dict[str, Any], company: str) -> list[dict[str, Any]]:
        def parse(raw: bytes, *, what: str) -> tuple[list[dict[str, Any]], None]:
            return parse_list(raw, what=what, company_id=company), None

        contacts: list[dict[str, Any]] = self._shell.call("GET", CONTACTS_PATH, what, parse, params=params)
        return contacts

    def _company_contacts(self, company: str) -> Iterator[dict[str, Any]]:
        """Every contact of one company, paged like `fetch_page` (offsets may repeat rows)."""
        at: Position | None = Position(company, 0)
        probing: int | None = None
        while at is not None and at.company_id == company:
            contacts, size = self._read_page(at)
            yield from contacts
            step = next_step(at, len(contacts), size, [company], probing=probing)
            if step.size != size:
                with self._size_lock:
                    self._size = step.size
            at, probing = step.next, step.probing

    def fetch_one(self, contact_id: ContactId) -> dict[str, Any] | None:
        """`GET /contacts/{id}`; None when it answers 404, or when the contact now belongs
        to a company this store does not sync (it left the store's scope)."""
        path = contact_path(contact_id)
        if path is None:
            return None  # not a UUID: no contact of this API has that id
        wanted = path.rsplit("/", 1)[1]

        def parse(raw: bytes, *, what: str) -> tuple[dict[str, Any], None]:
            return parse_contact(raw, what=what, contact_id=wanted), None

        def attempt() -> dict[str, Any] | None:
            try:
                found: dict[str, Any] = self._shell.call("GET", path, f"GET {path}", parse)
            except RequestRejected as exc:
                if exc.status == 404:
                    return None
                raise
            return found

        contact: dict[str, Any] | None = self._shell.with_retries(attempt)
        if contact is not None and contact.get("company_id") not in self.companies:
            return None
        return contact

    # -- writes ------------------------------------------------------------------

    def send_write(
        self, request: PreparedWrite, idempotency_key: str, *, taken: Taken = lambda contact_id: False
    ) -> dict[str, Any] | None:
        """Send one write; the API has no idempotency keys, so `idempotency_key` is unused."""
        if request.method == "POST":
            return self._create(request, taken)
        what = f"{request.method} {request.path}"
        if request.method == "PATCH":
            patched = request.path.rsplit("/", 1)[1]

            def parse_patch(raw: bytes, *, what: str) -> tuple[dict[str, Any], None]:
                return parse_contact(raw, what=what, contact_id=patched), None

            def patch() -> dict[str, Any]:
                try:
                    answer: dict[str, Any] = self._shell.call(
                        "PATCH", request.path, what, parse_patch, content=request.body, headers=JSON_HEADERS
                    )
                except RequestRejected as exc:
                    if exc.status == 404:
                        raise ContactGone(
                            f"{exc}: the contact was deleted at the API", status=404, request_id=None
                        ) from None
                    raise
                return answer

            contact: dict[str, Any] = self._shell.with_retries(patch)
            return contact
        if request.method == "DELETE":

            def delete() -> None:
                try:
                    # Any success is done: a 204 has no body, and we need none.
                    self._shell.call("DELETE", request.path, what, lambda raw, *, what: (None, None))
                except RequestRejected as exc:
                    if exc.status != 404:  # 404: already gone, which is what was asked
                        raise

            self._shell.with_retries(delete)
            return None
        raise FatalError(f"{what}: the company-contacts API has no such write")

    def _create(self, request: PreparedWrite, taken: Taken) -> dict[str, Any]:
        """POST once; after an attempt whose outcome is unknown, look before every resend."""
        what = f"POST {CONTACTS_PATH}"
        company = _sent_fields(request).get("company_id")
        unknown = False
        first_sent = datetime.now(UTC)

        def parse(raw: bytes, *, what: str) -> tuple[dict[str, Any], None]:
            contact = parse_contact(raw, what=what)
            if company is not None and contact.get("company_id") != company:
                # Not retried (not InvalidResponse): a resend would make it again, elsewhere.
                raise FatalError(
                    f"{what}: the API made the contact in company {contact.get('company_id')}, "
                    f"not in {company} as asked; nothing is sent again"
                )
            return contact, None

        def attempt() -> dict[str, Any]:
            nonlocal unknown
            if unknown:
                found = self.find_created(request, taken=taken, since=first_sent)
                if found is not None:
                    return found
            try:
                created: dict[str, Any] = self._shell.call(
                    "POST", CONTACTS_PATH, what, parse, content=request.body, headers=JSON_HEADERS
                )
            except shared.ConnectFailed:
                raise  # nothing was sent
            except (NetworkError, ServerUnavailable, InvalidResponse):
                unknown = True  # it may have been made: never send it again without looking
                raise
            return created

        contact: dict[str, Any] = self._shell.with_retries(attempt)
        return contact

    def find_created(
        self,
        request: PreparedWrite,
        *,
        taken: Taken = lambda contact_id: False,
        since: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The contact an earlier attempt of this create may have made, or None.

        Among the company's contacts no other row holds (`taken`), with the create's email
        (the API requires one; case-insensitive: it normalises at least the domain's case):
        one matching every other sent field too (as sent, or the API's default: null, false
        for is_primary); failing that, when the first attempt's time is known (`since`),
        one made after it (`created_at`, less a margin for the two clocks) and edited since
        (`updated_at` later): someone may have edited the contact our create made before
        this retry. Of several, the newest: an older twin is a contact someone made before.
        """
        sent = _sent_fields(request)
        company = sent.get("company_id")
        if request.method != "POST" or not isinstance(company, str) or company not in self.companies:
            return None
        email = _folded(sent.get("email"))
        same: list[dict[str, Any]] = [
            contact
            for contact in self._company_contacts(company)
            if email is not None and _folded(contact.get("email")) == email and not taken(contact["id"])
        ]
        exact = [contact for contact in same if _matches(contact, sent)]
        if not exact and since is not None:
            # Only a contact edited since it was made: one made as it stands is someone else's
            # (a person adding the same email in the app), never ours changed by a person.
            made_after = since - CLOCK_MARGIN
            exact = [c for c in same if made_after <= _created(c) < _stamp(c, "updated_at")]
        return max(exact, key=_created, default=None)


def _sent_fields(request: PreparedWrite) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _folded(email: object) -> str | None:
    return email.casefold() if isinstance(email, str) else None


def _matches(contact: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Every sent field but the email (compared by the caller) as sent, or as defaulted."""
    for name in ("first_name", "last_name", "phone", "designation"):
        if sent.get(name) != contact.get(name):
            return False
    return bool(sent.get("is_primary", False)) == bool(contact.get("is_primary"))


def _created(contact: dict[str, Any]) -> datetime:
    return _stamp(contact, "created_at")


def _stamp(contact: dict[str, Any], name: str) -> datetime:
    text = contact.get(name)
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _smaller(size: PageSize, exc: PageTooLarge) -> PageSize | None:
    """The page size to ask after a 422 on `limit`: what the server says it takes, else the
    documented default; None when that is no smaller than what was refused."""
    for cap in (exc.limit_max, DOCUMENTED_DEFAULT_LIMIT):
        if cap is not None and 1 <= cap < size.asked:
            return size.learned(cap)
    return None
