"""Express sessions: the signed ``connect.sid`` cookie and the server-side session store.

express-session sets ``connect.sid`` to ``encodeURIComponent("s:" + sid + "." + sig)``
where ``sig`` is the unpadded base64 HMAC-SHA256 of ``sid`` under the app's
secret (the cookie-signature package), so a value looks like
``s%3A<sid>.<sig>`` with ``+`` and ``/`` escaped. A cookie whose signature does
not verify is treated as no cookie at all, as express-session does. A session
has a role; it ends when its max age runs out or an admin expires it.

Not thread-safe on its own: ``SessionsState`` calls it under its lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

COOKIE_NAME: Final[str] = "connect.sid"
CREATE_ROLES: Final[frozenset[str]] = frozenset({"consultant", "admin"})
DEFAULT_ROLE: Final[str] = "consultant"


def signature(sid: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), sid.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode().rstrip("=")


def cookie_value(sid: str, secret: str) -> str:
    """The ``connect.sid`` value as Express sends it (URL-encoded, ``s%3A`` prefix)."""
    # encodeURIComponent leaves these unescaped besides letters, digits and "-_.~".
    return quote(f"s:{sid}.{signature(sid, secret)}", safe="!*'()")


def unsigned_sid(value: str, secret: str) -> str | None:
    """The session id in a ``connect.sid`` value, or None if it is not validly signed."""
    decoded = unquote(value.strip())
    if not decoded.startswith("s:"):
        return None
    sid, dot, sig = decoded[2:].rpartition(".")
    if not dot or not sid:
        return None
    if not hmac.compare_digest(sig.encode(), signature(sid, secret).encode()):
        return None
    return sid


def cookie_from_header(header: str | None) -> str | None:
    """The ``connect.sid`` value in a ``Cookie`` header, or None."""
    for part in (header or "").split(";"):
        name, equals, value = part.strip().partition("=")
        if equals and name.strip() == COOKIE_NAME:
            return value.strip().strip('"')
    return None


@dataclass
class Session:
    number: int
    sid: str
    role: str
    expires_at: float | None
    expired: bool = False


class SessionStore:
    """The server's sessions, by id; ``number`` is the handle the admin routes use."""

    def __init__(self, secret: str, *, clock: Callable[[], float]) -> None:
        self.secret = secret
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def open(
        self, *, role: str = DEFAULT_ROLE, sid: str | None = None, max_age: float | None = None
    ) -> Session:
        """A new session (``max_age`` in seconds, None for no expiry)."""
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be positive")
        sid = sid or secrets.token_urlsafe(24)
        if sid in self._sessions:
            raise ValueError("that session id is taken")
        expires_at = None if max_age is None else self._clock() + max_age
        session = Session(len(self._sessions) + 1, sid, role, expires_at)
        self._sessions[sid] = session
        return session

    def cookie(self, session: Session) -> str:
        return cookie_value(session.sid, self.secret)

    def find(self, cookie_header: str | None) -> Session | None:
        """The live session named by a request's ``Cookie`` header, or None."""
        value = cookie_from_header(cookie_header)
        sid = None if value is None else unsigned_sid(value, self.secret)
        session = None if sid is None else self._sessions.get(sid)
        if session is None or not self.is_live(session):
            return None
        return session

    def is_live(self, session: Session) -> bool:
        if session.expires_at is not None and self._clock() >= session.expires_at:
            session.expired = True
        return not session.expired

    def by_number(self, number: int) -> Session | None:
        return next((s for s in self._sessions.values() if s.number == number), None)

    def expire(self, number: int) -> Session | None:
        session = self.by_number(number)
        if session is not None:
            session.expired = True
        return session

    def all(self) -> list[Session]:
        return list(self._sessions.values())
