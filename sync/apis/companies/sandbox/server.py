"""The companies sandbox as a real HTTP/1.1 server on loopback, built on the standard library.

Like the Lev sandbox's server, and for the same reason: fault injection needs
the socket itself (``drop-before``/``drop-after`` close the connection without
a byte of answer). Connections are keep-alive, one daemon thread each;
``stop()`` shuts the open ones so no client waits on a dead server. The API
has no path prefix: the base URL is the root, the admin surface ``/_admin``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Final

from sync.apis.companies.sandbox.admin import ADMIN_PREFIX, handle_admin
from sync.apis.companies.sandbox.answers import Answer, detail, encoded
from sync.apis.companies.sandbox.api import IncomingRequest, handle_api
from sync.apis.companies.sandbox.state import CompaniesState

logger = logging.getLogger(__name__)

IDLE_KEEPALIVE_SECONDS: Final[float] = 60.0
MAX_BODY_BYTES: Final[int] = 1024 * 1024
# A sentinel for a body cut short: compared by identity, never by value.
_INCOMPLETE: Final[bytes] = b"\x00incomplete"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes the connections itself; joining handler threads could hang on a slow fault.
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: CompaniesState) -> None:
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        # A client that gave up (a timeout, a SIGKILL in the chaos tests) is normal, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("companies_sandbox.connection.reset client=%s", client_address)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Python's default (0.9) answers a garbled request line with a bare body and no status line.
    default_request_version = "HTTP/1.1"
    server_version = "CompaniesSandbox/1"
    timeout = IDLE_KEEPALIVE_SECONDS
    # Headers and body go out in two writes; with Nagle on, delayed ACKs add 40 ms a request.
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

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("companies_sandbox.http " + format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Python's default is an HTML page; the API's framework answers JSON even here.
        self.close_connection = True
        body = encoded({"detail": message or self.responses.get(code, ("Error",))[0]})
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is _INCOMPLETE:
            # The client went away mid-request: like a real server, apply nothing.
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            self._send(detail(400, "Unreadable request body"))
            return
        state = self.server.state
        if self.path.startswith(ADMIN_PREFIX):
            self._send(handle_admin(state, self.command, self.path, body))
            return
        request = IncomingRequest(
            self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
        )
        outcome = handle_api(state, request)
        if outcome.delay_seconds > 0:
            time.sleep(outcome.delay_seconds)
        if outcome.answer is None:
            self._drop()
            return
        self._send(outcome.answer)

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
            try:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                # The trailer section ends with an empty line.
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

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.wire_headers().items():
            self.send_header(name, value)
        # A 204 carries no body and, per RFC 9110, no Content-Length either.
        if answer.status != 204:
            self.send_header("Content-Length", str(len(answer.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if answer.body and answer.status != 204:
            self.wfile.write(answer.body)

    def _drop(self) -> None:
        # No status line, no headers: the client sees the connection close mid-request.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class CompaniesServer:
    """A ``CompaniesState`` served over HTTP on a background thread."""

    def __init__(self, state: CompaniesState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the companies sandbox server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8766`` (the API has no path prefix)."""
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return self.base_url + ADMIN_PREFIX

    @property
    def token(self) -> str:
        """The first account's token."""
        return self.state.token

    def start(self) -> CompaniesServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self._requested_port), self.state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"companies-sandbox-{self.port}",
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

    def __enter__(self) -> CompaniesServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
