"""The fleet's database: procrastinate's tables, the fleet's own, and one schema per account.

`fleet migrate` applies all three; it is safe to run again (each step checks first).
The fleet's own table holds each account's place in the schedule and what its last
job did; its migrations are named and recorded like the store's.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from sqlalchemy.engine import make_url

from config.settings import Settings
from storage.store import Store
from sync.errors import StoreError
from sync.fleet.accounts import settings_for
from sync.fleet.config import Account, FleetConfig

MIGRATIONS_TABLE = "contacts_sync_fleet_migrations"
MIGRATE_THREADS = 4
SCHEDULE_TABLE = "contacts_sync_fleet"
# Named, ordered, applied once each (recorded in MIGRATIONS_TABLE).
FLEET_MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_schedule",
        f"""CREATE TABLE {SCHEDULE_TABLE} (
            account text PRIMARY KEY,
            next_run_at timestamptz,
            last_deferred_at timestamptz,
            last_job_id bigint,
            last_started_at timestamptz,
            last_finished_at timestamptz,
            last_outcome text,
            last_error text,
            holder text
        )""",
    ),
)


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL in the form psycopg and procrastinate connect with."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(libpq_url(database_url), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        shown = make_url(database_url).render_as_string(hide_password=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"the fleet database {shown} cannot be reached ({first})") from None


def ensure_procrastinate_schema(connection: psycopg.Connection[tuple[object, ...]], schema_sql: str) -> bool:
    """Apply procrastinate's schema unless its tables are there; True when it was applied."""
    exists = connection.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
    if exists and exists[0]:
        return False
    with connection.transaction():
        connection.execute(schema_sql.encode())
    return True


def ensure_fleet_tables(connection: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Apply the fleet's migrations not yet recorded; the names applied."""
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name text PRIMARY KEY, applied_at timestamptz "
        "NOT NULL DEFAULT now())"
    )
    applied = []
    for name, ddl in FLEET_MIGRATIONS:
        with connection.transaction():
            # Two workers starting at once: the row lock makes the second wait, then skip.
            connection.execute(f"LOCK TABLE {MIGRATIONS_TABLE} IN EXCLUSIVE MODE")
            done = connection.execute(
                "SELECT 1 FROM contacts_sync_fleet_migrations WHERE name = %s", (name,)
            ).fetchone()
            if done:
                continue
            connection.execute(ddl.encode())
            connection.execute("INSERT INTO contacts_sync_fleet_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
    return applied


def ensure_account_schema(settings: Settings, account: Account) -> None:
    """The account's schema (empty); opening its store then applies the store's migrations."""
    with connect(settings.database_url) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{account.schema}"'.encode())


def ensure_account_store(settings: Settings, account: Account) -> None:
    """The account's schema and its store's tables (the store's own migrations)."""
    ensure_account_schema(settings, account)
    Store.open(settings.database_url, settings.api).close()


def migrate_fleet(
    fleet: FleetConfig, schema_sql: str, *, say: Callable[[str], None] = lambda _line: None
) -> None:
    """Everything a fleet needs in its database, for every account of the configuration.

    An account whose secret is missing here still gets its schema: migrating needs no token.
    """
    with connect(fleet.database_url) as connection:
        if ensure_procrastinate_schema(connection, schema_sql):
            say("procrastinate: schema applied")
        else:
            say("procrastinate: schema already there")
        applied = ensure_fleet_tables(connection)
        say(f"fleet tables: {', '.join(applied) if applied else 'up to date'}")

    def migrate_account(account: Account) -> str:
        settings = settings_for(fleet, account, environ={}, flags=_no_secret_needed(account))
        ensure_account_store(settings, account)
        return f"account {account.name}: schema {account.schema} ready"

    # A few at a time: each is mostly waiting for the server's DDL.
    with ThreadPoolExecutor(max_workers=MIGRATE_THREADS) as pool:
        for line in pool.map(migrate_account, fleet.accounts.values()):
            say(line)


def _no_secret_needed(account: Account) -> dict[str, str]:
    # Migrating touches only the database: a placeholder stands in for each secret.
    return {ref.setting: "unused-for-migrations" for ref in account.secrets}
