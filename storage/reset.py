"""`contacts-sync reset`: empty a store so that the next sync starts from scratch.

The tables stay (with the triggers, views and columns other programs added);
their rows go, and with them the account binding, the pull cursor and every
pending write. Kept: the run history (a `reset` run is added), and what
describes the process rather than the data: the daemon's record, the lock
holder, and the API's recent request log (the rate window is the account's).
Local ids are never handed out again (SQLite's AUTOINCREMENT counter and
PostgreSQL's sequence stay as they are).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, insert, select

from storage.database import sqlite_file
from storage.store import now
from storage.tables import CHECKPOINTS, LOCAL_CHANGES, RUNS, StoreTables

KEPT_CHECKPOINTS = ("daemon", "lock.holder", "pacing.log")


def load_reset_summary(tx: Connection, t: StoreTables) -> dict[str, int]:
    """What a reset drops: the numbers a person weighs before saying yes."""

    def count(table: Table, *where: ColumnElement[bool]) -> int:
        return int(tx.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    return {
        "contacts": count(t.contacts),
        "created_locally": count(t.contacts, t.contacts.c.id.is_(None)),
        "pending_writes": count(t.writes, t.writes.c.status == "pending"),
        "rejected_writes": count(t.writes, t.writes.c.status != "pending"),
        "open_conflicts": count(t.conflicts, t.conflicts.c.status == "open"),
    }


def save_sqlite_backup(engine: Engine) -> Path:
    """A consistent copy of the SQLite store beside it (owner-only, like the store)."""
    source = sqlite_file(engine.url)
    assert source is not None, "only a SQLite store is backed up to a file"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = source.absolute().with_name(f"{source.name}.before-reset-{stamp}")
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, stat.S_IRUSR | stat.S_IWUSR))
    connection = engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        try:
            # The backup API copies committed pages, WAL included, whatever else is reading.
            connection.driver_connection.backup(copy)  # type: ignore[union-attr]
        finally:
            copy.close()
    finally:
        connection.close()
    return target


def save_store_emptied(
    tx: Connection, t: StoreTables, *, summary: dict[str, int], backup: Path | None
) -> str:
    """Drop every synced row and the bookkeeping about them; record the reset as a run."""
    for table in (t.contacts, t.state, t.writes, t.conflicts, LOCAL_CHANGES):
        tx.execute(delete(table))
    tx.execute(delete(CHECKPOINTS).where(CHECKPOINTS.c.name.not_in(KEPT_CHECKPOINTS)))
    run_id = uuid.uuid4().hex[:12]
    stamp = now()
    tx.execute(
        insert(RUNS).values(
            run_id=run_id,
            started_at=stamp,
            finished_at=stamp,
            outcome="reset",
            counts={**summary, "backup": None if backup is None else str(backup)},
            error=None,
        )
    )
    return run_id
