"""Diff local rows against their last-synced state and plan the writes.

Pure: a `RowState` per local row in, an `Action` (or nothing) out.  How a
change looks on the wire, and which changes the API refuses outright, is the
remote's business (`WireRules`); this module only decides *what* changed.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sync.merge import Record

# int (Lev, session contacts) or a UUID string (company contacts); see sync.remote.
ContactId = int | str


@dataclass(frozen=True)
class PreparedWrite:
    """One HTTP write as it will be sent, byte for byte, on every attempt."""

    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class Refusal:
    """A change the remote would refuse, found without asking it."""

    reason: str
    fields: dict[str, Any]

    @property
    def body(self) -> bytes:
        # Refused values are whatever another program stored (bytes from a BLOB, text that
        # was not UTF-8): the body only has to be stored, compared and shown, never sent.
        try:
            return self._json(ascii_only=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: escaped as \udcxx instead
            return self._json(ascii_only=True).encode()

    def _json(self, *, ascii_only: bool) -> str:
        return json.dumps(
            self.fields, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only, default=shown_as_text
        )


class WireRules(Protocol):
    """What the planner needs to know of a remote API's writes."""

    @property
    def writable(self) -> Collection[str]: ...

    def prepare_create(self, fields: Record) -> PreparedWrite | Refusal: ...

    def prepare_update(
        self, remote_id: ContactId, changes: Record
    ) -> tuple[PreparedWrite | None, Refusal | None]: ...

    def prepare_delete(self, remote_id: ContactId) -> PreparedWrite | Refusal | None:
        """The write a row deleted locally becomes; a Refusal when the API cannot delete;
        None when a local delete is no write at all (the next pull brings the row back)."""
        ...


@dataclass(frozen=True)
class RowState:
    """A local row with the bookkeeping that decides whether it needs a write."""

    local_id: int
    remote_id: ContactId | None
    local: Record
    base: Record | None
    held_fields: frozenset[str] = frozenset()
    refused_bodies: frozenset[bytes] = frozenset()


@dataclass(frozen=True)
class Write:
    local_id: int
    remote_id: ContactId | None
    request: PreparedWrite
    fields: dict[str, Any]  # the local values this write carries, to settle its answer


@dataclass(frozen=True)
class Rejection:
    local_id: int
    reason: str
    body: bytes
    # "DELETE" for a refused deletion of a row already gone: kept while its contact is synced,
    # so that it is said once, not on every run.
    method: str = "-"


@dataclass(frozen=True)
class RowPlan:
    write: Write | None = None
    rejection: Rejection | None = None
    # Earlier refusals this row still reproduces; any other refusal of the row is obsolete.
    still_refused: frozenset[bytes] = frozenset()
    # Columns the API owns that were edited locally: the last-synced value, to put back.
    restore: dict[str, Any] = field(default_factory=dict)


def shown_as_text(value: Any) -> str:
    """A value JSON cannot hold (a BLOB's bytes, say), as stable text: for records, never sent."""
    if isinstance(value, memoryview):  # psycopg's bytea
        value = value.tobytes()
    return repr(value)


# Built once: json.dumps with options builds an encoder per call, and a pull digests every contact.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """The bytes we send and compare: compact, sorted keys, UTF-8 kept as is."""
    return _CANONICAL.encode(value).encode()


def changed_fields(
    local: Record, base: Record, *, writable: Collection[str], held: Collection[str] = ()
) -> dict[str, Any]:
    """Writable fields whose local value differs from the last-synced one.

    A value changed and changed back is equal to its base again: it sends nothing.
    """
    return {
        name: local.get(name) for name in writable if name not in held and local.get(name) != base.get(name)
    }


def owned_edits(local: Record, base: Record, *, writable: Collection[str]) -> dict[str, Any]:
    """Fields the API owns (ids, types, timestamps...) whose local value left the last-synced
    one: that value, to put back. Only the API changes them; a local edit would linger unseen."""
    return {name: value for name, value in base.items() if name not in writable and local.get(name) != value}


def plan_row(row: RowState, rules: WireRules) -> RowPlan:
    """Decide the write (or the local refusal) one row needs, if any.

    | remote id | base    | local vs base      | action                              |
    |-----------|---------|--------------------|-------------------------------------|
    | none      | none    | -                  | POST the row, or refuse it locally  |
    | any       | present | API-owned differ   | put the base's values back, then on |
    |           |         | (id cleared too)   | as below with the base's id         |
    | set       | none    | -                  | nothing: the next pull settles it   |
    | set       | present | same (or all held) | nothing                             |
    | set       | present | fields differ      | PATCH just those fields, refusing   |
    |           |         |                    | the ones the API would not take     |

    A write or refusal whose bytes equal one already refused is not made again:
    the person must change the row, or re-queue it (`contacts-sync retry`).
    """
    if row.remote_id is None and row.base is None:
        created = rules.prepare_create(row.local)
        if isinstance(created, Refusal):
            return _refuse(row, created, RowPlan())
        fields = {name: row.local.get(name) for name in rules.writable}
        return _send(row, Write(row.local_id, None, created, fields), RowPlan())
    if row.base is None:
        return RowPlan()
    plan = RowPlan(restore=owned_edits(row.local, row.base, writable=rules.writable))
    remote_id = row.base.get("id", row.remote_id)
    changes = changed_fields(row.local, row.base, writable=rules.writable, held=row.held_fields)
    if not changes or remote_id is None:
        return plan
    prepared, refusal = rules.prepare_update(remote_id, changes)
    if refusal is not None:
        plan = _refuse(row, refusal, plan)
    if prepared is not None:
        refused_fields = refusal.fields if refusal is not None else {}
        sent = {name: value for name, value in changes.items() if name not in refused_fields}
        plan = _send(row, Write(row.local_id, remote_id, prepared, sent), plan)
    return plan


def _send(row: RowState, write: Write, plan: RowPlan) -> RowPlan:
    if write.request.body in row.refused_bodies:
        return replace(plan, still_refused=plan.still_refused | {write.request.body})
    return replace(plan, write=write)


def _refuse(row: RowState, refusal: Refusal, plan: RowPlan) -> RowPlan:
    if refusal.body in row.refused_bodies:
        return replace(plan, still_refused=plan.still_refused | {refusal.body})
    return replace(plan, rejection=Rejection(row.local_id, refusal.reason, refusal.body))
