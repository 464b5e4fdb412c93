"""Precompiled SQL for a pull's hot path: rows as tuples in column order, one executemany each.

A 20k pull spent over a quarter of its CPU in SQLAlchemy Core's per-row parameter work
and type processors. These statements are written once per store, for its dialect, and
sent to the driver as they are; the encoders below do exactly what the columns' types
(`storage.tables.TolerantJSON`, `StrictBoolean`, `JSON` with `_record_json`) do on write,
so a row written here reads back, through Core or through another program, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Table
from sqlalchemy.engine import Dialect

from storage.database import record_json
from storage.tables import StoreTables, StrictBoolean, TolerantJSON, UnreadableJSON

Encoder = Callable[[Any], Any]
# json.dumps with options builds an encoder per call: three JSON columns a contact add up.
_UTF8_JSON = json.JSONEncoder(ensure_ascii=False)
# JSONEncoder.encode's own fast path, made once: no circular check (a cycle ends in RecursionError,
# then the standard encoder names it), the same separators and float handling.
_C_ENCODE: Callable[[Any, int], Sequence[str]] | None = (
    None
    if json.encoder.c_make_encoder is None  # type: ignore[attr-defined]
    else json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None,
        _UTF8_JSON.default,
        json.encoder.encode_basestring,
        None,
        _UTF8_JSON.key_separator,
        _UTF8_JSON.item_separator,
        False,
        False,
        True,
    )
)


def _sqlite_tolerant_json(value: Any) -> Any:
    # TolerantJSON.process_bind_param on SQLite: text as another program left it is kept.
    if value is None:
        return None
    if isinstance(value, UnreadableJSON):
        return str(value)
    if isinstance(value, bytes):
        return value
    return _utf8_json(value)


def _utf8_json(value: Any) -> str:
    """`_UTF8_JSON.encode(value)`, the same text, without building an encoder per call.

    JSONEncoder.encode makes a C encoder (and a closure) on every call, which cost more
    than the encoding of a contact's short lists; this one is made once. Other programs
    read these columns, so their text stays exactly what SQLAlchemy Core writes.
    """
    if _C_ENCODE is None:
        return _UTF8_JSON.encode(value)
    try:
        return "".join(_C_ENCODE(value, 0))
    except (RecursionError, ValueError, TypeError):  # the standard encoder says what is wrong
        return _UTF8_JSON.encode(value)


def _as_is(value: Any) -> Any:
    return value


def _sqlite_tolerant_json_read(value: Any) -> Any:
    # TolerantJSON.process_result_value: bad JSON another program wrote reads as UnreadableJSON.
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return UnreadableJSON(value)


def _sqlite_strict_boolean_read(value: Any) -> Any:
    # StrictBoolean.process_result_value: only 0 and 1 are booleans; 'no' stays 'no'.
    if type(value) is int and value in (0, 1):
        return bool(value)
    return value


def _sqlite_json_read(value: Any) -> Any:
    return None if value is None else json.loads(value)


class BulkSQL:
    """The statements and row encoders of one store's pull, for its dialect (SQLite or PostgreSQL)."""

    def __init__(self, tables: StoreTables, dialect: Dialect) -> None:
        self._dialect = dialect
        self.postgres = dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        contacts, state = tables.contacts, tables.state
        columns = contacts.columns
        self.contact_columns: tuple[str, ...] = tuple(c.name for c in columns if c.name != "local_id")
        self._contact_encoders = {c.name: self._encoder(c.type) for c in contacts.columns}
        # Only JSON columns change on the way in: the others go from the dict to the tuple as they are.
        self._encoded_positions = tuple(
            (position, self._contact_encoders[name])
            for position, name in enumerate(self.contact_columns)
            if self._contact_encoders[name] is not _as_is
        )
        self._contact_marks = {c.name: self._placeholder(c.type) for c in contacts.columns}
        self.encode_fields: Encoder = self._encoder(state.c.fields.type)
        # Reads: PostgreSQL's driver decodes JSON and booleans itself; SQLite's hands back text and 0/1.
        self.select_contacts = f"SELECT local_id, {', '.join(self.contact_columns)} FROM contacts"  # noqa: S608
        self.for_update = " FOR UPDATE" if self.postgres else ""
        self._decoded_positions = tuple(
            (position + 1, decode)
            for position, name in enumerate(self.contact_columns)
            if (decode := self._decoder(contacts.c[name].type)) is not _as_is
        )
        self.decode_fields: Encoder = self._decoder(state.c.fields.type)
        self.insert_contacts = self._insert(contacts, self.contact_columns)
        state_columns = ("local_id", "fields", "connected", "remote_digest", "contact_id")
        self.insert_state = self._insert(state, state_columns)
        fields_mark = self._placeholder(state.c.fields.type)
        m = self.mark
        self.update_state = (
            f"UPDATE sync_state SET local_id = {m}, fields = {fields_mark}, connected = {m}, "  # noqa: S608
            f"remote_digest = {m} WHERE contact_id = {m}"
        )
        self._updates: dict[tuple[str, ...], str] = {}

    def _encoder(self, column_type: Any) -> Encoder:
        """What the column's type does to a value on write, without SQLAlchemy per row."""
        if isinstance(column_type, TolerantJSON):
            # On PostgreSQL the JSONB impl serializes every value, None included (JSON null).
            return record_json if self.postgres else _sqlite_tolerant_json
        if isinstance(column_type, JSON):
            return record_json  # none_as_null is off: None is stored as JSON null, as Core does
        # StrictBoolean, integers, text: the drivers take them as they are (sqlite3 writes a
        # bool as 0/1, any other value written by another program goes back unchanged).
        return _as_is

    def _decoder(self, column_type: Any) -> Encoder:
        """What the column's type does to a value the driver read, without SQLAlchemy per row."""
        if self.postgres:
            return _as_is
        if isinstance(column_type, TolerantJSON):
            return _sqlite_tolerant_json_read
        if isinstance(column_type, StrictBoolean):
            return _sqlite_strict_boolean_read
        if isinstance(column_type, JSON):
            return _sqlite_json_read
        return _as_is

    def contact_read(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row of `select_contacts` as Core reads it: local_id and every column by name."""
        values = list(row)
        for position, decode in self._decoded_positions:
            values[position] = decode(values[position])
        return dict(zip(("local_id", *self.contact_columns), values, strict=True))

    def _placeholder(self, column_type: Any) -> str:
        if not self.postgres:
            return "?"
        if isinstance(column_type, TolerantJSON):
            return "CAST(%s AS JSONB)"
        if isinstance(column_type, JSON):
            return "CAST(%s AS JSON)"
        return "%s"

    def _insert(self, table: Table, columns: Sequence[str]) -> str:
        marks = ", ".join(self._placeholder(table.c[name].type) for name in columns)
        return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - names from the schema

    def contact_row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """A new row of `contacts`, every column (local_id aside) in order."""
        row = list(map(values.get, self.contact_columns))
        for position, encode in self._encoded_positions:
            row[position] = encode(row[position])
        return tuple(row)

    def update_contacts(self, shape: tuple[str, ...]) -> str:
        """UPDATE of these columns of one row by local_id (the last parameter)."""
        statement = self._updates.get(shape)
        if statement is None:
            sets = ", ".join(f"{name} = {self._contact_marks[name]}" for name in shape)
            statement = f"UPDATE contacts SET {sets} WHERE local_id = {self.mark}"  # noqa: S608 - schema names
            self._updates[shape] = statement
        return statement

    def contact_update_row(
        self, shape: tuple[str, ...], values: dict[str, Any], local_id: int
    ) -> tuple[Any, ...]:
        encoders = self._contact_encoders
        return (*(encoders[name](values[name]) for name in shape), local_id)

    def among(self, name: str, column: Column[Any]) -> str:
        """`name` (the SQL of `column`) is one of a list given as the one parameter (see `listed`):
        one statement whatever the list's length, and no limit on the number of SQL variables."""
        if self.postgres:
            # Cast to the column's own type: an array psycopg typed otherwise (numeric[]) would
            # compare without the index.
            return f"{name} = ANY(CAST(%s AS {column.type.compile(dialect=self._dialect)}[]))"
        return f"{name} IN (SELECT value FROM json_each(?))"  # noqa: S608 - a column's name

    def listed(self, values: Sequence[Any]) -> Any:
        """The parameter of `among`: an array on PostgreSQL, a JSON array on SQLite."""
        return list(values) if self.postgres else json.dumps(list(values))
