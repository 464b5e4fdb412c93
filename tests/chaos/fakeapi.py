"""A purpose-built fake Lev API over loopback that answers with canned bytes.

Unlike the sandbox it can say anything at all: wrong types, broken envelopes,
bytes that are not UTF-8, HTML. Each route maps to a function of the request
that returns the answer, so a test can serve page 1 well and page 2 badly.

    with FakeApi() as api:
        api.answer("GET /contacts", Answer.json({"data": [], ...}))
        ... run a sync against api.base_url ...
        api.requests  # what the client sent

`Answer(..., byte_seconds=1.0)` sends the answer one byte a second (a trickling
server or proxy); `body_only=True` sends status line and headers at once first.
A very long `byte_seconds` is a server that accepts and then says nothing.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sync.apis.lev.fields import API_PATH_PREFIX


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    byte_seconds: float = 0.0  # > 0: one byte of the answer per this many seconds
    body_only: bool = False  # trickle only the body, after status line and headers

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Answer:
        return cls(status, json.dumps(value, ensure_ascii=False).encode())


@dataclass(frozen=True)
class Request:
    method: str
    route: str  # "GET /contacts", "PATCH /contacts/{id}"
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Request], Answer]
NOT_FOUND = Answer.json({"request_id": "req-fake-404", "error": {"status": 404, "message": "No route"}}, 404)
# Every run first asks whose account it reaches; a test about /me answers it its own way.
ME = Answer.json(
    {"request_id": "req-fake-me", "data": {"account": {"id": 1, "slug": "fake", "name": "Fake Account"}}}
)


def route_of(method: str, path: str) -> str:
    relative = path.removeprefix(API_PATH_PREFIX)
    if relative.startswith("/contacts/"):
        return f"{method} /contacts/{{id}}"
    return f"{method} {relative}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command,
            route_of(self.command, parts.path),
            parts.path,
            {k: v[0] for k, v in parse_qs(parts.query).items()},
            dict(self.headers.items()),
            body,
        )
        with self.server.lock:
            self.server.requests.append(request)
            responder = self.server.routes.get(request.route)
        answer = responder(request) if responder else NOT_FOUND
        if answer.byte_seconds > 0:
            self._trickle(answer)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(answer.body)

    def _trickle(self, answer: Answer) -> None:
        self.close_connection = True
        head = (
            f"HTTP/1.1 {answer.status} {self.responses.get(answer.status, ('',))[0]}\r\n"
            f"Content-Type: {answer.content_type}\r\nContent-Length: {len(answer.body)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
            + "\r\n"
        ).encode()
        slow = answer.body if answer.body_only else head + answer.body
        with contextlib.suppress(OSError):  # the client gave up and closed: that is the point
            if answer.body_only:
                self.wfile.write(head)
                self.wfile.flush()
            for position in range(len(slow)):
                if self.server.closing.wait(answer.byte_seconds):
                    return
                self.wfile.write(slow[position : position + 1])
                self.wfile.flush()
                self.server.trickled_at = time.monotonic()

    do_GET = do_POST = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.routes: dict[str, Responder] = {"GET /me": lambda _request: ME}
        self.requests: list[Request] = []
        self.closing = threading.Event()  # ends trickling answers when the test is over
        self.trickled_at: float | None = None  # when a trickling answer last sent a byte

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up (or fails the TLS handshake) is not news here


class FakeApi:
    """The fake API on a free loopback port; `tls` wraps it in the given server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server()
        self._tls = tls
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}{API_PATH_PREFIX}"

    @property
    def requests(self) -> list[Request]:
        with self._server.lock:
            return list(self._server.requests)

    def answer(self, route: str, responder: Answer | Responder) -> None:
        with self._server.lock:
            self._server.routes[route] = responder if callable(responder) else (lambda _request: responder)

    @property
    def trickled_at(self) -> float | None:
        """time.monotonic() of the last byte a trickling answer sent, None before the first."""
        return self._server.trickled_at

    def forget_requests(self) -> None:
        with self._server.lock:
            self._server.requests.clear()

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
