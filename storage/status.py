"""What a person needs to see and settle: run history, waiting writes, conflicts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from storage.binding import binding_report
from storage.locking import ABANDONED, HOLDER, load_lock_holder, process_alive
from storage.store import now
from storage.tables import CHECKPOINTS, DEFAULT_TABLES, DELETIONS, LOCAL_CHANGES, RUNS, StoreTables
from sync.apis.kinds import Kind
from sync.deletes import DELETED
from sync.errors import ConfigError


def load_attention(tx: Connection, t: StoreTables = DEFAULT_TABLES) -> tuple[int, int]:
    """(open conflicts, rejected or refused writes): what waits for a person."""
    conflicts = tx.execute(
        select(func.count()).select_from(t.conflicts).where(t.conflicts.c.status == "open")
    ).scalar_one()
    rejections = tx.execute(
        select(func.count()).select_from(t.writes).where(t.writes.c.status != "pending")
    ).scalar_one()
    return int(conflicts), int(rejections)


def load_status(tx: Connection, *, runs: int = 10, t: StoreTables = DEFAULT_TABLES) -> dict[str, Any]:
    recent = tx.execute(select(RUNS).order_by(RUNS.c.started_at.desc()).limit(runs)).mappings()
    pending = tx.execute(
        select(func.count()).select_from(t.writes).where(t.writes.c.status == "pending")
    ).scalar_one()
    rejected = tx.execute(
        select(t.writes).where(t.writes.c.status != "pending").order_by(t.writes.c.write_id)
    ).mappings()
    checkpoints: dict[str, tuple[str | None, str]] = {
        name: (value, updated_at)
        for name, value, updated_at in tx.execute(
            select(CHECKPOINTS.c.name, CHECKPOINTS.c.value, CHECKPOINTS.c.updated_at)
        )
    }
    holder = load_lock_holder(tx, checkpoints.get(HOLDER, (None, ""))[0])
    return {
        "runs": [_run_as_it_is(dict(run), lock_held=holder is not None) for run in recent],
        "contacts": tx.execute(select(func.count()).select_from(t.contacts)).scalar_one(),
        "pending_writes": pending,
        "local_changes": _count_unsynced(tx, t),
        "conflicts": load_conflicts(tx, t=t),
        "deletions": load_deletions(tx, limit=runs),
        "rejected_writes": [
            {
                "write_id": r["write_id"],
                "local_id": r["local_id"],
                "contact_id": r["contact_id"],
                "request": None if r["status"] == "refused" else f"{r['method']} {r['path']}",
                "body": r["body"],
                "refused_locally": r["status"] == "refused",
                "http_status": r["http_status"],
                "error": r["error"],
                "request_id": r["request_id"],
                "since": r["updated_at"],
            }
            for r in rejected
        ],
        "pull_cursor": checkpoints.get("pull.cursor", (None, ""))[0],
        "lock_holder": holder,
        "daemon": _daemon(*checkpoints.get("daemon", (None, ""))),
        **binding_report(tx),  # "store" (where it is) and "account" (whose it is)
    }


def _run_as_it_is(run: dict[str, Any], *, lock_held: bool) -> dict[str, Any]:
    """A run recorded as running while nobody holds the lock has lost its process."""
    if run["outcome"] == "running" and not lock_held:
        return {**run, "outcome": "abandoned", "error": run["error"] or ABANDONED}
    return run


def _daemon(record: str | None, updated_at: str) -> dict[str, Any] | None:
    """The daemon's last record, with whether its process still runs (None: on another host)."""
    if not record:
        return None
    daemon: dict[str, Any] = json.loads(record)
    return {
        **daemon,
        "running": process_alive(daemon.get("pid"), daemon.get("host")),
        "last_seen": updated_at,
    }


def load_deletions(tx: Connection, *, limit: int = 10) -> list[dict[str, Any]]:
    """The latest contacts a sync deleted, at the API or in the table, newest first."""
    query = select(DELETIONS).order_by(DELETIONS.c.deletion_id.desc()).limit(limit)
    return [dict(row) for row in tx.execute(query).mappings()]


def _count_unsynced(tx: Connection, t: StoreTables) -> int:
    """Rows created locally and not yet pushed."""
    return int(
        tx.execute(select(func.count()).select_from(t.contacts).where(t.contacts.c.id.is_(None))).scalar_one()
    )


def load_conflicts(
    tx: Connection, *, include_settled: bool = False, t: StoreTables = DEFAULT_TABLES
) -> list[dict[str, Any]]:
    query = select(t.conflicts).order_by(t.conflicts.c.conflict_id)
    if not include_settled:
        query = query.where(t.conflicts.c.status == "open")
    return [dict(row) for row in tx.execute(query).mappings()]


