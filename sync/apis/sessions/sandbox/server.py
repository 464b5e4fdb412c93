"""The sessions sandbox as a real HTTP/1.1 server on loopback, built on the standard library.

Shaped like the Lev sandbox's server (same reasons: ``drop-before``/``drop-after``
need the socket itself), plus streaming: a list answer is written in pieces of
about 64 KiB from the pre-rendered contacts, with a computed Content-Length or
chunked transfer encoding, so the body never exists whole in memory.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Final, TextIO

from sync.apis.lev.sandbox.api import IncomingRequest
from sync.apis.sessions.sandbox.admin import ADMIN_PREFIX, handle_admin
from sync.apis.sessions.sandbox.api import API_PREFIX, handle_api
from sync.apis.sessions.sandbox.sessions import DEFAULT_ROLE
from sync.apis.sessions.sandbox.state import SessionsState
from sync.apis.sessions.sandbox.wire import TEXT_TYPE, Reply

logger = logging.getLogger(__name__)

IDLE_KEEPALIVE_SECONDS: Final[float] = 60.0
MAX_BODY_BYTES: Final[int] = 10 * 1024 * 1024
DEFAULT_PORT: Final[int] = 8766
_INCOMPLETE = b"\x00incomplete"  # a sentinel: identity, never compared by value


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes the connections itself; joining handler threads could hang on a slow fault.
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: SessionsState) -> None:
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that closes a list answer once it has read enough (a lookup that found its
        # contact, a session check) resets the connection: that is no server error to print.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SessionsSandbox/1"
    timeout = IDLE_KEEPALIVE_SECONDS
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add 40 ms a request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        # The client or stop() may already have closed the socket.
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("sessions_sandbox.http " + format, *args)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is _INCOMPLETE:
            # The client went away mid-request: like a real server, apply nothing.
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            self._send(Reply(400, b"Bad Request", TEXT_TYPE))
            return
        target = self.path
        if target.startswith(ADMIN_PREFIX):
            self._send(handle_admin(self.server.state, self.command, target.split("?")[0], body))
            return
        headers = dict(self.headers.items())
        outcome = handle_api(self.server.state, IncomingRequest(self.command, target, headers, body))
        if outcome.delay_seconds > 0:
            time.sleep(outcome.delay_seconds)
        if outcome.reply is None:
            self._drop()
            return
        self._send(outcome.reply)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # The clients under test send Content-Length; a chunked upload is refused, not guessed at.
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length)
        return body if len(body) == length else _INCOMPLETE

    def _send(self, reply: Reply) -> None:
        try:
            self._write(reply)
        except OSError:
            # The client went away mid-answer; nothing to clean up but the connection.
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        stream = reply.stream
        self.send_response(reply.status)
        for name, value in reply.wire_headers().items():
            self.send_header(name, value)
        if stream is not None and stream.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.body) if stream is None else stream.length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
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

    def _drop(self) -> None:
        # No status line, no headers: the client sees the connection close mid-request.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class SessionsSandboxServer:
    """A ``SessionsState`` served over HTTP on a background thread."""

    def __init__(self, state: SessionsState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sessions sandbox server is not started")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8766/api``."""
        return self.root_url + API_PREFIX

    @property
    def admin_url(self) -> str:
        return self.root_url + ADMIN_PREFIX

    @property
    def cookie(self) -> str:
        """The ``connect.sid`` value of the session opened at start."""
        return self.state.cookie

    def start(self) -> SessionsSandboxServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self._requested_port), self.state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sessions-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.sockets_lock:
            sockets = list(httpd.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SessionsSandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


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
        restore = _stop_on_signals(stop_event)
        try:
            # A timed wait so signal handlers get to run promptly.
            while not stop_event.wait(0.2):
                pass
        finally:
            restore()


def _stop_on_signals(stop_event: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
