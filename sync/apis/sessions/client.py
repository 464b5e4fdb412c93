"""The session-contacts API over HTTP: a thin shell around `wire.py` and `stream.py`.

Requests go through the shared `sync.apis.http.HttpShell` (pacing, logging,
the deadline and shutdown, the one retry loop, httpx's exceptions made the
product's, answers redacted). What is this API's own:

- The list is one streamed answer. `fetch_page(None)` opens `GET /contacts`
  and returns its first chunk of contacts; each `Page.next_cursor` is a token
  for "the next chunk of this client's open answer", unique per client, so a
  saved token after a restart is refused (RequestRejected) and the engine
  starts over. Each chunk gets the request's full time to arrive (the engine
  stores a chunk between two reads). An answer that breaks off mid-list is
  opened again and read on, skipping the contacts already handed out.
- No idempotency key: a create whose outcome is unknown (a lost answer, a
  5xx, a garbled 200) is looked up by its email in the list before it is sent
  again, and a duplicate-email refusal resolves to the contact that has it.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime
from secrets import token_hex
from typing import Any

import httpx
import structlog

from sync.apis import http as shared
from sync.apis.sessions.account import identity_of_app
from sync.apis.sessions.fields import CHUNK_CONTACTS, CONTACTS_PATH
from sync.apis.sessions.stream import ArrayStream
from sync.apis.sessions.wire import (
    SessionsWireRules,
    contact_from_wire,
    is_duplicate_email,
    parse_contact,
    same_email,
    sent_email,
)
from sync.errors import (
    AuthError,
    FatalError,
    InvalidResponse,
    NetworkError,
    RateLimited,
    RequestRejected,
    ServerUnavailable,
)
from sync.plan import ContactId, PreparedWrite
from sync.redaction import spellings
from sync.remote import AccountIdentity, Page, RequestStats, Taken
from sync.transport import RENEW_DEADLINE

log = structlog.get_logger("sync.http")

LIST = f"GET {CONTACTS_PATH}"
CREATE = f"POST {CONTACTS_PATH}"
JSON_HEADERS = {"Content-Type": "application/json"}
# RequestRejected needs a status: a position in an answer this process no longer holds is gone.
GONE = 410


def endpoint_of(method: str, path: str) -> str:
    """The rate-limit bucket of a request (the API documents none: one per route)."""
    return f"{method} {path}"


class _Walk:
    """One open `GET /contacts` answer, handed out chunk by chunk."""

    def __init__(self, token_prefix: str) -> None:
        self.token_prefix = token_prefix
        self.chunks = 0  # handed out so far
        # Ids handed out, 8 bytes each: only an answer read again needs them as a set.
        self.handed_out = array("q")
        self.skipped: set[int] = set()  # while an answer is read again: the ids to skip
        self.response: httpx.Response | None = None
        self.stream: ArrayStream | None = None

    @property
    def token(self) -> str:
        """The cursor of the next chunk: unique to this walk and this chunk."""
        return f"{self.token_prefix}.{self.chunks}"

    def drop(self) -> None:
        """Close the answer (its connection is not reused: the rest was never read)."""
        if self.response is not None:
            self.response.close()
        self.response = self.stream = None


class SessionsClient:
    """The session-contacts endpoints for the engine (see `sync.remote.Remote`)."""

    def __init__(
        self,
        shell: shared.HttpShell,
        *,
        secrets: Iterable[str] = (),
        chunk_contacts: int = CHUNK_CONTACTS,
    ) -> None:
        """`secrets`: the credentials (the cookie's spellings), masked in the list's bytes too;
        the shell masks them in every other answer."""
        self.rules = SessionsWireRules()
        self._shell = shell
        self._chunk = chunk_contacts
        # Tokens from another client (another process, an earlier run) never match this one's.
        self._instance = token_hex(6)
        self._walks = itertools.count(1)
        self._walk: _Walk | None = None
        self._walk_lock = threading.Lock()
        # Masks the credentials in list bytes too; a spelling may straddle two network reads.
        given = [*secrets, *shared.credentials(shell.http)]
        forms = [form for secret in given if secret for form in spellings(secret)]
        self._keep = max((len(form.encode()) for form in forms), default=1) - 1

    @property
    def stats(self) -> RequestStats:
        return self._shell.stats

    def close(self) -> None:
        with self._walk_lock:
            if self._walk is not None:
                self._walk.drop()
                self._walk = None
        self._shell.close()

    # --- reads ------------------------------------------------------------------------

    def fetch_identity(self) -> AccountIdentity:
        """The app at this base URL, once the session is shown to work there.

        The API names no user, so the proof is one authenticated read: `GET /contacts`
        answered 2xx (401 when the session is over); its body is not read.
        """
        what = f"{LIST} (checking the session)"

        def check() -> None:
            self._open_list(what).close()

        self._shell.with_retries(check)
        return identity_of_app(str(self._shell.http.base_url))

    def fetch_page(self, cursor: str | None, *, updated_since: datetime | None = None) -> Page:
        if updated_since is not None:  # the adapter does not declare `incremental`
            raise FatalError("this API has no updated_at filter: walk the whole list")
        with self._walk_lock:
            if cursor is None:
                if self._walk is not None:
                    self._walk.drop()
                self._walk = _Walk(f"{self._instance}.{next(self._walks)}")
            elif self._walk is None or cursor != self._walk.token:
                raise RequestRejected(
                    f"{LIST}: the saved position belongs to a list answer this process does not hold "
                    "open (a run stopped mid-list): the list is read again from its start",
                    status=GONE,
                    request_id=None,
                )
            walk = self._walk
            what = f"{LIST} (contacts {walk.chunks * self._chunk + 1}-)"
            contacts = self._shell.with_retries(lambda: self._next_chunk(walk, what))
            walk.chunks += 1
            finished = walk.stream is not None and walk.stream.finished
            if finished:
                log.info("sessions.list.read", contacts=len(walk.handed_out), chunks=walk.chunks)
                walk.drop()
                self._walk = None
            return Page(contacts, None if finished else walk.token, not finished, request_id=None)

    def _next_chunk(self, walk: _Walk, what: str) -> list[dict[str, Any]]:
        """Up to a chunk of contacts not handed out yet, opening the answer (again) if needed.

        Nothing counts as handed out until the whole chunk is read and checked, so an
        answer that breaks off mid-chunk is read again from its start, skipping only
        the contacts of earlier chunks.
        """
        if walk.stream is None:
            walk.response = self._open_list(what)
            walk.stream = ArrayStream(self._masked(walk.response), what=LIST)
            walk.skipped = set(walk.handed_out)  # empty unless the answer broke off earlier
        stream, renew = walk.stream, walk.response.extensions.get(RENEW_DEADLINE) if walk.response else None
        if callable(renew):
            renew()  # the engine stored the last chunk meanwhile: that time is not the server's
        chunk: list[dict[str, Any]] = []
        try:
            with self._shell.reading(what):
                while len(chunk) < self._chunk and not stream.finished:
                    first = stream.taken + 1
                    for number, item in enumerate(stream.take(self._chunk - len(chunk)), start=first):
                        contact = contact_from_wire(item, what=what, number=number)
                        if contact["id"] not in walk.skipped:
                            chunk.append(contact)
        except BaseException:
            walk.drop()  # read again from its start on the next attempt
            raise
        # A contact listed twice is the engine's to find (it checks every page against the walk).
        walk.handed_out.extend(contact["id"] for contact in chunk)
        return chunk

    def _open_list(self, what: str) -> httpx.Response:
        try:
            return self._shell.open_stream("GET", CONTACTS_PATH, what, headers={"Accept": "application/json"})
        except RequestRejected as exc:
            if exc.status == 403:  # the translation reads 403 as a create's; on a read it is fatal
                raise AuthError(f"{what} answered 403: the session's user may not list contacts") from None
            raise

    def _masked(self, response: httpx.Response) -> Iterator[bytes]:
        """The answer's bytes with the credentials masked, holding back a possible partial spelling."""
        redactor = self._shell.redactor
        pending = b""
        for piece in response.iter_bytes():
            pending = redactor.answer(pending + piece)
            if len(pending) > self._keep:
                cut = len(pending) - self._keep
                yield pending[:cut]
                pending = pending[cut:]
        if pending:
            yield redactor.answer(pending)

    def fetch_one(self, contact_id: ContactId) -> dict[str, Any] | None:
        raise FatalError(
            "the session-contacts API has no endpoint for one contact: contacts that leave the list "
            "are flagged, never looked up one by one"
        )

    def find_created(
        self,
        request: PreparedWrite,
        *,
        taken: Taken = lambda contact_id: False,
        since: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The listed contact with the create's email, or None: emails are unique at this API."""
        email = sent_email(request)
        found: dict[str, Any] | None = self._shell.with_retries(lambda: self._find(email))
        return found

    def _find(self, email: str) -> dict[str, Any] | None:
        """One read of the list, stopped at the contact with `email`."""
        what = f"{LIST} (looking up a contact by email)"
        response = self._open_list(what)
        try:
            stream = ArrayStream(self._masked(response), what=what)
            with self._shell.reading(what):
                while not stream.finished:
                    first = stream.taken + 1
                    for number, item in enumerate(stream.take(self._chunk), start=first):
                        listed = item.get("email") if isinstance(item, dict) else None
                        if isinstance(listed, str) and same_email(listed, email):
                            return contact_from_wire(item, what=what, number=number)
            return None
        finally:
            response.close()

    # --- writes -----------------------------------------------------------------------

    def send_write(
        self, request: PreparedWrite, idempotency_key: str, *, taken: Taken = lambda contact_id: False
    ) -> dict[str, Any]:
        """POST one create, never twice: an unknown outcome is looked up before a resend.

        The key is ignored (this API has none). A duplicate-email refusal is the
        contact that holds the email, adopted.
        """
        if (request.method, request.path) != ("POST", CONTACTS_PATH):
            raise FatalError(
                f"{request.method} {request.path}: the session-contacts API only creates contacts "
                "(POST /contacts); this write cannot be sent"
            )
        email = sent_email(request)
        outcome_unknown = False

        def parse(raw: bytes, *, what: str) -> tuple[dict[str, Any], None]:
            return parse_contact(raw, what=what), None

        def attempt() -> dict[str, Any]:
            nonlocal outcome_unknown
            if outcome_unknown:
                # The last attempt may have been applied: its contact is in the list if so.
                found = self._find(email)
                if found is not None:
                    log.info("sessions.create.adopted", contact_id=found["id"], reason="outcome unknown")
                    return found
            try:
                created: dict[str, Any] = self._shell.call(
                    "POST", CONTACTS_PATH, CREATE, parse, content=request.body, headers=JSON_HEADERS
                )
            except (shared.ConnectFailed, RateLimited):
                raise  # never reached the app: resend as is
            except RequestRejected as exc:
                if exc.status == 403 or not is_duplicate_email(exc.status, str(exc)):
                    raise
                return self._adopt_duplicate(email, exc)
            except (ServerUnavailable, NetworkError, InvalidResponse):
                outcome_unknown = True
                raise
            return created

        contact: dict[str, Any] = self._shell.with_retries(attempt)
        return contact

    def _adopt_duplicate(self, email: str, refusal: RequestRejected) -> dict[str, Any]:
        """The contact a duplicate-email refusal points at; a rejection if this session cannot see it."""
        found = self._find(email)
        if found is None:
            raise RequestRejected(
                f"{refusal}; the API holds a contact with this email, but the list this session sees "
                "does not show it (another user's contact?): change the row's email, or have the "
                "contact shared with this user",
                status=refusal.status,
                request_id=None,
            )
        log.info("sessions.create.adopted", contact_id=found["id"], reason="email already exists")
        return found
