"""Named, ordered schema migrations, each recorded in `schema_migrations` once applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlmodel import SQLModel

from storage.database import write_transaction
from storage.tables import (
    CHECKPOINTS,
    CONFLICTS,
    CONTACTS,
    LOCAL_CHANGES,
    MIGRATIONS,
    RUNS,
    STATE,
    WRITES,
)
from sync.errors import StoreError

Migration = Callable[[Connection], None]


def _initial_schema(connection: Connection) -> None:
    SQLModel.metadata.create_all(connection, tables=[CONTACTS, STATE, WRITES, CONFLICTS, CHECKPOINTS, RUNS])


def _sync_state_remote_digest(connection: Connection) -> None:
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


def _local_change_triggers(connection: Connection) -> None:
    LOCAL_CHANGES.create(connection, checkfirst=True)
    statements = _POSTGRESQL_TRIGGERS if connection.dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        connection.execute(text(statement))
    # Rows written before the triggers existed are planned once, like any edit.
    connection.execute(text("INSERT INTO local_changes (local_id) SELECT local_id FROM contacts"))


STEPS: list[tuple[str, Migration]] = [
    ("0001_initial_schema", _initial_schema),
    ("0002_sync_state_remote_digest", _sync_state_remote_digest),
    ("0003_local_change_triggers", _local_change_triggers),
]

_OUR_TABLES = {"contacts", "sync_state", "writes", "conflicts", "checkpoints", "runs", "local_changes"}


def ensure_schema(engine: Engine) -> None:
    """Apply the migrations this store lacks; refuse a database that belongs to something else."""
    with write_transaction(engine) as connection:
        if engine.dialect.name == "postgresql":
            # One migrator at a time when a daemon and a cron run start together.
            connection.execute(text("SELECT pg_advisory_xact_lock(774411001)"))
        existing = set(inspect(connection).get_table_names())
        if "schema_migrations" not in existing and existing & _OUR_TABLES:
            raise StoreError(
                f"the database {engine.url.render_as_string(hide_password=True)} already has "
                f"tables {sorted(existing & _OUR_TABLES)} that contacts-sync did not create; "
                "point CONTACTS_SYNC_DATABASE_URL at a new file or an empty database"
            )
        MIGRATIONS.create(connection, checkfirst=True)
        applied = set(connection.execute(select(MIGRATIONS.c.name)).scalars())
        known = {name for name, _ in STEPS}
        if applied - known:
            raise StoreError(
                f"the store was migrated by a newer contacts-sync ({sorted(applied - known)}); "
                "upgrade contacts-sync before using it"
            )
        for name, migrate in STEPS:
            if name in applied:
                continue
            migrate(connection)
            connection.execute(
                MIGRATIONS.insert().values(name=name, applied_at=datetime.now(UTC).isoformat())
            )
