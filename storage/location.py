"""Where a store is, and whether there is one: commands that only read never create one.

Opening a SQLite URL creates its file (and, through `create_store_engine`, its
folder); ensuring the schema fills an empty database. Right for `sync`, wrong for
`status` or `check` given a mistyped URL: they would report an empty store
instead of saying there is none.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from storage.database import create_store_engine, read_transaction, sqlite_file
from sync.errors import NoStore


def store_location(engine: Engine) -> str:
    """How people find the store: its file's absolute path, or its URL without password."""
    path = sqlite_file(engine.url)
    if path is not None:
        return str(path.absolute())
    return engine.url.render_as_string(hide_password=True)


def open_existing_engine(url: str) -> Engine:
    """An engine for the store at `url`; NoStore (exit 2) when there is none, creating nothing."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NoStore(_no_store(str(path), f"the file {path} does not exist"))
    engine = create_store_engine(url)
    with read_transaction(engine) as connection:
        tables = set(inspect(connection).get_table_names())
    # A database with contacts-sync's tables but no migration record is someone
    # else's: ensure_schema and pending_migrations refuse it by name.
    if not tables & {"schema_migrations", "contacts"}:
        engine.dispose()
        where = str(path) if path is not None else engine.url.render_as_string(hide_password=True)
        raise NoStore(_no_store(where, "it holds no contacts-sync tables"))
    return engine


def _no_store(where: str, why: str) -> str:
    return (
        f"there is no contacts-sync store at {where} ({why}); nothing was created. Check "
        "database_url (CONTACTS_SYNC_DATABASE_URL or --database-url), or run `contacts-sync sync` "
        "to create the store there"
    )
