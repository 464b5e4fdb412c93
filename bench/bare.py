"""The bare baseline of a pull: an httpx page walk and one `executemany` per page into SQLite.

`python -m bench.bare --url URL --token T [--sqlite PATH] [--gte INSTANT]` prints its
figures as JSON. It is what any client must do at least (fetch, decode JSON, write
rows) and nothing more: no checks, no merge, no state. CPU is this process's CPU time
(user + system, `resource.getrusage`), wall is `time.perf_counter`; both cover the walk
alone, not the interpreter's start. `bench.child` runs it as its `baseline_walk` task.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import time
from typing import Any

import httpx

from storage.tables import DEFAULT_TABLES

# The baseline's table has the store's columns, so both write the same data.
CONTACT_COLUMNS = tuple(c.name for c in DEFAULT_TABLES.contacts.columns if c.name != "local_id")
JSON_COLUMNS = frozenset({"contact_types", "phones", "extra"})
UPDATED_GTE = "filter[updated_at][gte]"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _plain_table(db: sqlite3.Connection) -> None:
    columns = ", ".join(f"{name} INTEGER UNIQUE" if name == "id" else f"{name}" for name in CONTACT_COLUMNS)
    db.execute(f"CREATE TABLE IF NOT EXISTS contacts (local_id INTEGER PRIMARY KEY, {columns})")


def _row(contact: dict[str, Any]) -> tuple[Any, ...]:
    extra = {k: v for k, v in contact.items() if k not in CONTACT_COLUMNS}
    values = {**contact, "extra": extra or None}
    return tuple(
        json.dumps(values.get(name), ensure_ascii=False)
        if name in JSON_COLUMNS and values.get(name) is not None
        else values.get(name)
        for name in CONTACT_COLUMNS
    )


def walk(
    base_url: str,
    token: str,
    *,
    sqlite_path: str | None = None,
    limit: int = 200,
    gte: str | None = None,
) -> dict[str, Any]:
    """Walk GET /contacts to its end (filtered from `gte` when given); with a path, store every page."""
    db: sqlite3.Connection | None = None
    insert = ""
    cpu0, wall0 = cpu(), time.perf_counter()
    if sqlite_path:
        db = sqlite3.connect(sqlite_path, isolation_level=None)
        # The same connection settings as the store (storage/database.py).
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        _plain_table(db)
        # Upsert on id: a second walk into the same file (a no-op sync) rewrites, never duplicates.
        insert = (
            f"INSERT OR REPLACE INTO contacts ({', '.join(CONTACT_COLUMNS)}) "  # noqa: S608 - constants
            f"VALUES ({', '.join('?' for _ in CONTACT_COLUMNS)})"
        )
    pages = rows = 0
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "X-Origin-App": "contacts-sync-bench",
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0, trust_env=False) as http:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if gte is not None:
                params[UPDATED_GTE] = gte
            if cursor is not None:
                params["cursor"] = cursor
            response = http.get("/contacts", params=params)
            response.raise_for_status()
            body = response.json()
            pages += 1
            contacts = body["data"]
            rows += len(contacts)
            if db is not None:
                db.execute("BEGIN")
                db.executemany(insert, [_row(c) for c in contacts])
                db.execute("COMMIT")
            pagination = body.get("pagination") or {}
            cursor = pagination.get("next_cursor")
            if not pagination.get("has_more") or not cursor:
                break
    if db is not None:
        db.close()
    return {"pages": pages, "rows": rows, "seconds": time.perf_counter() - wall0, "cpu_seconds": cpu() - cpu0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the API's base URL (CONTACTS_SYNC_API_URL)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--sqlite", help="a SQLite file to write the rows into (none: walk only)")
    parser.add_argument("--gte", help=f"walk only the contacts {UPDATED_GTE} this instant")
    options = parser.parse_args(argv)
    print(json.dumps(walk(options.url, options.token, sqlite_path=options.sqlite, gte=options.gte)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
