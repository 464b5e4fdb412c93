"""A sandbox as a real HTTP/1.1 server on loopback, built on the standard library.

``http.server`` rather than a web framework because fault injection needs the
socket itself: ``drop-before``/``drop-after`` close the connection without a
byte of answer, which frameworks do not let a handler do. Connections are
keep-alive with one daemon thread each; ``stop()`` shuts the open ones so no
client waits on a dead server.

Each sandbox subclasses ``SandboxHandler`` (its ``dispatch`` and its way of
writing an answer), ``SandboxHTTPServer`` (to carry its state) and
``BackgroundServer`` (its ``bind`` and URLs).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Final, Generic, Self, TypeVar

IDLE_KEEPALIVE_SECONDS: Final[float] = 60.0
# A sentinel for a body cut short: compared by identity, never by value.
INCOMPLETE: Final[bytes] = b"\x00incomplete"
AnswerT = TypeVar("AnswerT")
StateT = TypeVar("StateT")


class SandboxHTTPServer(ThreadingHTTPServer):
    """Threads per connection, and a record of the open sockets so ``stop()`` can close them."""

    daemon_threads = True
    # stop() closes the connections itself; joining handler threads could hang on a slow fault.
    block_on_close = False
    RequestHandlerClass: type[SandboxHandler]

    def __init__(self, address: tuple[str, int], handler: type[SandboxHandler]) -> None:
        self.connection_numbers = itertools.count(1)
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (a timeout, a SIGKILL in the chaos tests, a reader that closed a
        # list once it had enough) resets the connection: normal, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            handler = self.RequestHandlerClass
            handler.log.debug(f"{handler.event_prefix}.connection.reset client=%s", client_address)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def close_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SandboxHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, debug-level logging, body reading and the socket-level faults.

    Every method with a ``do_*`` here goes to ``dispatch``, which reads the
    body and hands it to the subclass's ``answer_request`` (or its
    ``refuse_unreadable``); a subclass adds other methods (OPTIONS) where its
    API answers them.
    """

    protocol_version = "HTTP/1.1"
    timeout = IDLE_KEEPALIVE_SECONDS
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add 40 ms a request.
    disable_nagle_algorithm = True
    max_body_bytes: ClassVar[int] = 10 * 1024 * 1024
    # False: a chunked upload is refused (unreadable), not decoded.
    accepts_chunked: ClassVar[bool] = True
    # Log lines are "<event_prefix>.http ..." and "<event_prefix>.connection.reset ...".
    event_prefix: ClassVar[str] = "sandbox"
    log: ClassVar[logging.Logger] = logging.getLogger(__name__)
    server: SandboxHTTPServer
    connection_number: int

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
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        body = self.read_body()
        if body is INCOMPLETE:
            # The client went away mid-request: like a real server, apply nothing and
            # remember nothing (not even under an Idempotency-Key).
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            self.refuse_unreadable()
            return
        self.answer_request(body)

    def answer_request(self, body: bytes) -> None:
        """Answer (or drop) one request whose body has been read; the sandbox's whole API."""
        raise NotImplementedError(f"{type(self).__name__} must define answer_request (its API)")

    def refuse_unreadable(self) -> None:
        """Answer a request whose body could not be read (bad length, too big); 400 in its format."""
        raise NotImplementedError(f"{type(self).__name__} must define refuse_unreadable (its 400)")

    def log_message(self, format: str, *args: object) -> None:
        self.log.debug(f"{self.event_prefix}.http " + format, *args)

    def read_body(self) -> bytes | None:
        """The request body; None if unreadable (bad length, too big), ``INCOMPLETE`` if cut short."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked() if self.accepts_chunked else None
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0 or length > self.max_body_bytes:
            return None
        body = self.rfile.read(length)
        return body if len(body) == length else INCOMPLETE

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
            if total > self.max_body_bytes:
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                return INCOMPLETE
            chunks.append(chunk)
            self.rfile.readline(1024)

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """Status line and headers, in the order given, plus ``Connection: close`` when closing."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def after_delay(self, seconds: float, answer: AnswerT | None) -> AnswerT | None:
        """Wait out a fault's (or the latency's) delay; with no answer, drop the connection."""
        if seconds > 0:
            time.sleep(seconds)
        if answer is None:
            self.drop()
        return answer

    def drop(self) -> None:
        """No status line, no headers: the client sees the connection close mid-request."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class BackgroundServer(Generic[StateT]):
    """A sandbox's ``state`` served on a daemon thread; a context manager that starts and stops it."""

    # "the <name> server is not started"; threads are named "<thread_prefix>-<port>".
    name: ClassVar[str] = "sandbox"
    thread_prefix: ClassVar[str] = "sandbox"
    admin_prefix: ClassVar[str] = "/_admin"

    def __init__(self, state: StateT, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self._requested_port = port
        self._httpd: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self, address: tuple[str, int]) -> SandboxHTTPServer:
        """The bound (listening) server for ``address``; called by ``start``."""
        raise NotImplementedError(f"{type(self).__name__} must define bind (its server class)")

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"the {self.name} server is not started")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return self.root_url + self.admin_prefix

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._httpd = self.bind((self.host, self._requested_port))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_prefix}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
