"""Loading and saving sync data: the only module that speaks SQL.

Functions named `load_*` read, `save_*` write; each takes the open transaction
so that the engine decides what is committed together (a pulled page with its
cursor, a write's answer with the write's removal).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, delete, func, insert, inspect, select, update

from storage.bulk import BulkSQL
from storage.database import create_store_engine, read_transaction, write_transaction
from storage.location import open_existing_engine
from storage.migrations import ensure_schema
from storage.tables import CHECKPOINTS, DELETIONS, LOCAL_CHANGES, RUNS, StoreTables, tables_for
from sync.apis.registry import ADAPTERS, DEFAULT_API, adapter_named
from sync.deletes import DELETED
from sync.links import Links
from sync.merge import Merge
from sync.plan import ContactId, Rejection, RowState, Write

# A remote digest no record has: the contact counts as changed at the API since the last sync.
EDITED = "edited"


def bound_api(engine: Engine) -> str | None:
    """The API an existing store is bound to, read before its tables are known; None for a new
    or unbound store. A name this contacts-sync does not know is left to the binding check."""
    with read_transaction(engine) as connection:  # its errors name the store and the fix
        if not inspect(connection).has_table("checkpoints"):
            return None
        value = connection.execute(
            select(CHECKPOINTS.c.value).where(CHECKPOINTS.c.name == "binding")
        ).scalar_one_or_none()
    try:
        api = json.loads(value).get("api") if value else None
    except (ValueError, AttributeError):
        return None
    return api if api in ADAPTERS else None


def _fetched(result: CursorResult[Any]) -> Sequence[Any]:
    """A query's rows as the driver returns them (tuples), the result closed.

    A pulled page reads a few hundred rows a query: building SQLAlchemy's Row for each,
    one fetch at a time, cost more than the query did.
    """
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _instant(text: str | None) -> datetime | None:
    """A time this store wrote with `now()`; None when absent or unreadable (edited by hand),
    and one without a zone read as UTC, as `now()` writes."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class LocalRow:
    local_id: int
    record: dict[str, Any]  # the columns, with fields kept in `extra` folded in
    extra: Any


@dataclass(frozen=True)
class Base:
    local_id: int
    fields: dict[str, Any]
    remote_digest: str | None = None


@dataclass(frozen=True)
class SyncedRow:
    """A contact's last-synced state with its local row as it is now (None: deleted locally)."""

    contact_id: ContactId
    local_id: int
    base: dict[str, Any]
    local: LocalRow | None
    connected: bool
    pending_write: bool  # a write of this row waits to be sent


@dataclass(frozen=True)
class MergedContact:
    """A merge's decisions with what they apply to."""

    contact_id: ContactId
    local: LocalRow | None
    previous: Base | None
    merge: Merge
    remote_digest: str | None = None  # None: merge this contact again on the next pull
    # The base's JSON text when the caller has it already (a new contact's canonical JSON):
    # a pull then encodes each contact once, for its digest and its stored base.
    base_json: str | None = None


@dataclass(frozen=True)
class SavedWrite:
    write_id: int
    local_id: int
    contact_id: ContactId | None
    method: str
    path: str
    body: bytes
    fields: dict[str, Any]
    idempotency_key: str
    attempted: bool = False  # a first attempt left before this process: its outcome is unknown
    attempted_at: datetime | None = None  # when, if the store can tell


@dataclass(frozen=True)
class DroppedRejection:
    write_id: int
    local_id: int
    status: str


