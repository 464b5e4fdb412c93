"""One description per contacts API: what the engine, the planner and the store may know of it.

An API is a folder under `sync/apis/` (client, wire rules, fields, sandbox) and
one `Adapter` value registered in `sync.apis.registry`. Everything above the
adapters reads capabilities from that value, never from the API's name: a store
builds its `contacts` table from `columns`, the planner asks `wire_rules(settings)`,
the run gets its client from `connect`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

from sync.apis.kinds import Kind
from sync.pacing import RateBudget
from sync.plan import WireRules
from sync.remote import AccountIdentity, ClosableRemote, Pacer
from sync.retrying import RetryBudget, RetryPolicy

if TYPE_CHECKING:
    from config.settings import Settings


@dataclass(frozen=True)
class CursorPaging:
    """Each page names the next by an opaque cursor, stable while contacts change."""

    limit_max: int


@dataclass(frozen=True)
class OffsetPaging:
    """`skip`/`limit` pages: a contact created or deleted during a walk shifts the rest."""

    limit_max: int


@dataclass(frozen=True)
class WholeList:
    """One request answers every contact; nothing to resume from."""


Paging = CursorPaging | OffsetPaging | WholeList
WriteKind = Literal["create", "update", "delete"]
# How a write whose answer was lost is sent again without doing it twice: the same
# idempotency key (the API replays its first answer), or a lookup for what it made.
RetrySafety = Literal["idempotency-key", "lookup"]
# What a contact missing from a whole walk means. "flag": set `flag_column` false in its
# row, never delete (Lev lists only connected contacts; a list in one answer). "confirm":
# ask `fetch_one`; a 404 proves it deleted (offset walks skip rows when others go).
Vanished = Literal["flag", "confirm"]


@dataclass(frozen=True)
class ClientParts:
    """What a run lends every API's client: one retry policy, pacer and shutdown for all."""

    retry: RetryPolicy
    budget: RetryBudget
    sleep: Callable[[float], None]  # ends with Interrupted on a shutdown
    pacer: Pacer | None = None
    stop: threading.Event | None = None
    transport: httpx.BaseTransport | None = None  # tests: replaces the network


@dataclass(frozen=True)
class Adapter:
    """A contacts API as data: capabilities are fields here, never `if api == ...` elsewhere."""

    name: str  # the `api` setting's value, and AccountIdentity.api
    title: str  # how people name the API in messages
    id_type: type[int] | type[str]  # of a contact's `id`
    fields: Mapping[str, Kind]  # the Contact object as the API answers it, in its documented order
    writable: frozenset[str]  # what an update may carry
    create_only: frozenset[str]  # what a create may carry besides `writable`
    # The local `contacts` columns besides the store's own (`local_id`, `extra`), in order.
    columns: Mapping[str, Kind]
    writes: frozenset[WriteKind]
    retry_safety: RetrySafety
    paging: Paging
    vanished: Vanished
    flag_column: str | None  # with vanished="flag": the column set false, and read as "connected"
    account: str  # what a store is bound to, in words: "the account of the API token (GET /me)"
    # Raises ConfigError naming every setting this API needs and lacks (token, cookie, ids...).
    check_settings: Callable[[Settings], None]
    # The request budget to pace to, from the settings and what identified the account.
    rate_budget: Callable[[Settings, AccountIdentity], RateBudget | None]
    wire_rules: Callable[[Settings], WireRules]  # how local values become request bodies
    connect: Callable[[Settings, ClientParts], ClosableRemote]
    # `contacts-sync sandbox --api NAME ARGS...`: parse ARGS, serve on loopback until stopped; exit code.
    serve_sandbox: Callable[[list[str]], int]
    demo: Callable[[str], int]  # `contacts-sync demo`: the story against the bundled sandbox; exit code
    # A field by which the API itself retires a contact (session contacts: is_active). Many
    # contacts turning false in one walk meet the same safety stop as many leaving the list.
    active_field: str | None = None
    # Whether `fetch_page(updated_since=...)` can ask the API's updated_at range filter: then a
    # run may walk only what changed (sync.incremental), once a probe proves it honoured.
    incremental: bool = False
    # With retry_safety="lookup": what a lost create is looked up by, from the create's body
    # (company and email, say). Creates with one key wait in one queue, so a row's lookup never
    # meets the contact another row's create is making. None: the whole body is the key.
    lookup_key: Callable[[bytes], object] | None = None

    def __post_init__(self) -> None:
        unknown = (self.writable | self.create_only) - set(self.columns)
        if unknown:
            raise ValueError(f"adapter {self.name}: writable fields without a column: {sorted(unknown)}")
        if "id" not in self.columns:
            raise ValueError(f"adapter {self.name}: the contacts columns need an 'id'")
        if (self.vanished == "flag") != (self.flag_column in self.columns):
            raise ValueError(f"adapter {self.name}: vanished='flag' needs a flag_column among the columns")

    @property
    def api_owned(self) -> frozenset[str]:
        """Columns that follow the API: a local edit of one is put back, never sent."""
        return frozenset(self.columns) - self.writable
