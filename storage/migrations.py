"""Named, ordered schema migrations, each recorded in `schema_migrations` once applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlmodel import SQLModel

from storage.database import write_transaction
from storage.tables import CHECKPOINTS, CONFLICTS, CONTACTS, MIGRATIONS, RUNS, STATE, WRITES
from sync.errors import StoreError

Migration = Callable[[Connection], None]


def _initial_schema(connection: Connection) -> None:
    SQLModel.metadata.create_all(connection, tables=[CONTACTS, STATE, WRITES, CONFLICTS, CHECKPOINTS, RUNS])


STEPS: list[tuple[str, Migration]] = [
    ("0001_initial_schema", _initial_schema),
]

_OUR_TABLES = {"contacts", "sync_state", "writes", "conflicts", "checkpoints", "runs"}


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
