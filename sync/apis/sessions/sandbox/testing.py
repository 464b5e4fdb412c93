"""Test helper: a sessions sandbox on a free loopback port for the length of a ``with`` block.

with running_sessions_sandbox(contacts=20, faults="drop-after@1/POST") as sandbox:
    client = httpx.Client(base_url=sandbox.base_url, cookies={"connect.sid": sandbox.cookie})
    ...
    sandbox.state.request_log()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sync.apis.sessions.sandbox.server import SessionsSandboxServer
from sync.apis.sessions.sandbox.state import SessionsState


@contextmanager
def running_sessions_sandbox(
    *, state: SessionsState | None = None, **options: Any
) -> Iterator[SessionsSandboxServer]:
    """Start a sandbox (or serve the given ``state``) and stop it on exit.

    ``options`` are ``SessionsState``'s keyword arguments (contacts, seed, role,
    session_id, secret, session_max_age, faults, latency_ms, error_body,
    duplicate_email, chunked, clock).
    """
    with SessionsSandboxServer(state or SessionsState(**options), host="127.0.0.1", port=0) as server:
        yield server
