"""What a person needs to see and settle: run history, waiting writes, conflicts."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from storage.binding import binding_report
from storage.locking import ABANDONED, HOLDER, load_lock_holder, process_alive
from storage.store import now
from storage.tables import CHECKPOINTS, CONFLICTS, CONTACTS, LOCAL_CHANGES, RUNS, STATE, WRITES
from storage.tables import CONTACT_KINDS as CONTACT_FIELDS
from sync.apis.kinds import Kind
from sync.errors import ConfigError


def load_attention(tx: Connection) -> tuple[int, int]:
    """(open conflicts, rejected or refused writes): what waits for a person."""
    conflicts = tx.execute(
        select(func.count()).select_from(CONFLICTS).where(CONFLICTS.c.status == "open")
    ).scalar_one()
    rejections = tx.execute(
        select(func.count()).select_from(WRITES).where(WRITES.c.status != "pending")
    ).scalar_one()
    return int(conflicts), int(rejections)


def load_status(tx: Connection, *, runs: int = 10) -> dict[str, Any]:
    recent = tx.execute(select(RUNS).order_by(RUNS.c.started_at.desc()).limit(runs)).mappings()
    pending = tx.execute(
        select(func.count()).select_from(WRITES).where(WRITES.c.status == "pending")
    ).scalar_one()
    rejected = tx.execute(
        select(WRITES).where(WRITES.c.status != "pending").order_by(WRITES.c.write_id)
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
        "contacts": tx.execute(select(func.count()).select_from(CONTACTS)).scalar_one(),
        "pending_writes": pending,
        "local_changes": _count_unsynced(tx),
        "conflicts": load_conflicts(tx),
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


def _count_unsynced(tx: Connection) -> int:
    """Rows created locally and not yet pushed."""
    return int(
        tx.execute(select(func.count()).select_from(CONTACTS).where(CONTACTS.c.id.is_(None))).scalar_one()
    )


def load_conflicts(tx: Connection, *, include_settled: bool = False) -> list[dict[str, Any]]:
    query = select(CONFLICTS).order_by(CONFLICTS.c.conflict_id)
    if not include_settled:
        query = query.where(CONFLICTS.c.status == "open")
    return [dict(row) for row in tx.execute(query).mappings()]


def save_conflict_resolved(
    tx: Connection, conflict_id: int, *, take: str, value: Any = None
) -> dict[str, Any]:
    """Settle an open conflict; the losing value stays in the record, nothing is lost.

    take="remote" puts the API's value in the local row; "local" keeps the row,
    which the next sync pushes; "value" writes `value`, which the next sync pushes.
    """
    conflict = (
        tx.execute(
            select(CONFLICTS).where(CONFLICTS.c.conflict_id == conflict_id, CONFLICTS.c.status == "open")
        )
        .mappings()
        .first()
    )
    if conflict is None:
        raise ConfigError(f"there is no open conflict {conflict_id}; see `contacts-sync conflicts`")
    field = conflict["field"]
    if take == "remote":
        base = tx.execute(
            select(STATE.c.fields).where(STATE.c.local_id == conflict["local_id"])
        ).scalar_one_or_none()
        value = (base or {}).get(field, conflict["remote_value"])
    if take in ("remote", "value"):
        tx.execute(update(CONTACTS).where(CONTACTS.c.local_id == conflict["local_id"]).values({field: value}))
    else:  # the row is untouched, so no trigger marked it; the plan must look at it
        tx.execute(insert(LOCAL_CHANGES).values(local_id=conflict["local_id"]))
    resolution = {"take": take, "value": value if take != "local" else conflict["local_value"]}
    tx.execute(
        update(CONFLICTS)
        .where(CONFLICTS.c.conflict_id == conflict_id)
        .values(status="resolved", resolution=resolution, resolved_at=now())
    )
    return {**dict(conflict), "status": "resolved", "resolution": resolution}


def parse_field_value(field: str, text: str) -> Any:
    """A value typed on the command line, as the column holds it."""
    kind = CONTACT_FIELDS.get(field, Kind.TEXT)
    if kind is Kind.TEXT:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"--value for {field} must be JSON (e.g. true, [] or [{{...}}])") from None


def save_rejections_forgotten(tx: Connection, write_ids: list[int] | None) -> int:
    """Forget rejections so the next sync plans those writes afresh, with new keys."""
    query = select(WRITES.c.write_id, WRITES.c.local_id).where(WRITES.c.status != "pending")
    if write_ids is not None:
        query = query.where(WRITES.c.write_id.in_(write_ids))
    forgotten = tx.execute(query).all()
    unknown = sorted(set(write_ids or ()) - {write_id for write_id, _ in forgotten})
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise ConfigError(
            f"no rejected or refused write {listed}; nothing was re-queued. "
            "`contacts-sync status` lists the waiting ones with their write ids"
        )
    if forgotten:
        tx.execute(delete(WRITES).where(WRITES.c.write_id.in_([w for w, _ in forgotten])))
        tx.execute(insert(LOCAL_CHANGES), [{"local_id": local_id} for _, local_id in forgotten])
    return len(forgotten)
