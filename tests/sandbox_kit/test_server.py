"""The kit's HTTP plumbing, through a tiny echo sandbox built on it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from sync.apis.sandbox_kit.foreground import wait_for_stop
from sync.apis.sandbox_kit.server import BackgroundServer, SandboxHandler, SandboxHTTPServer


class _EchoHandler(SandboxHandler):
    """Answers the body back; ``/drop`` drops the connection."""

    max_body_bytes = 64
    event_prefix = "echo_sandbox"

    def refuse_unreadable(self) -> None:
        self._send(400, b"unreadable")

    def answer_request(self, body: bytes) -> None:
        answer = None if self.path == "/drop" else body
        answer = self.after_delay(0.0, answer)
        if answer is not None:
            self._send(200, answer)

    def _send(self, status: int, data: bytes) -> None:
        self.send_head(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
        self.wfile.write(data)


class _NoChunksHandler(_EchoHandler):
    accepts_chunked = False


class _EchoServer(BackgroundServer[None]):
    name = "echo sandbox"
    thread_prefix = "echo-sandbox"
    handler: type[SandboxHandler] = _EchoHandler

    def bind(self, address: tuple[str, int]) -> SandboxHTTPServer:
        return SandboxHTTPServer(address, self.handler)


class _NoChunksServer(_EchoServer):
    handler = _NoChunksHandler


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    with _EchoServer(None) as server:
        yield server


def test_a_body_is_read_by_content_length_and_answered_on_a_kept_alive_connection(echo: _EchoServer) -> None:
    """Two requests on one client share a connection (HTTP/1.1 keep-alive) and echo their bodies."""
    with httpx.Client(base_url=echo.root_url, timeout=5) as client:
        first = client.post("/", content=b"hello")
        second = client.patch("/", content=b"again")
    assert (first.status_code, first.content) == (200, b"hello")
    assert (second.status_code, second.content) == (200, b"again")
    assert first.http_version == "HTTP/1.1"
    assert "connection" not in first.headers


def test_a_chunked_body_is_decoded(echo: _EchoServer) -> None:
    """A chunked upload arrives whole at the handler."""
    with httpx.Client(base_url=echo.root_url, timeout=5) as client:
        answer = client.post("/", content=iter([b"ab", b"cd"]))
    assert answer.content == b"abcd"


def test_a_sandbox_that_refuses_chunks_answers_unreadable_and_closes() -> None:
    """With accepts_chunked False a chunked upload is the sandbox's unreadable-body answer."""
    with _NoChunksServer(None) as server, httpx.Client(base_url=server.root_url, timeout=5) as client:
        answer = client.post("/", content=iter([b"ab"]))
    assert (answer.status_code, answer.content) == (400, b"unreadable")
    assert answer.headers["connection"] == "close"


def test_a_body_over_the_limit_is_unreadable(echo: _EchoServer) -> None:
    """A Content-Length above max_body_bytes is refused without reading it."""
    with httpx.Client(base_url=echo.root_url, timeout=5) as client:
        answer = client.post("/", content=b"x" * 65)
    assert answer.status_code == 400


def test_no_answer_drops_the_connection(echo: _EchoServer) -> None:
    """after_delay with no answer closes the socket without a status line."""
    with httpx.Client(base_url=echo.root_url, timeout=5) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/drop")


def test_a_body_cut_short_is_neither_answered_nor_handled(echo: _EchoServer) -> None:
    """A client that closes mid-body gets no answer: the connection just ends."""
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""


def test_stop_closes_kept_alive_connections() -> None:
    """stop() shuts a client's idle keep-alive connection instead of leaving it to time out."""
    server = _EchoServer(None).start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        answer = b""
        while not answer.endswith(b"hi"):
            answer += sock.recv(1024)
        server.stop()
        # Without stop() closing it, this read would wait for the 5 s timeout and raise.
        assert sock.recv(1024) == b""
    with pytest.raises(RuntimeError, match="the echo sandbox server is not started"):
        _ = server.port


def test_wait_for_stop_returns_once_the_event_is_set() -> None:
    """Off the main thread no signal handler is set; the event alone ends the wait."""
    stop = threading.Event()
    stop.set()
    wait_for_stop(stop)
    assert stop.is_set()
