"""The store's tables.

`contacts` is the contract with other programs: they read it and edit it with
plain SQL.  Every other table is the worker's own bookkeeping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StoreTables:
    """The tables whose shape follows the API: `contacts`, and the bookkeeping that names a
    contact by its id (an integer at one API, a UUID at another)."""

    contacts: Table
    state: Table  # sync_state: the last state both sides agreed on, per contact: the diff's base
    writes: Table  # a write saved, key and exact body, before its first attempt; or why it was refused
    conflicts: Table

    @property
    def record_columns(self) -> tuple[str, ...]:
        """The API's columns of `contacts`, in order: everything but `local_id` and `extra`."""
        return tuple(c.name for c in self.contacts.columns if c.name not in ("local_id", "extra"))


_BUILT: dict[tuple[tuple[str, Kind], ...], StoreTables] = {}


def tables_for(columns: Mapping[str, Kind]) -> StoreTables:
    """The tables of a store whose `contacts` has these columns (built once per shape)."""
    key = tuple(columns.items())
    if key not in _BUILT:
        _BUILT[key] = _build(MetaData(), columns)
    return _BUILT[key]


def _build(metadata: MetaData, columns: Mapping[str, Kind]) -> StoreTables:
    def contact_id(**options: Any) -> Column[Any]:
        return Column("contact_id", _COLUMN_TYPES[columns["id"]](), **options)

    state = Table(
        "sync_state",
        metadata,
        contact_id(primary_key=True, autoincrement=False),
        Column("local_id", Integer, nullable=False, unique=True, index=True),
        Column("fields", JSON),
        Column("connected", Boolean, nullable=False, index=True),
        # Digest of the remote record last merged: an unchanged contact in a pull is skipped
        # without decoding or merging anything.
        Column("remote_digest", AutoString),
    )
    writes = Table(
        "writes",
        metadata,
        Column("write_id", Integer, primary_key=True),
        Column("local_id", Integer, nullable=False, index=True),
        contact_id(),
        Column("method", AutoString, nullable=False),
        Column("path", AutoString, nullable=False),
        Column("body", AutoString, nullable=False),
        Column("fields", JSON),
        Column("idempotency_key", AutoString, nullable=False, unique=True),
        Column("status", AutoString, nullable=False, index=True),  # pending | rejected | refused
        Column("error", AutoString),
        Column("http_status", Integer),
        Column("request_id", AutoString),
        Column("created_at", AutoString, nullable=False),
        Column("updated_at", AutoString, nullable=False),
        # When the first attempt left: a create without idempotency keys that was attempted
        # is looked up at the API before it is sent again.
        Column("attempted_at", AutoString),
    )
    conflicts = Table(
        "conflicts",
        metadata,
        Column("conflict_id", Integer, primary_key=True),
        Column("local_id", Integer, nullable=False, index=True),
        contact_id(),
        Column("field", AutoString, nullable=False),
        Column("base_value", JSON),
        Column("local_value", JSON),
        Column("remote_value", JSON),
        Column("policy", AutoString, nullable=False),
        Column("winner", AutoString, nullable=False),  # local | remote | held
        Column("status", AutoString, nullable=False, index=True),  # open | settled | resolved
        Column("resolution", JSON),
        Column("created_at", AutoString, nullable=False),
        Column("resolved_at", AutoString),
    )
    return StoreTables(contacts_table(metadata, columns), state, writes, conflicts)


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


class Deletion(SQLModel, table=True):
    """A contact deleted by a sync, at the API or in the table, with its last values: so
    nothing disappears without a trace."""

    __tablename__ = "deletions"

    deletion_id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, index=True)
    where: str  # "api" (a local delete sent) | "table" (the API deleted it; the row removed)
    contact_id: str  # as text, whatever the API's id type
    local_id: int
    record: Any = Field(default=None, sa_type=JSON, nullable=True)
    reason: str
    deleted_at: str


class SchemaMigration(SQLModel, table=True):
    __tablename__ = "schema_migrations"

    name: str = Field(primary_key=True)
    applied_at: str


# The default API's shapes: for code and tests that know no store (a store has its own
# in `Store.tables`, from the API it is bound to).
DEFAULT_TABLES: StoreTables = tables_for(adapter_named(DEFAULT_API).columns)
# The shared tables, for the store's bulk SQL (sqlmodel's classes do not type `__table__`).
CHECKPOINTS: Table = Checkpoint.__table__  # type: ignore[attr-defined]
RUNS: Table = RunRecord.__table__  # type: ignore[attr-defined]
MIGRATIONS: Table = SchemaMigration.__table__  # type: ignore[attr-defined]
LOCAL_CHANGES: Table = LocalChange.__table__  # type: ignore[attr-defined]
DELETIONS: Table = Deletion.__table__  # type: ignore[attr-defined]
