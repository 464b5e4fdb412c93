"""The database URL a user gave, checked and put in the one form the store opens.

Checked here, with the settings, so a mistake is reported under the name the
user gave it (flag, file key or variable) before anything touches the disk: a
URL SQLAlchemy reads differently than the user meant (`sqlite://tmp/x.db` names
a *host* `tmp`) would otherwise create a stray file somewhere else.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

FORMS = (
    "sqlite:///relative/path.db (from the working directory), sqlite:////absolute/path.db "
    "or postgresql://user@host/dbname"
)
# Heroku, Render and others hand out postgres://, which SQLAlchemy no longer reads.
_POSTGRES_ALIASES = ("postgres", "postgresql", "postgres+psycopg", "postgresql+psycopg")
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")


def checked_database_url(text: str) -> str:
    """`text` in the form the store opens; a ValueError saying which form to use instead."""
    scheme, separator, rest = text.strip().partition("://")
    scheme = scheme.lower()
    if not separator or not scheme:
        shown = "" if "@" in text else f"{text!r} "  # user:password@host without a scheme
        raise ValueError(f"{shown}is not a database URL; use {FORMS}")
    if scheme in _POSTGRES_ALIASES:
        scheme = "postgresql+psycopg"
    elif scheme.split("+", 1)[0] in ("postgres", "postgresql"):
        raise ValueError(
            f"{scheme}:// needs a driver contacts-sync does not ship; use postgresql:// (it uses psycopg 3)"
        )
    elif scheme not in _SQLITE_DRIVERS:
        raise ValueError(
            f"{scheme}:// is not supported; contacts-sync keeps its store in SQLite or PostgreSQL: {FORMS}"
        )
    url = f"{scheme}://{rest}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # a port that is not a number is a ValueError
        raise ValueError(f"{_shown(url)} is not a database URL; use {FORMS}") from None
    if scheme in _SQLITE_DRIVERS:
        _check_sqlite(rest, parsed.host, parsed.database)
    return url


def _check_sqlite(rest: str, host: str | None, database: str | None) -> None:
    if host:  # sqlite://tmp/x.db: two slashes, so `tmp` was read as a host
        path = rest.split("?", 1)[0]
        raise ValueError(
            f"sqlite://{path} has two slashes, which makes {host!r} a host name; for a file use "
            f"sqlite:///{path} (relative to the working directory) or sqlite:////{path.lstrip('/')} "
            "(absolute path)"
        )
    if not database or database == ":memory:":
        raise ValueError(
            "names no file (a store in memory would forget every sync); use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )


def _shown(url: str) -> str:
    """The URL without its password, for a message."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # a port that is not a number is a ValueError
        return url.split("://", 1)[0] + "://..."
