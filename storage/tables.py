"""The store's tables.

`contacts` is the contract with other programs: they read it and edit it with
plain SQL.  Every other table is the worker's own bookkeeping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import AutoString, Field, SQLModel

from sync.apis.kinds import Kind
from sync.apis.registry import DEFAULT_API, adapter_named


class UnreadableJSON(str):
    """The text of a JSON column that does not parse: kept, shown, never sent."""


class TolerantJSON(TypeDecorator[Any]):
    """JSONB on PostgreSQL, text elsewhere; bad JSON written by hand reads as UnreadableJSON.

    A row that another program broke must be reported with its field name, not
    make the whole query fail.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        if isinstance(value, UnreadableJSON):  # written back as another program left it
            return str(value)
        if isinstance(value, bytes):
            return value
        return json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not isinstance(value, str) or dialect.name == "postgresql":
            return value
        try:
            return json.loads(value)
        except ValueError:
            return UnreadableJSON(value)


class _AsStoredBoolean(Boolean):
    """SQLite's BOOLEAN without SQLAlchemy's bool(value) on read or its TypeError on write."""

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        return None

    def bind_processor(self, dialect: Dialect) -> Any:
        return lambda value: int(value) if isinstance(value, bool) else value


class StrictBoolean(TypeDecorator[Any]):
    """BOOLEAN that reads only 0/1 (SQLite) or true/false (PostgreSQL) as a bool.

    SQLite keeps whatever another program writes: is_primary = 'no' would read as
    True through a plain Boolean and be sent as true. Any other value is read as
    it is, so the planner refuses it by name, and is written back unchanged.
    """

    impl = Boolean
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_AsStoredBoolean())
        return dialect.type_descriptor(Boolean())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        return value


def _bigint(**kwargs: Any) -> Any:
    return Field(default=None, sa_type=BigInteger, **kwargs)


# A column's SQL type by the kind of values it holds; TEXT is sqlmodel's VARCHAR, as
# stores made before the table was built from an adapter have it.
_COLUMN_TYPES: dict[Kind, Callable[[], TypeEngine[Any]]] = {
    Kind.TEXT: AutoString,
    Kind.INTEGER: BigInteger,
    Kind.BOOLEAN: StrictBoolean,
    Kind.JSON: TolerantJSON,
}


def contacts_table(metadata: MetaData, columns: Mapping[str, Kind]) -> Table:
    """The `contacts` table of an API's columns, around the store's own `local_id` and `extra`.

    `id` (the API's contact id) is unique; every API column may be NULL: a row
    inserted by another program has no id yet, and a field can be unset.
    """
    return Table(
        "contacts",
        metadata,
        # Never reuse a deleted row's local_id: the last-synced state may still point at it.
        Column("local_id", Integer, primary_key=True),
        *(Column(name, _COLUMN_TYPES[kind](), unique=name == "id") for name, kind in columns.items()),
        Column("extra", TolerantJSON()),
        sqlite_autoincrement=True,
    )


class SyncState(SQLModel, table=True):
    """The last state both sides agreed on, per remote contact: the diff's base."""

    __tablename__ = "sync_state"

    contact_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    local_id: int = Field(unique=True, index=True)
    fields: Any = Field(sa_type=JSON)
    connected: bool = Field(default=False, index=True)
    # Digest of the remote record last merged: an unchanged contact in a pull is skipped
    # without decoding or merging anything.
    remote_digest: str | None = None


class PendingWrite(SQLModel, table=True):
    """A write saved, key and exact body, before its first attempt; or why it was refused."""

    __tablename__ = "writes"

    write_id: int | None = Field(default=None, primary_key=True)
    local_id: int = Field(index=True)
    contact_id: int | None = _bigint()
    method: str
    path: str
    body: str
    fields: Any = Field(sa_type=JSON)
    idempotency_key: str = Field(unique=True)
    status: str = Field(index=True)  # pending | rejected (by the server) | refused (locally)
    error: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    created_at: str
    updated_at: str


class ConflictRecord(SQLModel, table=True):
    __tablename__ = "conflicts"

    conflict_id: int | None = Field(default=None, primary_key=True)
    local_id: int = Field(index=True)
    contact_id: int | None = _bigint()
    field: str
    base_value: Any = Field(default=None, sa_type=JSON, nullable=True)
    local_value: Any = Field(default=None, sa_type=JSON, nullable=True)
    remote_value: Any = Field(default=None, sa_type=JSON, nullable=True)
    policy: str
    winner: str  # local | remote | held
    status: str = Field(index=True)  # open (waits for a person) | settled | resolved
    resolution: Any = Field(default=None, sa_type=JSON, nullable=True)
    created_at: str
    resolved_at: str | None = None


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoints"

    name: str = Field(primary_key=True)
    value: str | None = None
    updated_at: str


class RunRecord(SQLModel, table=True):
    __tablename__ = "runs"

    run_id: str = Field(primary_key=True)
    started_at: str = Field(index=True)
    finished_at: str | None = None
    outcome: str  # running | ok | attention | failed | interrupted
    counts: Any = Field(default=None, sa_type=JSON, nullable=True)
    error: str | None = None


class LocalChange(SQLModel, table=True):
    """A row of `contacts` written since the planner last looked: filled by triggers.

    So the planner reads the rows other programs touched, not the whole table, and
    nobody has to tell the worker what they edited.
    """

    __tablename__ = "local_changes"

    seq: int | None = Field(default=None, primary_key=True)
    local_id: int = Field(sa_type=BigInteger)


class SchemaMigration(SQLModel, table=True):
    __tablename__ = "schema_migrations"

    name: str = Field(primary_key=True)
    applied_at: str


# The Core tables, for the store's bulk SQL (sqlmodel's classes do not type `__table__`).
# Every store serves the default API while it is the only one; a store bound to another
# API will build this table from that adapter's columns.
CONTACT_KINDS: Mapping[str, Kind] = adapter_named(DEFAULT_API).columns
CONTACTS: Table = contacts_table(SQLModel.metadata, CONTACT_KINDS)
STATE: Table = SyncState.__table__  # type: ignore[attr-defined]
WRITES: Table = PendingWrite.__table__  # type: ignore[attr-defined]
CONFLICTS: Table = ConflictRecord.__table__  # type: ignore[attr-defined]
CHECKPOINTS: Table = Checkpoint.__table__  # type: ignore[attr-defined]
RUNS: Table = RunRecord.__table__  # type: ignore[attr-defined]
MIGRATIONS: Table = SchemaMigration.__table__  # type: ignore[attr-defined]
LOCAL_CHANGES: Table = LocalChange.__table__  # type: ignore[attr-defined]
