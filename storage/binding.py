"""The account a store belongs to, kept as JSON in `checkpoints` under `binding`.

No table of its own: one row, read at the start of every run, written on the
first run, on a rename and by `contacts-sync rebind`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Connection, column, insert, select, table

from storage.location import store_location
from storage.store import Store, now
from storage.tables import CHECKPOINTS, RUNS
from sync.identity import identity_from_record, identity_record
from sync.remote import AccountIdentity

BINDING = "binding"


def load_binding_record(tx: Connection) -> dict[str, Any] | None:
    value = tx.execute(select(CHECKPOINTS.c.value).where(CHECKPOINTS.c.name == BINDING)).scalar_one_or_none()
    if not value:
        return None
    record = json.loads(value)
    return record if isinstance(record, dict) else None


def load_binding(tx: Connection) -> AccountIdentity | None:
    return identity_from_record(load_binding_record(tx))


def load_has_synced(tx: Connection) -> bool:
    """Whether contacts were merged before: an old store bound after the fact."""
    # By name: whatever the API, sync_state has a contact_id (of the API's id type).
    return (
        tx.execute(select(column("contact_id")).select_from(table("sync_state")).limit(1)).first() is not None
    )


def save_binding(store: Store, tx: Connection, identity: AccountIdentity) -> None:
    store.save_checkpoint(tx, BINDING, json.dumps(identity_record(identity, since=now())))


def save_rebound(store: Store, tx: Connection, new: AccountIdentity) -> str:
    """Bind the store to `new` and record the move in the run history; returns the run's id."""
    before = load_binding_record(tx)
    save_binding(store, tx, new)
    run_id = uuid.uuid4().hex[:12]
    stamp = now()
    tx.execute(
        insert(RUNS).values(
            run_id=run_id,
            started_at=stamp,
            finished_at=stamp,
            outcome="rebound",
            counts={"rebound_from": before, "rebound_to": load_binding_record(tx)},
            error=None,
        )
    )
    return run_id


def binding_report(tx: Connection) -> dict[str, Any]:
    """For `status`: where the store is and the account it belongs to (None: not bound yet)."""
    return {"store": store_location(tx.engine), "account": load_binding_record(tx)}
