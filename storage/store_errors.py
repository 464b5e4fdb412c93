"""What went wrong with the store, and what to do about it: one hint per cause.

A read-only file, a full disk, a missing PostgreSQL database and a wrong
password all arrive as an OperationalError; each needs a different fix. The
cause is read from SQLite's error name or PostgreSQL's SQLSTATE, and from the
message where the driver gives neither (psycopg reports a refused connection,
a missing database or role with no SQLSTATE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import URL


@dataclass(frozen=True)
class Cause:
    problem: str  # what the store is, said after the store's name
    advice: str  # what to do


def damaged(where: str) -> Cause:
    return Cause(
        "is damaged",
        f"stop contacts-sync and restore {where} from a backup (keep the damaged copy), "
        "or point CONTACTS_SYNC_DATABASE_URL at a new file to start over",
    )


_SQLITE: dict[str, Cause] = {
    "SQLITE_BUSY": Cause(
        "is locked",
        "another program has held a write transaction on it for longer than the 30 s busy timeout "
        "(an open `sqlite3` shell, a hung process): end that transaction, then run again",
    ),
    "SQLITE_FULL": Cause(
        "has no room to grow",
        "free space on the disk that holds it, or move it to a larger one; the change that did not fit "
        "was rolled back whole",
    ),
    "SQLITE_PERM": Cause(
        "may not be written (permission denied)",
        "give the user running contacts-sync read and write access to the file and its directory",
    ),
    "SQLITE_CANTOPEN": Cause(
        "cannot be opened",
        "check that its directory exists, that the path is a file (not a directory) and that this "
        "user may read and write both",
    ),
    "SQLITE_IOERR": Cause(
        "could not be read or written (I/O error)",
        "check the disk (free space, `dmesg`) and that the file is on a local file system",
    ),
}
_SQLITE["SQLITE_LOCKED"] = _SQLITE["SQLITE_BUSY"]
_SQLITE["SQLITE_AUTH"] = _SQLITE["SQLITE_PERM"]


def _read_only(path: str) -> Cause:
    return Cause(
        "is read-only for this process",
        f"give the user running contacts-sync write access to {path} and its directory "
        "(SQLite writes -wal and -shm files beside it), and drop any mode=ro from the URL",
    )


# SQLSTATEs, see https://www.postgresql.org/docs/current/errcodes-appendix.html
_POSTGRES_STATES: dict[str, Cause] = {
    "28P01": Cause(
        "refused the login (authentication failed)",
        "check the user and password in the URL (or PGPASSWORD / ~/.pgpass) and pg_hba.conf",
    ),
    "42501": Cause(
        "refused access (permission denied)",
        "grant the URL's user the rights to create and write tables in the schema",
    ),
    "53100": Cause("has no room to grow", "free space on the PostgreSQL server's disk"),
    "25006": Cause(
        "is read-only (a standby, or default_transaction_read_only)",
        "point the URL at the primary server",
    ),
    "3F000": Cause(
        "has no schema this user may use",
        "create the schema and grant the URL's user USAGE and CREATE on it, "
        "or fix the search_path in the URL",
    ),
}
_POSTGRES_STATES["28000"] = _POSTGRES_STATES["28P01"]


def _cannot_connect(url: URL) -> Cause:
    return Cause(
        "cannot be reached",
        f"check that PostgreSQL is running on {url.host or 'the local socket'}"
        f"{f' port {url.port}' if url.port else ''} and that the URL's host and port are right",
    )


def _no_database(url: URL) -> Cause:
    return Cause(
        "does not exist",
        f"create it with `createdb {url.database}` (as a user allowed to, on the same server), "
        "or fix the database name in the URL",
    )


_POSTGRES_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r'database ".*" does not exist'), "no-database"),
    (re.compile(r'role ".*" does not exist|password authentication failed|no pg_hba\.conf entry'), "28P01"),
    (re.compile(r"permission denied", re.IGNORECASE), "42501"),
    (re.compile(r"No space left on device|could not extend file", re.IGNORECASE), "53100"),
    (re.compile(r"read-only transaction"), "25006"),
    (
        re.compile(
            r"Connection refused|failed to resolve host|could not translate host name|timeout expired|"
            r"Name or service not known|No route to host|server closed the connection|"
            r"could not connect|connection failed|connection is lost|terminating connection",
            re.IGNORECASE,
        ),
        "cannot-connect",
    ),
]


def sqlite_cause(error_name: str | None, message: str, path: str) -> Cause | None:
    """The cause of a SQLite failure, from the driver's error name (Python 3.11+) and message."""
    name = error_name or ""
    if name.startswith("SQLITE_READONLY") or "readonly database" in message:
        return _read_only(path)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in message:
        return damaged(path)
    if "not a database" in message:
        return damaged(path)
    for prefix, cause in _SQLITE.items():
        if name.startswith(prefix):
            return cause
    if "database is locked" in message:
        return _SQLITE["SQLITE_BUSY"]
    if "disk is full" in message:
        return _SQLITE["SQLITE_FULL"]
    if "unable to open database file" in message:
        return _SQLITE["SQLITE_CANTOPEN"]
    return None


def postgres_cause(sqlstate: str | None, message: str, url: URL) -> Cause | None:
    """The cause of a PostgreSQL failure, from its SQLSTATE or, at connect time, its message."""
    key = sqlstate if sqlstate in _POSTGRES_STATES else None
    if key is None and sqlstate == "3D000":
        return _no_database(url)
    if key is None:
        key = next((k for pattern, k in _POSTGRES_MESSAGES if pattern.search(message)), None)
    if key == "no-database":
        return _no_database(url)
    if key == "cannot-connect":
        return _cannot_connect(url)
    return _POSTGRES_STATES.get(key) if key else None
