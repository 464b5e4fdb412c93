"""Named, ordered schema migrations, each recorded in `schema_migrations` once applied."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, inspect, select, text

from storage.database import read_transaction, write_transaction
from storage.tables import CHECKPOINTS, DELETIONS, LOCAL_CHANGES, MIGRATIONS, RUNS, StoreTables
from sync.errors import StoreError

# A step returns False when it could not apply yet: it is then not recorded, and runs again.
Migration = Callable[[Connection, StoreTables], bool | None]
log = structlog.get_logger("storage.migrations")


def _initial_schema(connection: Connection, tables: StoreTables) -> None:
    # Today's shapes: the steps below find their columns there already and add nothing.
    for table in (tables.contacts, tables.state, tables.writes, tables.conflicts, CHECKPOINTS, RUNS):
        table.create(connection, checkfirst=True)


def _sync_state_remote_digest(connection: Connection, tables: StoreTables) -> None:
    # Stores made by 0001 before the column existed lack it; newer 0001 runs create it.
    columns = {c["name"] for c in inspect(connection).get_columns("sync_state")}
    if "remote_digest" not in columns:
        connection.execute(text("ALTER TABLE sync_state ADD COLUMN remote_digest VARCHAR"))


_SQLITE_TRIGGERS = [
    "CREATE TRIGGER contacts_sync_mark_insert AFTER INSERT ON contacts "
    "BEGIN INSERT INTO local_changes (local_id) VALUES (NEW.local_id); END",
    "CREATE TRIGGER contacts_sync_mark_update AFTER UPDATE ON contacts "
    "BEGIN INSERT INTO local_changes (local_id) VALUES (NEW.local_id); END",
]
_POSTGRESQL_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION contacts_sync_mark_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO local_changes (local_id) VALUES (NEW.local_id); RETURN NULL; END $$",
    "CREATE TRIGGER contacts_sync_mark_change AFTER INSERT OR UPDATE ON contacts "
    "FOR EACH ROW EXECUTE FUNCTION contacts_sync_mark_change()",
]


def _local_change_triggers(connection: Connection, tables: StoreTables) -> None:
    LOCAL_CHANGES.create(connection, checkfirst=True)
    statements = _POSTGRESQL_TRIGGERS if connection.dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        connection.execute(text(statement))
    # Rows written before the triggers existed are planned once, like any edit.
    connection.execute(text("INSERT INTO local_changes (local_id) SELECT local_id FROM contacts"))


_AUTOINCREMENT = re.compile(r"\bAUTOINCREMENT\b", re.IGNORECASE)
_TABLE_NAME = re.compile(
    r'^\s*CREATE\s+TABLE\s+(?:"contacts"|`contacts`|\[contacts\]|contacts\b)', re.IGNORECASE
)
_LOCAL_ID = r'(?<!\w)(?:local_id|"local_id"|`local_id`|\[local_id\])'
_KEY_COLUMN = re.compile(_LOCAL_ID + r"\s+INTEGER\s+NOT\s+NULL(\s+PRIMARY\s+KEY)?", re.IGNORECASE)
_KEY_CONSTRAINT = re.compile(r",\s*PRIMARY\s+KEY\s*\(\s*" + _LOCAL_ID + r"\s*\)", re.IGNORECASE)


def _with_autoincrement(ddl: str) -> str | None:
    """contacts' own CREATE TABLE text, renamed, local_id made AUTOINCREMENT; None if unrecognised.

    Working on the stored text keeps every column as it is, including those that
    other programs added with their defaults, constraints and generated values.
    The key column is the first one; the key constraint is the last clause (SQLite
    puts added columns before the table's constraints).
    """
    renamed, named = _TABLE_NAME.subn("CREATE TABLE contacts_rebuilt", ddl, count=1)
    constraints = list(_KEY_CONSTRAINT.finditer(renamed))
    unkeyed = renamed
    if constraints:
        last = constraints[-1]
        unkeyed = renamed[: last.start()] + renamed[last.end() :]
    column = _KEY_COLUMN.search(unkeyed)
    if not named or column is None or bool(constraints) == bool(column.group(1)):
        return None  # the key is declared neither way 0001 ever wrote it
    keyed = "local_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
    return unkeyed[: column.start()] + keyed + unkeyed[column.end() :]


def _contacts_never_reuse_local_ids(connection: Connection, tables: StoreTables) -> bool:
    """Rebuild an old SQLite `contacts` with AUTOINCREMENT (PostgreSQL never reuses ids).

    Without it SQLite hands a deleted newest row's local_id to the next insert while
    sync_state still points at it. SQLite cannot alter a primary key in place, so
    this is its documented rebuild: new table, copy, drop, rename, then the same
    indexes and triggers. Statements taken from the schema run as they are
    (exec_driver_sql): text() would read a ':word' in them as a parameter.
    Returns False, to be tried again at the next start, when the table is not as
    contacts-sync made it.
    """
    if connection.dialect.name != "sqlite":
        return True
    ddl = connection.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'contacts'")
    ).scalar_one()
    if _AUTOINCREMENT.search(ddl):
        return True
    rebuilt = _with_autoincrement(ddl)
    if rebuilt is not None:
        connection.exec_driver_sql(rebuilt)
        if _columns(connection, "contacts_rebuilt") != _columns(connection, "contacts"):
            connection.exec_driver_sql("DROP TABLE contacts_rebuilt")
            rebuilt = None
    if rebuilt is None:
        log.warning(
            "store.migration.skipped",
            migration="0004",
            reason="contacts.local_id is not declared as contacts-sync created it; left as it is. "
            "A deleted newest row's local_id may be reused",
        )
        return False
    dependents = list(
        connection.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'contacts' "
                "AND type IN ('index', 'trigger') AND sql IS NOT NULL"
            )
        ).scalars()
    )
    stored = [column[0] for column in _columns(connection, "contacts") if column[-1] == 0]
    names = ", ".join(_quoted(name) for name in stored)
    copy = f"INSERT INTO contacts_rebuilt ({names}) SELECT {names} FROM contacts"  # noqa: S608  quoted names
    connection.exec_driver_sql(copy)
    # Views and other tables' triggers that name contacts would fail the modern
    # rename's schema check in the moment between DROP and RENAME.
    connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        connection.exec_driver_sql("DROP TABLE contacts")
        connection.exec_driver_sql("ALTER TABLE contacts_rebuilt RENAME TO contacts")
    finally:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    for statement in dependents:
        connection.exec_driver_sql(statement)
    # Ids that bookkeeping still names (a deleted newest row's, say) are never handed out again.
    highest = connection.execute(
        text(
            "SELECT max(coalesce((SELECT max(local_id) FROM contacts), 0), "
            "coalesce((SELECT max(local_id) FROM sync_state), 0), "
            "coalesce((SELECT max(local_id) FROM writes), 0), "
            "coalesce((SELECT max(local_id) FROM conflicts), 0))"
        )
    ).scalar_one()
    connection.execute(text("DELETE FROM sqlite_sequence WHERE name = 'contacts'"))
    connection.execute(
        text("INSERT INTO sqlite_sequence (name, seq) VALUES ('contacts', :seq)"), {"seq": highest}
    )
    return True


def _columns(connection: Connection, table: str) -> list[tuple[Any, ...]]:
    """(name, type, notnull, default, pk, hidden) of each column: what a rebuild must keep."""
    rows = connection.exec_driver_sql(f"PRAGMA table_xinfo({table})")
    return [(r.name, r.type, r.notnull, r.dflt_value, r.pk, r.hidden) for r in rows]


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _deletions_and_attempts(connection: Connection, tables: StoreTables) -> None:
    """The history of deleted contacts, and when a write was first attempted."""
    DELETIONS.create(connection, checkfirst=True)
    columns = {c["name"] for c in inspect(connection).get_columns("writes")}
    if "attempted_at" not in columns:
        connection.execute(text("ALTER TABLE writes ADD COLUMN attempted_at VARCHAR"))


STEPS: list[tuple[str, Migration]] = [
    ("0001_initial_schema", _initial_schema),
    ("0002_sync_state_remote_digest", _sync_state_remote_digest),
    ("0003_local_change_triggers", _local_change_triggers),
    ("0004_contacts_never_reuse_local_ids", _contacts_never_reuse_local_ids),
    ("0005_deletions_and_attempts", _deletions_and_attempts),
]

_OUR_TABLES = {
    "contacts",
    "sync_state",
    "writes",
    "conflicts",
    "checkpoints",
    "runs",
    "local_changes",
    "deletions",
}


def ensure_schema(engine: Engine, tables: StoreTables) -> None:
    """Apply the migrations this store lacks; refuse a database that belongs to something else."""
    with write_transaction(engine) as connection:
        if engine.dialect.name == "postgresql":
            # One migrator at a time when a daemon and a cron run start together.
            connection.execute(text("SELECT pg_advisory_xact_lock(774411001)"))
        existing = set(inspect(connection).get_table_names())
        if "schema_migrations" not in existing and existing & _OUR_TABLES:
            raise _not_ours(engine, existing)
        MIGRATIONS.create(connection, checkfirst=True)
        applied = set(connection.execute(select(MIGRATIONS.c.name)).scalars())
        known = {name for name, _ in STEPS}
        if applied - known:
            raise _newer(applied - known)
        for name, migrate in STEPS:
            if name in applied:
                continue
            if migrate(connection, tables) is False:
                continue
            connection.execute(
                MIGRATIONS.insert().values(name=name, applied_at=datetime.now(UTC).isoformat())
            )


def _not_ours(engine: Engine, tables: set[str]) -> StoreError:
    return StoreError(
        f"the database {engine.url.render_as_string(hide_password=True)} already has "
        f"tables {sorted(tables & _OUR_TABLES)} that contacts-sync did not create; "
        "point CONTACTS_SYNC_DATABASE_URL at a new file or an empty database"
    )


def _newer(names: set[str]) -> StoreError:
    return StoreError(
        f"the store was migrated by a newer contacts-sync ({sorted(names)}); "
        "upgrade contacts-sync before using it"
    )


def pending_migrations(engine: Engine) -> list[str]:
    """The migrations the next sync would apply, read without changing anything.

    Raises StoreError where `ensure_schema` would: a database contacts-sync did not
    make, or a store a newer contacts-sync migrated.
    """
    with read_transaction(engine) as connection:
        existing = set(inspect(connection).get_table_names())
        if "schema_migrations" not in existing:
            if existing & _OUR_TABLES:
                raise _not_ours(engine, existing)
            return [name for name, _ in STEPS]
        applied = set(connection.execute(select(MIGRATIONS.c.name)).scalars())
    known = {name for name, _ in STEPS}
    if applied - known:
        raise _newer(applied - known)
    return [name for name, _ in STEPS if name not in applied]