class Store:
    """A store's tables follow the API it is bound to (its binding says which); a new store
    takes the API it is first opened for."""

    def __init__(self, engine: Engine, api: str = DEFAULT_API) -> None:
        self.engine = engine
        self.api = api
        self.t: StoreTables = tables_for(adapter_named(api).columns)
        self._record_columns = self.t.record_columns
        self._record_column_set = frozenset(self._record_columns)
        adapter = adapter_named(api)
        self._flag_column = adapter.flag_column
        # Whether the API itself says a contact is connected (Lev's is_connected), or the
        # flag is the store's own (set when a contact leaves the list).
        self._flag_from_api = adapter.flag_column in adapter.fields
        self._active_field = adapter.active_field
        self._bulk = BulkSQL(self.t, engine.dialect)

    def _connected(self, base: dict[str, Any]) -> bool:
        # Listed, whatever the API says of its activity: an inactive contact that leaves the
        # list is flagged like any other (deactivations meet the safety stop in the engine).
        if self._flag_column is None:
            return True
        if self._flag_from_api:
            return base.get(self._flag_column) is True
        return base.get(self._flag_column) is not False

    def _flagged(self, fields: dict[str, Any]) -> dict[str, Any]:
        return fields if self._flag_column is None else {**fields, self._flag_column: False}

    @classmethod
    def open(cls, url: str, api: str = DEFAULT_API) -> Store:
        engine = create_store_engine(url)
        try:
            store = cls(engine, bound_api(engine) or api)
            ensure_schema(engine, store.t)
        except BaseException:
            engine.dispose()  # a store that cannot be opened keeps no connection open
            raise
        return store

    @classmethod
    def open_existing(cls, url: str, *, migrate: bool = True, api: str = DEFAULT_API) -> Store:
        """Open the store at `url` without ever creating one (commands that read it).

        Raises NoStore (exit 2) when there is none: a missing SQLite file or folder, a
        database without contacts-sync's tables. `migrate=False` leaves the schema as it is.
        """
        engine = open_existing_engine(url)
        try:
            store = cls(engine, bound_api(engine) or api)
            if migrate:
                ensure_schema(engine, store.t)
        except BaseException:
            engine.dispose()
            raise
        return store

    def _local_row(self, row: Any) -> LocalRow:
        record = {name: row[name] for name in self._record_columns}
        extra = row["extra"]
        if isinstance(extra, dict):
            record.update({k: v for k, v in extra.items() if k not in record})
        return LocalRow(row["local_id"], record, extra)

    def _column_values(self, changes: dict[str, Any], extra: Any) -> dict[str, Any]:
        if changes.keys() <= self._record_column_set:  # the usual case, checked at C speed
            return changes  # read, never changed, by every caller: a pull copies no contact here
        values = {k: v for k, v in changes.items() if k in self._record_column_set}
        unknown = {k: v for k, v in changes.items() if k not in self._record_column_set}
        if unknown:
            values["extra"] = {**(extra if isinstance(extra, dict) else {}), **unknown}
        return values

    def close(self) -> None:
        self.engine.dispose()

    @property
    def holds_nul(self) -> bool:
        """Whether text columns can hold a NUL character (SQLite can, PostgreSQL cannot)."""
        return self.engine.dialect.name != "postgresql"

    def write(self) -> Any:
        return write_transaction(self.engine)

    def read(self) -> Any:
        return read_transaction(self.engine)

    # --- a pulled page ------------------------------------------------------------

    def load_digests(self, tx: Connection, contact_ids: list[ContactId]) -> dict[ContactId, str | None]:
        """The digest of the remote record last merged, per contact already in the store."""
        if not contact_ids:
            return {}
        # Only where the local row is still there: a row another program deleted must be
        # merged (and so re-created) even when the API's record did not change. Plain SQL:
        # every pulled page asks, and Core's statement building cost more than the join.
        bulk = self._bulk
        query = (
            "SELECT s.contact_id, s.remote_digest FROM sync_state s JOIN contacts c "  # noqa: S608 - schema names
            "ON c.local_id = s.local_id AND c.id = s.contact_id "
            f"WHERE {bulk.among('s.contact_id', self.t.state.c.contact_id)}"
        )
        return dict(_fetched(tx.exec_driver_sql(query, (bulk.listed(contact_ids),))))

    def load_page_state(
        self, tx: Connection, contact_ids: list[ContactId]
    ) -> tuple[dict[ContactId, LocalRow], dict[ContactId, Base]]:
        """Local rows and bases of these contacts, locked against edits until commit.

        A contact no row holds by id is matched to the row it last synced as, if that
        row is still there: its id was changed or cleared by hand, and the merge puts
        it back (the API owns the id) instead of creating a second row.
        """
        if not contact_ids:  # a page with nothing changed
            return {}, {}
        bulk, state = self._bulk, self.t.state
        listed = (bulk.listed(contact_ids),)
        rows = tx.exec_driver_sql(
            f"{bulk.select_contacts} WHERE {bulk.among('id', self.t.contacts.c.id)}{bulk.for_update}", listed
        )
        local: dict[ContactId, LocalRow] = {}
        for row in _fetched(rows):
            record = bulk.contact_read(row)
            local[record["id"]] = self._local_row(record)
        found = tx.exec_driver_sql(
            "SELECT contact_id, local_id, fields, remote_digest FROM sync_state "  # noqa: S608 - schema names
            f"WHERE {bulk.among('contact_id', state.c.contact_id)}",
            listed,
        )
        decode = bulk.decode_fields
        bases = {
            contact_id: Base(local_id, decode(fields), digest)
            for contact_id, local_id, fields, digest in _fetched(found)
        }
        strays = {b.local_id: contact_id for contact_id, b in bases.items() if contact_id not in local}
        if strays:
            query = (
                select(self.t.contacts).where(self.t.contacts.c.local_id.in_(list(strays))).with_for_update()
            )
            for stray in tx.execute(query).mappings():
                local[strays[stray["local_id"]]] = self._local_row(stray)
        return local, bases

    def load_local_row(self, tx: Connection, local_id: int) -> LocalRow | None:
        row = (
            tx.execute(
                select(self.t.contacts).where(self.t.contacts.c.local_id == local_id).with_for_update()
            )
            .mappings()
            .first()
        )
        return self._local_row(row) if row else None

    def load_links(self, tx: Connection, contact_ids: list[ContactId], local_ids: list[int]) -> Links:
        """Which rows hold these contacts, and which contacts these rows last synced as."""
        bulk = self._bulk
        held: dict[ContactId, int] = {}
        bound: dict[int, ContactId] = {}
        if contact_ids:
            query = f"SELECT id, local_id FROM contacts WHERE {bulk.among('id', self.t.contacts.c.id)}"  # noqa: S608
            held.update(_fetched(tx.exec_driver_sql(query, (bulk.listed(contact_ids),))))
        if local_ids:
            query = (
                "SELECT local_id, contact_id FROM sync_state "  # noqa: S608 - schema names
                f"WHERE {bulk.among('local_id', self.t.state.c.local_id)}"
            )
            bound.update(_fetched(tx.exec_driver_sql(query, (bulk.listed(local_ids),))))
        return Links(held, bound)

    def load_base(self, tx: Connection, contact_id: ContactId) -> Base | None:
        row = (
            tx.execute(select(self.t.state).where(self.t.state.c.contact_id == contact_id)).mappings().first()
        )
        return None if row is None else Base(row["local_id"], row["fields"])

    def save_merges(
        self, tx: Connection, merged: list[MergedContact], *, policy: str
    ) -> dict[ContactId, int]:
        """Apply merges' decisions in a few batched statements; nothing when nothing was decided.

        Returns the local_id of each contact. One executemany per statement shape keeps a
        200-contact page at a handful of round trips instead of two per contact.
        """
        bulk = self._bulk
        horizon = tx.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM local_changes").scalar_one()
        local_ids = {m.contact_id: m.local.local_id for m in merged if m.local is not None}
        new_rows = [m for m in merged if m.local is None]
        if new_rows:
            rows = [bulk.contact_row(self._column_values(m.merge.local_changes, None)) for m in new_rows]
            tx.exec_driver_sql(bulk.insert_contacts, rows)
            created = f"SELECT id, local_id FROM contacts WHERE {bulk.among('id', self.t.contacts.c.id)}"  # noqa: S608
            listed = bulk.listed([m.contact_id for m in new_rows])
            local_ids.update(_fetched(tx.exec_driver_sql(created, (listed,))))
        by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for m in merged:
            if m.local is not None and m.merge.local_changes:
                values = self._column_values(m.merge.local_changes, m.local.extra)
                shape = tuple(sorted(values))
                row = bulk.contact_update_row(shape, values, m.local.local_id)
                by_shape.setdefault(shape, []).append(row)
        for shape, updates in by_shape.items():
            tx.exec_driver_sql(bulk.update_contacts(shape), updates)
        new_bases: list[tuple[Any, ...]] = []
        changed_bases: list[tuple[Any, ...]] = []
        encode_fields = bulk.encode_fields
        for m in merged:
            base = m.merge.base
            row = (
                local_ids[m.contact_id],
                encode_fields(base) if m.base_json is None else m.base_json,
                self._connected(base),
                m.remote_digest,
                m.contact_id,
            )
            (new_bases if m.previous is None else changed_bases).append(row)
        if new_bases:
            tx.exec_driver_sql(bulk.insert_state, new_bases)
        if changed_bases:
            tx.exec_driver_sql(bulk.update_state, changed_bases)
        for m in merged:
            if m.merge.conflicts:
                self._save_conflicts(tx, local_ids[m.contact_id], m.contact_id, m.merge, policy)
        # Our own writes left the rows equal to their base: their marks would only make the
        # planner look for nothing. Only rows this transaction holds are touched, so another
        # program's marks (older, or for other rows) stay.
        ours = (
            f"DELETE FROM local_changes WHERE seq > {bulk.mark} "  # noqa: S608 - schema names
            f"AND {bulk.among('local_id', LOCAL_CHANGES.c.local_id)}"
        )
        tx.exec_driver_sql(ours, (horizon, bulk.listed(list(local_ids.values()))))
        # A conflict the local side won leaves the row as it was, so no trigger marked it.
        self.save_marks(
            tx,
            (local_ids[m.contact_id] for m in merged if any(c.winner == "local" for c in m.merge.conflicts)),
        )
        return local_ids

    def _save_conflicts(
        self, tx: Connection, local_id: int, contact_id: ContactId, merge: Merge, policy: str
    ) -> None:
        for conflict in merge.conflicts:
            values = {
                "local_id": local_id,
                "contact_id": contact_id,
                "field": conflict.field,
                "base_value": conflict.base,
                "local_value": conflict.local,
                "remote_value": conflict.remote,
                "policy": policy,
                "winner": conflict.winner,
            }
            if conflict.winner == "held":
                updated = tx.execute(
                    update(self.t.conflicts)
                    .where(
                        self.t.conflicts.c.local_id == local_id,
                        self.t.conflicts.c.field == conflict.field,
                        self.t.conflicts.c.status == "open",
                    )
                    .values(**values)
                )
                if updated.rowcount:
                    continue
            status = "open" if conflict.winner == "held" else "settled"
            tx.execute(insert(self.t.conflicts).values(**values, status=status, created_at=now()))

    def load_connected_count(self, tx: Connection) -> int:
        query = select(func.count()).select_from(self.t.state).where(self.t.state.c.connected)
        return int(tx.execute(query).scalar_one())

    def load_connected(self, tx: Connection) -> Iterator[ContactId]:
        """The id of every contact last seen connected."""
        if not self._bulk.postgres:
            # sqlite3's cursor reads as it goes: streamed without a SQLAlchemy Row per contact,
            # which cost more than the query on a full walk's check for missing contacts.
            result = tx.exec_driver_sql("SELECT contact_id FROM sync_state WHERE connected = 1")
            try:
                while rows := result.cursor.fetchmany(5000):
                    yield from (contact_id for (contact_id,) in rows)
            finally:
                result.close()
            return
        # Streamed per statement: options set on the connection would stick to later UPDATEs.
        result = tx.execute(
            select(self.t.state.c.contact_id)
            .where(self.t.state.c.connected)
            .execution_options(yield_per=5000)
        )
        yield from result.scalars()

    def save_disconnected(self, tx: Connection, contact_ids: Iterable[ContactId]) -> None:
        """Flag contacts the API stopped listing; they are never deleted."""
        for contact_id in contact_ids:
            base = self.load_base(tx, contact_id)
            if base is None:
                continue
            tx.execute(
                update(self.t.state)
                .where(self.t.state.c.contact_id == contact_id)
                .values(fields=self._flagged(base.fields), connected=False, remote_digest=None)
            )
            if self._flag_column is not None:
                tx.execute(
                    update(self.t.contacts)
                    .where(self.t.contacts.c.local_id == base.local_id)
                    .values({self._flag_column: False})
                )

    def load_synced_rows(self, tx: Connection, contact_ids: list[ContactId]) -> list[SyncedRow]:
        """These contacts' last-synced state and local rows, locked until commit."""
        found: list[Any] = []
        for start in range(0, len(contact_ids), 1000):
            query = select(self.t.state).where(
                self.t.state.c.contact_id.in_(contact_ids[start : start + 1000])
            )
            found.extend(tx.execute(query).mappings())
        local_ids = [b["local_id"] for b in found]
        rows = {}
        pending: set[int] = set()
        for start in range(0, len(local_ids), 1000):
            some = local_ids[start : start + 1000]
            query = select(self.t.contacts).where(self.t.contacts.c.local_id.in_(some)).with_for_update()
            rows.update({row["local_id"]: self._local_row(row) for row in tx.execute(query).mappings()})
            waiting = select(self.t.writes.c.local_id).where(
                self.t.writes.c.local_id.in_(some), self.t.writes.c.status == "pending"
            )
            pending.update(tx.execute(waiting).scalars())
        return [
            SyncedRow(
                b["contact_id"],
                b["local_id"],
                b["fields"],
                rows.get(b["local_id"]),
                b["connected"],
                b["local_id"] in pending,
            )
            for b in found
        ]

    def load_deleted_rows(self, tx: Connection) -> list[SyncedRow]:
        """Synced contacts whose local row another program deleted, with no write of that row
        pending, no refusal of its deletion on record, and no open conflict about it."""
        contacts, state, writes, conflicts = self.t.contacts, self.t.state, self.t.writes, self.t.conflicts
        query = (
            select(state)
            .where(~select(contacts.c.local_id).where(contacts.c.local_id == state.c.local_id).exists())
            .where(
                ~select(writes.c.local_id)
                .where(writes.c.local_id == state.c.local_id)
                .where((writes.c.status == "pending") | (writes.c.method == "DELETE"))
                .exists()
            )
            .where(
                ~select(conflicts.c.local_id)
                .where(conflicts.c.local_id == state.c.local_id, conflicts.c.status == "open")
                .exists()
            )
            .order_by(state.c.local_id)
        )
        return [
            SyncedRow(b["contact_id"], b["local_id"], b["fields"], None, b["connected"], False)
            for b in tx.execute(query).mappings()
        ]

    def save_contact_forgotten(
        self, tx: Connection, row: SyncedRow, *, where: str, reason: str, run_id: str | None
    ) -> None:
        """The contact is gone: remove its row (if any) and its last-synced state, and keep
        its last values in the deletion history."""
        record = row.local.record if row.local is not None else row.base
        tx.execute(
            insert(DELETIONS).values(
                run_id=run_id,
                where=where,
                contact_id=str(row.contact_id),
                local_id=row.local_id,
                record=record,
                reason=reason,
                deleted_at=now(),
            )
        )
        tx.execute(delete(self.t.state).where(self.t.state.c.contact_id == row.contact_id))
        if row.local is not None:
            tx.execute(delete(self.t.contacts).where(self.t.contacts.c.local_id == row.local_id))
        # A deleted row's pending writes and marks have nothing left to do.
        tx.execute(delete(self.t.writes).where(self.t.writes.c.local_id == row.local_id))
        tx.execute(delete(LOCAL_CHANGES).where(LOCAL_CHANGES.c.local_id == row.local_id))

    def save_synced_without_row(
        self, tx: Connection, contact_id: ContactId, local_id: int, fields: dict[str, Any], digest: str | None
    ) -> None:
        """A contact created for a row that was deleted before the answer was stored: synced
        as that (deleted) row, so that the plan treats it as a row deleted locally."""
        tx.execute(
            insert(self.t.state).values(
                contact_id=contact_id,
                local_id=local_id,
                fields=fields,
                connected=self._connected(fields),
                remote_digest=digest,
            )
        )

    def save_moot_conflicts_closed(self, tx: Connection, *, run_id: str | None) -> list[tuple[int, int, str]]:
        """Close open conflicts whose row another program deleted since: a field of a missing row
        is no question any more (the deletion is the question now, asked by the next pull), and
        a contact the API deleted whose row is now deleted here too is gone on both sides.
        A held local deletion (its row is gone by design) stays open. Returns what was closed."""
        contacts, conflicts, state = self.t.contacts, self.t.conflicts, self.t.state
        query = (
            select(
                conflicts.c.conflict_id,
                conflicts.c.local_id,
                conflicts.c.contact_id,
                conflicts.c.field,
                conflicts.c.local_value,
            )
            .where(conflicts.c.status == "open")
            .where(~select(contacts.c.local_id).where(contacts.c.local_id == conflicts.c.local_id).exists())
        )
        closed = []
        for conflict_id, local_id, contact_id, field, local_value in tx.execute(query).all():
            if field == DELETED and local_value == "deleted":
                continue
            if field == DELETED:  # deleted at the API, and now here too
                base = self.load_base(tx, contact_id) if contact_id is not None else None
                tx.execute(
                    insert(DELETIONS).values(
                        run_id=run_id,
                        where="table",
                        contact_id=str(contact_id),
                        local_id=local_id,
                        record=base.fields if base else None,
                        reason="deleted on both sides while a person was to decide",
                        deleted_at=now(),
                    )
                )
                tx.execute(delete(state).where(state.c.local_id == local_id))
            else:
                # The API's side of the field was edited: the next pull weighs the local deletion
                # against that edit (the policy, or a (deleted) conflict for a person).
                tx.execute(update(state).where(state.c.local_id == local_id).values(remote_digest=EDITED))
            tx.execute(
                update(conflicts)
                .where(conflicts.c.conflict_id == conflict_id)
                .values(
                    status="settled", resolution={"moot": "its row was deleted locally"}, resolved_at=now()
                )
            )
            closed.append((conflict_id, local_id, field))
        return closed

    def save_relinked_as_new(self, tx: Connection, row: SyncedRow) -> None:
        """The API deleted a contact whose row keeps local edits that win: the row is
        unlinked (no id, no last-synced state) so that the next plan creates it again."""
        tx.execute(delete(self.t.state).where(self.t.state.c.contact_id == row.contact_id))
        tx.execute(delete(self.t.writes).where(self.t.writes.c.local_id == row.local_id))
        tx.execute(update(self.t.contacts).where(self.t.contacts.c.local_id == row.local_id).values(id=None))

    def save_deletion_held(self, tx: Connection, row: SyncedRow, *, policy: str, gone: str) -> bool:
        """Leave an edit-against-delete conflict open for a person; the contact is not looked
        for again (not connected) until it is settled. False when it was open already."""
        tx.execute(
            update(self.t.state).where(self.t.state.c.contact_id == row.contact_id).values(connected=False)
        )
        tx.execute(
            delete(self.t.writes).where(
                self.t.writes.c.local_id == row.local_id, self.t.writes.c.status == "pending"
            )
        )
        exists = tx.execute(
            select(self.t.conflicts.c.conflict_id).where(
                self.t.conflicts.c.local_id == row.local_id,
                self.t.conflicts.c.field == DELETED,
                self.t.conflicts.c.status == "open",
            )
        ).first()
        if exists is not None:
            return False
        tx.execute(
            insert(self.t.conflicts).values(
                local_id=row.local_id,
                contact_id=row.contact_id,
                field=DELETED,
                base_value=None,
                local_value="kept" if gone == "api" else "deleted",
                remote_value="deleted" if gone == "api" else "edited",
                policy=policy,
                winner="held",
                status="open",
                created_at=now(),
            )
        )
        return True

    def save_deletion_conflict_settled(
        self, tx: Connection, row: SyncedRow, *, policy: str, gone: str, winner: str
    ) -> None:
        """Record how the policy settled a local edit against a deletion (or the reverse)."""
        tx.execute(
            insert(self.t.conflicts).values(
                local_id=row.local_id,
                contact_id=row.contact_id,
                field=DELETED,
                base_value=None,
                local_value="kept" if gone == "api" else "deleted",
                remote_value="deleted" if gone == "api" else "edited",
                policy=policy,
                winner=winner,
                status="settled",
                created_at=now(),
            )
        )

    # --- checkpoints --------------------------------------------------------------

    def load_checkpoint(self, tx: Connection, name: str) -> str | None:
        return tx.execute(select(CHECKPOINTS.c.value).where(CHECKPOINTS.c.name == name)).scalar_one_or_none()

    def save_checkpoint(self, tx: Connection, name: str, value: str | None) -> None:
        # Plain SQL: a pull saves its cursor with every page.
        m = self._bulk.mark
        updated = tx.exec_driver_sql(
            f"UPDATE checkpoints SET value = {m}, updated_at = {m} WHERE name = {m}",  # noqa: S608 - constants
            (value, now(), name),
        )
        if not updated.rowcount:
            tx.execute(insert(CHECKPOINTS).values(name=name, value=value, updated_at=now()))

    # --- planning and writes ------------------------------------------------------

    def load_marks(self, tx: Connection) -> list[tuple[int, int]]:
        """(seq, local_id) of every row written since the planner last looked."""
        return [
            (seq, local_id)
            for seq, local_id in tx.execute(select(LOCAL_CHANGES.c.seq, LOCAL_CHANGES.c.local_id))
        ]

    def save_marks(self, tx: Connection, local_ids: Iterable[int]) -> None:
        """Ask the next plan to look at these rows (a change no trigger saw)."""
        rows = [{"local_id": local_id} for local_id in set(local_ids)]
        if rows:
            tx.execute(insert(LOCAL_CHANGES), rows)

    def save_marks_consumed(self, tx: Connection, seqs: list[int]) -> None:
        """Forget exactly the marks the plan read; newer ones, even with lower numbers
        committed late by another PostgreSQL session, stay. Rows whose write is still
        pending keep theirs, to be looked at again once it is settled."""
        still_pending = select(self.t.writes.c.local_id).where(self.t.writes.c.status == "pending")
        for start in range(0, len(seqs), 1000):
            tx.execute(
                delete(LOCAL_CHANGES).where(
                    LOCAL_CHANGES.c.seq.in_(seqs[start : start + 1000]),
                    LOCAL_CHANGES.c.local_id.not_in(still_pending),
                )
            )

    def load_row_states(self, tx: Connection, *, marked_only: bool = False) -> Iterator[RowState]:
        """Local rows without a pending write (all, or those marked as written), with what
        decides their next write."""
        held: dict[int, set[str]] = {}
        for local_id, field in tx.execute(
            select(self.t.conflicts.c.local_id, self.t.conflicts.c.field).where(
                self.t.conflicts.c.status == "open"
            )
        ):
            held.setdefault(local_id, set()).add(field)
        refused: dict[int, set[bytes]] = {}
        pending: set[int] = set()
        for local_id, status, body in tx.execute(
            select(self.t.writes.c.local_id, self.t.writes.c.status, self.t.writes.c.body)
        ):
            if status == "pending":
                pending.add(local_id)
            else:
                refused.setdefault(local_id, set()).add(body.encode())
        query = select(self.t.contacts, self.t.state.c.fields.label("_base")).outerjoin(
            self.t.state, self.t.state.c.local_id == self.t.contacts.c.local_id
        )
        if marked_only:
            query = query.where(self.t.contacts.c.local_id.in_(select(LOCAL_CHANGES.c.local_id)))
        result = tx.execute(query.execution_options(yield_per=2000))
        for row in result.mappings():
            if row["local_id"] in pending or DELETED in held.get(row["local_id"], ()):
                continue  # written already, or held whole until a person settles its deletion
            local = self._local_row(row)
            yield RowState(
                local_id=local.local_id,
                remote_id=row["id"],
                local=local.record,
                base=row["_base"],
                held_fields=frozenset(held.get(local.local_id, ())),
                refused_bodies=frozenset(refused.get(local.local_id, ())),
            )

    def save_plan(self, tx: Connection, writes: list[Write], rejections: list[Rejection]) -> None:
        """Save each write with its key and exact body before anything is sent."""
        stamp = now()
        rows = [
            {
                "local_id": w.local_id,
                "contact_id": w.remote_id,
                "method": w.request.method,
                "path": w.request.path,
                "body": w.request.body.decode(),
                "fields": w.fields,
                "idempotency_key": str(uuid.uuid4()),
                "status": "pending",
                "created_at": stamp,
                "updated_at": stamp,
            }
            for w in writes
        ] + [
            {
                "local_id": r.local_id,
                "contact_id": None,
                "method": r.method,
                "path": "-",
                "body": r.body.decode(),
                "fields": {},
                "idempotency_key": str(uuid.uuid4()),
                "status": "refused",
                "error": r.reason,
                "created_at": stamp,
                "updated_at": stamp,
            }
            for r in rejections
        ]
        for row in rows:
            row.setdefault("error", None)
        if rows:
            tx.execute(insert(self.t.writes), rows)

    def load_pending_local_ids(self, tx: Connection) -> set[int]:
        return set(
            tx.execute(select(self.t.writes.c.local_id).where(self.t.writes.c.status == "pending")).scalars()
        )

    def save_restored(self, tx: Connection, local_id: int, values: dict[str, Any]) -> None:
        """Put API-owned columns of one row back to the values given (its last-synced ones)."""
        # Row locked first, as load_page_state does: an edit another program commits while we
        # read the horizon would otherwise have its mark deleted below, and never be planned.
        extra = tx.execute(
            select(self.t.contacts.c.extra).where(self.t.contacts.c.local_id == local_id).with_for_update()
        ).scalar_one_or_none()
        horizon = tx.execute(select(func.coalesce(func.max(LOCAL_CHANGES.c.seq), 0))).scalar_one()
        tx.execute(
            update(self.t.contacts)
            .where(self.t.contacts.c.local_id == local_id)
            .values(self._column_values(values, extra))
        )
        # The row now equals its base in these columns: the mark our UPDATE left has nothing to show.
        tx.execute(
            delete(LOCAL_CHANGES).where(LOCAL_CHANGES.c.seq > horizon, LOCAL_CHANGES.c.local_id == local_id)
        )

    def save_rowless_rejections_dropped(self, tx: Connection) -> list[DroppedRejection]:
        """Forget rejected and refused writes whose local row was deleted: nobody can fix them.

        A refused deletion stays while its contact is still synced: it is the record that the
        row is gone here and not at the API.
        """
        writes, state = self.t.writes, self.t.state
        refused_delete_of_synced = (writes.c.method == "DELETE") & (
            select(state.c.local_id).where(state.c.local_id == writes.c.local_id).exists()
        )
        rowless = (
            select(writes.c.write_id, writes.c.local_id, writes.c.status)
            .where(writes.c.status != "pending")
            .where(
                ~select(self.t.contacts.c.local_id)
                .where(self.t.contacts.c.local_id == writes.c.local_id)
                .exists()
            )
            .where(~refused_delete_of_synced)
        )
        dropped = [DroppedRejection(*row) for row in tx.execute(rowless)]
        if dropped:
            tx.execute(
                delete(self.t.writes).where(self.t.writes.c.write_id.in_([d.write_id for d in dropped]))
            )
        return dropped

    def load_pending_writes(self, tx: Connection) -> list[SavedWrite]:
        rows = tx.execute(
            select(self.t.writes)
            .where(self.t.writes.c.status == "pending")
            .order_by(self.t.writes.c.write_id)
        ).mappings()
        return [
            SavedWrite(
                write_id=r["write_id"],
                local_id=r["local_id"],
                contact_id=r["contact_id"],
                method=r["method"],
                path=r["path"],
                body=r["body"].encode(),
                fields=r["fields"],
                idempotency_key=r["idempotency_key"],
                attempted=r["attempted_at"] is not None,
                attempted_at=_instant(r["attempted_at"]),
            )
            for r in rows
        ]

    def save_write_attempted(self, tx: Connection, write_id: int) -> None:
        """Note that a write is about to leave: after a crash, its create is looked up first."""
        tx.execute(
            update(self.t.writes)
            .where(self.t.writes.c.write_id == write_id, self.t.writes.c.attempted_at.is_(None))
            .values(attempted_at=now())
        )

    def save_write_done(self, tx: Connection, write_id: int) -> None:
        tx.execute(delete(self.t.writes).where(self.t.writes.c.write_id == write_id))

    def save_write_rejected(
        self, tx: Connection, write_id: int, *, error: str, http_status: int | None, request_id: str | None
    ) -> None:
        tx.execute(
            update(self.t.writes)
            .where(self.t.writes.c.write_id == write_id)
            .values(
                status="rejected",
                error=error,
                http_status=http_status,
                request_id=request_id,
                updated_at=now(),
            )
        )

    # --- runs ---------------------------------------------------------------------

    def save_run_started(self, run_id: str) -> None:
        with self.write() as tx:
            tx.execute(insert(RUNS).values(run_id=run_id, started_at=now(), outcome="running"))

    def save_run_finished(
        self, run_id: str, *, outcome: str, counts: dict[str, Any], error: str | None
    ) -> None:
        with self.write() as tx:
            tx.execute(
                update(RUNS)
                .where(RUNS.c.run_id == run_id)
                .values(finished_at=now(), outcome=outcome, counts=counts, error=error)
            )

    def save_refusals_dropped(self, tx: Connection, obsolete: dict[int, frozenset[bytes]]) -> None:
        """Forget refusals a newer local edit has made moot."""
        for local_id, bodies in obsolete.items():
            tx.execute(
                delete(self.t.writes).where(
                    self.t.writes.c.local_id == local_id,
                    self.t.writes.c.status != "pending",
                    self.t.writes.c.body.in_([body.decode() for body in bodies]),
                )
            )
