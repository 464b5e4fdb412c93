"""What the engine needs of a contacts API: the interface each client implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sync.plan import ContactId, PreparedWrite, WireRules


@dataclass(frozen=True)
class Page:
    contacts: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool
    request_id: str | None
    total: int | None = None  # how many the whole list holds, when the API says
    timestamp: str | None = None  # when the API answered, by its own clock (its envelope), if it says


@dataclass(frozen=True)
class AccountIdentity:
    """Which account of which API a client reaches: what a store is bound to.

    Two identities name the same account when `api`, `base_url` and `account_id`
    agree. `account_id` is whatever tells accounts apart at that API (Lev: the
    account id; an API that knows only its session user: that user), and
    `account_name` how people know it: shown, never compared. `details` is the
    rest of the API's answer (tier, rate limits), used by the run, never stored.
    """

    api: str  # the adapter: "lev"
    base_url: str  # normalised: see sync.identity.normalised_base_url
    account_id: str
    account_name: str
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class RequestStats:
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)


class Pacer(Protocol):
    """Spaces requests per endpoint within the API's rate limits (`sync.pacing`)."""

    def wait(self, endpoint: str) -> None: ...

    def answered(self, endpoint: str) -> None: ...

    def slow_down(self, endpoint: str, retry_after: float | None) -> None: ...

    def succeeded(self) -> None: ...


class Remote(Protocol):
    """The engine's one view of any contacts API; each adapter's client implements it.

    `fetch_page` walks the whole list from an opaque position: a cursor (Lev), an
    encoded company and offset, or a place in one streamed answer; the engine only
    stores and hands back what `Page.next_cursor` gave it. A position the client
    cannot resume from (an expired cursor, a stream of another process) raises
    RequestRejected, and the engine starts the walk over.

    Which writes exist and how a lost answer is made safe to retry is the adapter's
    (`Adapter.writes`, `Adapter.retry_safety`); a client need not implement what its
    adapter does not declare, but then raises FatalError naming the method.
    """

    @property
    def rules(self) -> WireRules: ...

    @property
    def stats(self) -> RequestStats: ...

    def fetch_identity(self) -> AccountIdentity:
        """Which account the credentials reach at this base URL (one cheap read)."""
        ...

    def fetch_page(self, cursor: str | None, *, updated_since: datetime | None = None) -> Page:
        """One page of contacts from `cursor` (None: the first page).

        `updated_since`: only contacts updated at or after it, by the API's range filter
        (`Adapter.incremental`); whether the server honours it is for the engine to prove.
        """
        ...

    def fetch_one(self, contact_id: ContactId) -> dict[str, Any] | None:
        """One contact as the list shows it; None when the API answers that it does not exist.

        The proof that a contact missing from an offset walk is gone (`vanished="confirm"`).
        """
        ...

    def send_write(
        self, request: PreparedWrite, idempotency_key: str, *, taken: Taken = lambda contact_id: False
    ) -> dict[str, Any] | None:
        """Send one write, retried with the same key and bytes; the contact it answers.

        None for a delete: answered 204, or 404 (already gone, which is what was asked).
        APIs without idempotency keys ignore the key; their retries of a create go
        through `find_created` first, never blindly, passing `taken` on.
        """
        ...

    def find_created(
        self,
        request: PreparedWrite,
        *,
        taken: Taken = lambda contact_id: False,
        since: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The contact an earlier attempt of this create may have made, or None.

        For `retry_safety == "lookup"`: called before a create whose first attempt's
        outcome is unknown is sent again (after a timeout, a reset, a crash), and
        adopted instead of sending it twice. Matches on what the create carried
        (same company and email, and the other sent fields); `since`, when the first
        attempt's time is known, also admits a contact with the create's identity made
        after it but edited by someone since. A contact `taken` says another row
        already holds is never the one: a twin row's contact, made before.
        """
        ...


# Whether another local row already holds a contact: the engine knows, the client asks.
Taken = Callable[[ContactId], bool]


class ClosableRemote(Remote, Protocol):
    """A Remote that holds a connection: what an adapter builds for a run."""

    def close(self) -> None: ...
