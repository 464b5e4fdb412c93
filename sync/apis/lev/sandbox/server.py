"""The sandbox as a real HTTP/1.1 server on loopback, built on the standard library.

``http.server`` rather than a web framework because fault injection needs the
socket itself: ``drop-before``/``drop-after`` close the connection without a
byte of answer, which frameworks do not let a handler do. Connections are
keep-alive with one daemon thread each; ``stop()`` shuts the open ones so no
client waits on a dead server.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Final, TextIO

from sync.apis.lev.fields import API_PATH_PREFIX
from sync.apis.lev.sandbox.accounts import SandboxAccounts
from sync.apis.lev.sandbox.admin import ACCOUNTS_PREFIX, ADMIN_PREFIX, handle_accounts_admin, handle_admin
from sync.apis.lev.sandbox.api import IncomingRequest, handle_api
from sync.apis.lev.sandbox.envelope import Reply, failure
from sync.apis.lev.sandbox.filters import FilterMode
from sync.apis.lev.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

IDLE_KEEPALIVE_SECONDS: Final[float] = 60.0
MAX_BODY_BYTES: Final[int] = 10 * 1024 * 1024


_INCOMPLETE = b"\x00incomplete"  # a sentinel: identity, never compared by value


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes the connections itself; joining handler threads could hang on a slow fault.
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: SandboxState, accounts: SandboxAccounts) -> None:
        self.state = state
        self.accounts = accounts
        self.connection_numbers = itertools.count(1)
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        # A client killed mid-connection (the fleet's SIGKILL tests) is normal, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("sandbox.connection.reset client=%s", client_address)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LevSandbox/1"
    timeout = IDLE_KEEPALIVE_SECONDS
    # Headers and body go out in two writes; with Nagle on, delayed ACKs add 40 ms a request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)
            self.connection_number = next(self.server.connection_numbers)

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

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors get the JSON error envelope too, never http.server's HTML page."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            # http.server's answer to a method with no do_* handler (OPTIONS, FOO...): route it
            # like any request instead, so it is logged and answered 405 with an Allow header.
            self._dispatch()
            return
        self.close_connection = True
        # A request line it could not parse leaves http.server at HTTP/0.9, which has no status
        # line or headers: answer as HTTP/1.1 so the client can read the error.
        self.request_version = self.protocol_version
        self._send(failure(code, message or HTTPStatus(code).phrase))

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("sandbox.http " + format, *args)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is _INCOMPLETE:
            # The client went away mid-request: like a real server, apply nothing and
            # remember nothing (not even under its Idempotency-Key).
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            self._send(failure(400, "Unreadable request body"))
            return
        target = self.path
        path = target.split("?")[0]
        if path == ACCOUNTS_PREFIX or path.startswith(ACCOUNTS_PREFIX + "/"):
            self._send(handle_accounts_admin(self.server.accounts, self.command, path, body))
            return
        if target.startswith(ADMIN_PREFIX):
            self._send(handle_admin(self.server.state, self.command, path, body))
            return
        headers = dict(self.headers.items())
        state = self.server.accounts.for_authorization(self.headers.get("Authorization"))
        request = IncomingRequest(self.command, target, headers, body, connection=self.connection_number)
        outcome = handle_api(state, request)
        if outcome.delay_seconds > 0:
            time.sleep(outcome.delay_seconds)
        if outcome.reply is None:
            self._drop()
            return
        if outcome.byte_delay_seconds > 0:
            self._send_trickled(outcome.reply, outcome.byte_delay_seconds)
            return
        self._send(outcome.reply)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length)
        return body if len(body) == length else _INCOMPLETE

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                # Trailer section ends with an empty line.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                return _INCOMPLETE
            chunks.append(chunk)
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        data = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_trickled(self, reply: Reply, byte_delay: float) -> None:
        """The trickle fault: status line, headers and body one byte at a time, ``byte_delay`` apart."""
        self.close_connection = True
        data = reply.encoded()
        lines = [
            f"{self.protocol_version} {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(data)}",
            *(f"{name}: {value}" for name, value in reply.headers.items()),
            "Connection: close",
        ]
        self.log_request(reply.status)
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
        # The client giving up (or stop()) closes the socket; the next write fails and ends this.
        with contextlib.suppress(OSError):
            for index in range(len(wire)):
                self.wfile.write(wire[index : index + 1])
                time.sleep(byte_delay)

    def _drop(self) -> None:
        # No status line, no headers: the client sees the connection close mid-request.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A ``SandboxState`` served over HTTP on a background thread."""

    def __init__(self, state: SandboxState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        # More accounts, one per token, beside `state` (the first): see sandbox.accounts.
        self.accounts = SandboxAccounts(state)
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not started")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8765/api/external/v2``."""
        return self.root_url + API_PATH_PREFIX

    @property
    def admin_url(self) -> str:
        return self.root_url + ADMIN_PREFIX

    @property
    def token(self) -> str:
        return self.state.token

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self._requested_port), self.state, self.accounts)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"lev-sandbox-{self.port}",
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

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    port: int = 8765,
    contacts: int = 500,
    tier: str = "standard",
    latency_ms: int = 0,
    faults: str | None = None,
    window_seconds: float = 60.0,
    seed: int = 0,
    token: str | None = None,
    *,
    host: str = "127.0.0.1",
    read_only_token: str | None = None,
    filter_mode: FilterMode = "apply",
    accounts: Sequence[tuple[str, str]] = (),
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Run a sandbox in the foreground until SIGINT/SIGTERM (or ``stop`` is set).

    Prints ``CONTACTS_SYNC_API_URL=...`` and ``CONTACTS_SYNC_API_TOKEN=...``
    on start, one line each, so a shell can ``eval`` or a test can parse them.
    ``accounts`` adds more accounts, (name, token) each, beside the first.
    """
    state = SandboxState(
        contacts=contacts,
        seed=seed,
        tier=tier,
        window_seconds=window_seconds,
        latency_ms=latency_ms,
        faults=faults,
        token=token,
        read_only_token=read_only_token,
        filter_mode=filter_mode,
    )
    stop_event = stop or threading.Event()
    stream = out or sys.stdout
    server = SandboxServer(state, host=host, port=port)
    for index, (name, account_token) in enumerate(accounts, start=1):
        # Each account its own contacts: same size, another seed.
        server.accounts.add(
            name,
            token=account_token,
            contacts=contacts,
            seed=seed + index,
            tier=tier,
            window_seconds=window_seconds,
            latency_ms=latency_ms,
        )
    with server:
        print(f"CONTACTS_SYNC_API_URL={server.base_url}", file=stream, flush=True)
        print(f"CONTACTS_SYNC_API_TOKEN={server.token}", file=stream, flush=True)
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
