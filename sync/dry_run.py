"""`sync --dry-run`: what the next run would do from the store as it is, sending nothing.

It plans from the store as last synced, without pulling (a pull would change
the store), so remote edits made since the last sync are not taken into account,
and it says so. Its exit code is the one the real run would end with as far as
the store can tell: 1 when refused or rejected writes or open conflicts would
still wait for a person afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from storage.store import Store
from storage.tables import StoreTables
from sync.apis.registry import adapter_named
from sync.plan import PreparedWrite, Refusal, WireRules, plan_row


@dataclass
class DryRun:
    lines: list[str] = field(default_factory=list)
    writes: int = 0
    waiting_refusals: int = 0  # refused or rejected writes still waiting after the run
    open_conflicts: int = 0

    @property
    def needs_attention(self) -> bool:
        return bool(self.waiting_refusals or self.open_conflicts)


def preview_run(store: Store, *, conflict_policy: str, rules: WireRules) -> DryRun:
    """The writes, refusals and local deletions the next run would meet, as comment-led lines."""
    preview = DryRun(
        [
            "# dry run: planned from the store as last synced; the API was not contacted, so "
            "changes made there since the last sync are not foreseen"
        ]
    )
    with store.read() as tx:
        for saved in store.load_pending_writes(tx):
            preview.writes += 1
            preview.lines.append(
                f"{saved.method} {saved.path} {saved.body.decode()}"
                f"  # local_id {saved.local_id}, left pending by an earlier run"
            )
        # The run drops a refusal that a newer edit of its row made moot, as the engine's plan does.
        moot: dict[int, set[bytes]] = defaultdict(set)
        for row in store.load_row_states(tx):
            planned = plan_row(row, rules)
            moot[row.local_id] |= row.refused_bodies - planned.still_refused
            if planned.write:
                preview.writes += 1
                request = planned.write.request
                preview.lines.append(
                    f"{request.method} {request.path} {request.body.decode()}  # local_id {row.local_id}"
                )
            if planned.restore:
                preview.lines.append(
                    f"# local_id {row.local_id}: {', '.join(sorted(planned.restore))} belong to the API; "
                    "the run puts back the last-synced values"
                )
            if planned.rejection:
                preview.waiting_refusals += 1
                preview.lines.append(
                    f"# local_id {row.local_id} would be refused: {planned.rejection.reason}"
                )
        for write_id, local_id, body, error, row_exists in _load_refusals(tx, store.t):
            if not row_exists:  # the run drops a refusal whose row is gone
                preview.lines.append(f"# write {write_id} (local_id {local_id}) is dropped: its row is gone")
            elif body.encode() not in moot[local_id]:
                preview.waiting_refusals += 1
                preview.lines.append(
                    f"# write {write_id} (local_id {local_id}) stays refused: {error}; change the row, "
                    f"or `contacts-sync retry {write_id}` once the cause is fixed"
                )
        for conflict_id, local_id, name in _load_open_conflicts(tx, store.t):
            preview.open_conflicts += 1
            preview.lines.append(
                f"# conflict {conflict_id} (local_id {local_id}, {name}) waits for a person: "
                f"`contacts-sync conflicts {conflict_id} --take local|remote`"
            )
        preview.lines.extend(_deletions(store, tx, rules))
    preview.lines.append(
        f"# {preview.writes} write(s) would be sent (policy {conflict_policy}); nothing was sent"
    )
    if preview.needs_attention:
        preview.lines.append(
            f"# the run would end needing a person (exit 1): {preview.waiting_refusals} refused or "
            f"rejected write(s), {preview.open_conflicts} open conflict(s); see `contacts-sync status`"
        )
    return preview


def _load_refusals(tx: Connection, t: StoreTables) -> list[tuple[int, int, str, str | None, bool]]:
    row_exists = t.writes.c.local_id.in_(select(t.contacts.c.local_id))
    query = (
        select(t.writes.c.write_id, t.writes.c.local_id, t.writes.c.body, t.writes.c.error, row_exists)
        .where(t.writes.c.status != "pending")
        .order_by(t.writes.c.write_id)
    )
    return [(w, local, body, error, bool(exists)) for w, local, body, error, exists in tx.execute(query)]


def _load_open_conflicts(tx: Connection, t: StoreTables) -> list[tuple[int, int, str]]:
    query = (
        select(t.conflicts.c.conflict_id, t.conflicts.c.local_id, t.conflicts.c.field)
        .where(t.conflicts.c.status == "open")
        .order_by(t.conflicts.c.conflict_id)
    )
    return [(c, local_id, name) for c, local_id, name in tx.execute(query)]


def _deletions(store: Store, tx: Connection, rules: WireRules) -> list[str]:
    """Rows the store synced that another program deleted from the local table."""
    lines = []
    for gone in store.load_deleted_rows(tx):
        what = f"# contact {gone.contact_id} (local_id {gone.local_id}) was deleted locally"
        planned = rules.prepare_delete(gone.contact_id)
        if isinstance(planned, PreparedWrite):
            lines.append(f"{planned.method} {planned.path}  {what[2:]}")
        elif isinstance(planned, Refusal):
            lines.append(f"{what}; it would be refused: {planned.reason}")
        else:
            fate = (
                "the next pull re-creates the row from the API"
                if gone.connected
                else "the API no longer lists it, so it stays gone locally"
            )
            title = adapter_named(store.api).title
            lines.append(f"{what}; the {title} API has no DELETE, so nothing is sent and {fate}")
    return lines
