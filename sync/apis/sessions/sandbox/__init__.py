"""A local stand-in for the session-cookie contacts API (seed 003), served over loopback.

``SessionsState`` is the account (contacts, sessions, faults, switches, request
log); ``SessionsSandboxServer`` serves it over HTTP/1.1; ``serve`` runs one in
the foreground (``python -m sync.apis.sessions.sandbox``, later
``contacts-sync sandbox --api sessions``); ``running_sessions_sandbox`` is the
test helper. Faults use the Lev sandbox's SPEC grammar (``sync.apis.lev.sandbox.faults``);
the admin routes are listed in ``admin``.
"""

from sync.apis.sessions.sandbox.server import SessionsSandboxServer, serve
from sync.apis.sessions.sandbox.state import SessionsState
from sync.apis.sessions.sandbox.testing import running_sessions_sandbox

__all__ = ["SessionsSandboxServer", "SessionsState", "running_sessions_sandbox", "serve"]