def save_conflict_resolved(
    tx: Connection, conflict_id: int, *, take: str, value: Any = None, t: StoreTables = DEFAULT_TABLES
) -> dict[str, Any]:
    """Settle an open conflict; the losing value stays in the record, nothing is lost.

    take="remote" puts the API's value in the local row; "local" keeps the row,
    which the next sync pushes; "value" writes `value`, which the next sync pushes.
    """
    conflict = (
        tx.execute(
            select(t.conflicts).where(
                t.conflicts.c.conflict_id == conflict_id, t.conflicts.c.status == "open"
            )
        )
        .mappings()
        .first()
    )
    if conflict is None:
        raise ConfigError(f"there is no open conflict {conflict_id}; see `contacts-sync conflicts`")
    field = conflict["field"]
    if field == DELETED:
        return _deletion_resolved(tx, dict(conflict), take=take, t=t)
    if take == "remote":
        base = tx.execute(
            select(t.state.c.fields).where(t.state.c.local_id == conflict["local_id"])
        ).scalar_one_or_none()
        value = (base or {}).get(field, conflict["remote_value"])
    if take in ("remote", "value"):
        tx.execute(
            update(t.contacts).where(t.contacts.c.local_id == conflict["local_id"]).values({field: value})
        )
    else:  # the row is untouched, so no trigger marked it; the plan must look at it
        tx.execute(insert(LOCAL_CHANGES).values(local_id=conflict["local_id"]))
    resolution = {"take": take, "value": value if take != "local" else conflict["local_value"]}
    tx.execute(
        update(t.conflicts)
        .where(t.conflicts.c.conflict_id == conflict_id)
        .values(status="resolved", resolution=resolution, resolved_at=now())
    )
    return {**dict(conflict), "status": "resolved", "resolution": resolution}


def _deletion_resolved(
    tx: Connection, conflict: dict[str, Any], *, take: str, t: StoreTables
) -> dict[str, Any]:
    """Settle an edit against a deletion. The API deleted the contact ("kept" locally): local
    re-creates it from the row, remote deletes the row. The row was deleted locally while
    the API edited the contact: local deletes it at the API, remote brings the row back."""
    if take not in ("local", "remote"):
        raise ConfigError("a deletion conflict is settled with --take local or --take remote, not --value")
    local_id, contact_id = conflict["local_id"], conflict["contact_id"]
    deleted_at_api = conflict["local_value"] == "kept"
    if deleted_at_api and take == "local":
        tx.execute(delete(t.state).where(t.state.c.contact_id == contact_id))
        tx.execute(update(t.contacts).where(t.contacts.c.local_id == local_id).values(id=None))
        tx.execute(insert(LOCAL_CHANGES).values(local_id=local_id))
    elif deleted_at_api:
        record = tx.execute(select(t.contacts).where(t.contacts.c.local_id == local_id)).mappings().first()
        tx.execute(
            insert(DELETIONS).values(
                contact_id=str(contact_id),
                local_id=local_id,
                where="table",
                record={k: v for k, v in (record or {}).items() if k != "extra"},
                reason="deleted at the API; a person chose to remove the row",
                deleted_at=now(),
            )
        )
        tx.execute(delete(t.state).where(t.state.c.contact_id == contact_id))
        tx.execute(delete(t.contacts).where(t.contacts.c.local_id == local_id))
    elif take == "local":
        # Seen as unchanged at the API from now on: the next plan sends the delete.
        tx.execute(update(t.state).where(t.state.c.contact_id == contact_id).values(remote_digest=None))
    else:
        # Forgotten: the next pull lists the contact as new and brings its row back.
        tx.execute(delete(t.state).where(t.state.c.contact_id == contact_id))
    resolution = {"take": take, "value": conflict["local_value" if take == "local" else "remote_value"]}
    tx.execute(
        update(t.conflicts)
        .where(t.conflicts.c.conflict_id == conflict["conflict_id"])
        .values(status="resolved", resolution=resolution, resolved_at=now())
    )
    return {**conflict, "status": "resolved", "resolution": resolution}


def parse_field_value(field: str, text: str, kinds: Mapping[str, Kind]) -> Any:
    """A value typed on the command line, as the column holds it."""
    kind = kinds.get(field, Kind.TEXT)
    if kind is Kind.TEXT:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"--value for {field} must be JSON (e.g. true, [] or [{{...}}])") from None


def save_rejections_forgotten(
    tx: Connection, write_ids: list[int] | None, t: StoreTables = DEFAULT_TABLES
) -> int:
    """Forget rejections so the next sync plans those writes afresh, with new keys."""
    query = select(t.writes.c.write_id, t.writes.c.local_id).where(t.writes.c.status != "pending")
    if write_ids is not None:
        query = query.where(t.writes.c.write_id.in_(write_ids))
    forgotten = tx.execute(query).all()
    unknown = sorted(set(write_ids or ()) - {write_id for write_id, _ in forgotten})
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise ConfigError(
            f"no rejected or refused write {listed}; nothing was re-queued. "
            "`contacts-sync status` lists the waiting ones with their write ids"
        )
    if forgotten:
        tx.execute(delete(t.writes).where(t.writes.c.write_id.in_([w for w, _ in forgotten])))
        tx.execute(insert(LOCAL_CHANGES), [{"local_id": local_id} for _, local_id in forgotten])
    return len(forgotten)
