"""The sessions sandbox as a real HTTP/1.1 server on loopback (see ``sync.apis.sandbox_kit.server``).

On top of the kit: chunked uploads refused, and streaming: a list answer is written in pieces of
about 64 KiB from the pre-rendered contacts, with a computed Content-Length or
chunked transfer encoding, so the body never exists whole in memory.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import ClassVar, Final, TextIO

from sync.apis.sandbox_kit.foreground import wait_for_stop
from sync.apis.sandbox_kit.request import IncomingRequest
from sync.apis.sandbox_kit.server import BackgroundServer, SandboxHandler, SandboxHTTPServer
from sync.apis.sessions.sandbox.admin import ADMIN_PREFIX, handle_admin
from sync.apis.sessions.sandbox.api import API_PREFIX, handle_api
from sync.apis.sessions.sandbox.sessions import DEFAULT_ROLE
from sync.apis.sessions.sandbox.state import SessionsState
from sync.apis.sessions.sandbox.wire import TEXT_TYPE, Reply

logger = logging.getLogger(__name__)

DEFAULT_PORT: Final[int] = 8766


class _HTTPServer(SandboxHTTPServer):
    def __init__(self, address: tuple[str, int], state: SessionsState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class _Handler(SandboxHandler):
    server_version = "SessionsSandbox/1"
    # The clients under test send Content-Length; a chunked upload is refused, not guessed at.
    accepts_chunked = False
    event_prefix = "sessions_sandbox"
    log: ClassVar[logging.Logger] = logger
    server: _HTTPServer

    def refuse_unreadable(self) -> None:
        self._send(Reply(400, b"Bad Request", TEXT_TYPE))

    def answer_request(self, body: bytes) -> None:
        target = self.path
        if target.startswith(ADMIN_PREFIX):
            self._send(handle_admin(self.server.state, self.command, target.split("?")[0], body))
            return
        headers = dict(self.headers.items())
        outcome = handle_api(self.server.state, IncomingRequest(self.command, target, headers, body))
        reply = self.after_delay(outcome.delay_seconds, outcome.reply)
        if reply is not None:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        try:
            self._write(reply)
        except OSError:
            # The client went away mid-answer; nothing to clean up but the connection.
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        stream = reply.stream
        headers = list(reply.wire_headers().items())
        if stream is not None and stream.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(reply.body) if stream is None else stream.length)))
        self.send_head(reply.status, headers)
        if stream is None:
            self.wfile.write(reply.body)
        elif stream.chunked:
            for piece in stream.pieces():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            # A cut (malformed) chunked body still ends properly: the JSON is what is broken.
            self.wfile.write(b"0\r\n\r\n")
        else:
            for piece in stream.pieces():
                self.wfile.write(piece)


class SessionsSandboxServer(BackgroundServer[SessionsState]):
    """A ``SessionsState`` served over HTTP on a background thread."""

    name = "sessions sandbox"
    thread_prefix = "sessions-sandbox"
    admin_prefix = ADMIN_PREFIX

    def bind(self, address: tuple[str, int]) -> SandboxHTTPServer:
        return _HTTPServer(address, self.state)

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8766/api``."""
        return self.root_url + API_PREFIX

    @property
    def cookie(self) -> str:
        """The ``connect.sid`` value of the session opened at start."""
        return self.state.cookie


def serve(
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    contacts: int = 500,
    seed: int = 0,
    role: str = DEFAULT_ROLE,
    session_id: str | None = None,
    secret: str | None = None,
    session_max_age: float | None = None,
    faults: str | None = None,
    latency_ms: int = 0,
    error_body: str = "json",
    duplicate_email: str = "409",
    chunked: bool = False,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Run a sessions sandbox in the foreground until SIGINT/SIGTERM (or ``stop`` is set).

    Prints ``CONTACTS_SYNC_API_URL=...``, ``CONTACTS_SYNC_SESSION_COOKIE=...``
    (the ``connect.sid`` value) and ``CONTACTS_SYNC_SANDBOX_ADMIN_URL=...`` on
    start, one line each, so a shell can ``eval`` or a test can parse them.
    Raises ``ValueError`` or ``FaultSpecError`` for a bad option, before serving.
    """
    state = SessionsState(
        contacts=contacts,
        seed=seed,
        role=role,
        session_id=session_id,
        secret=secret,
        session_max_age=session_max_age,
        faults=faults,
        latency_ms=latency_ms,
        error_body=error_body,
        duplicate_email=duplicate_email,
        chunked=chunked,
    )
    stop_event = stop or threading.Event()
    stream = out or sys.stdout
    with SessionsSandboxServer(state, host=host, port=port) as server:
        print(f"CONTACTS_SYNC_API_URL={server.base_url}", file=stream, flush=True)
        print(f"CONTACTS_SYNC_SESSION_COOKIE={server.cookie}", file=stream, flush=True)
        print(f"CONTACTS_SYNC_SANDBOX_ADMIN_URL={server.admin_url}", file=stream, flush=True)
        wait_for_stop(stop_event)
