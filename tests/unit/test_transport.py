"""The deadline transport over real loopback sockets: trickles, silence, stops, TLS."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.errors import Interrupted
from sync.transport import DeadlineTransport, RequestDeadlineExceeded
from tests.chaos.fakeapi import Answer, FakeApi
from tests.chaos.test_secrets import self_signed

BODY = json.dumps(
    {"request_id": "r", "data": [{"id": n, "first_name": "x" * 20} for n in range(20)]}
).encode()


def client(
    base_url: str, *, seconds: float, stop: threading.Event | None = None, **verify: object
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(seconds, connect=min(seconds, 10.0)),
        transport=DeadlineTransport(seconds=seconds, stop=stop, **verify),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("body_only", [False, True], ids=["headers", "body"])
def test_an_answer_trickled_faster_than_the_read_timeout_is_cut_at_the_deadline(body_only: bool) -> None:
    """One byte every 0.2 s never trips a 1 s read timeout, but the request ends at its 1 s deadline."""
    with FakeApi() as api:
        api.answer("GET /contacts", Answer(200, BODY, byte_seconds=0.2, body_only=body_only))
        with client(api.base_url, seconds=1.0) as http:
            started = time.monotonic()
            with pytest.raises(RequestDeadlineExceeded, match="no complete answer within 1 s"):
                http.get("/contacts")
            elapsed = time.monotonic() - started
        assert api.trickled_at is not None and api.trickled_at > started
    assert len(BODY) * 0.2 > 100  # what the whole answer would have taken
    assert elapsed < 10


def test_a_stop_ends_a_request_waiting_on_a_silent_server() -> None:
    """A server that accepts and says nothing: setting the stop event ends the request with Interrupted."""
    stop = threading.Event()
    with FakeApi() as api:
        api.answer("GET /contacts", Answer(200, BODY, byte_seconds=3600))
        with client(api.base_url, seconds=30.0, stop=stop) as http:
            timer = threading.Timer(0.5, stop.set)
            timer.start()
            started = time.monotonic()
            with pytest.raises(Interrupted, match="shutdown signal"):
                http.get("/contacts")
            elapsed = time.monotonic() - started
            timer.join()
    assert elapsed < 10  # not the 30 s timeout


def test_a_stop_set_before_a_request_sends_nothing() -> None:
    """Once stopped, a new request raises Interrupted without reaching the server."""
    stop = threading.Event()
    stop.set()
    with FakeApi() as api:
        api.answer("GET /contacts", Answer(200, BODY))
        with client(api.base_url, seconds=5.0, stop=stop) as http, pytest.raises(Interrupted):
            http.get("/contacts")
        assert api.requests == []


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose listen queue is full, so that a new connect hangs (Linux drops the SYN)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_a_hanging_connect_times_out_and_a_stop_ends_it() -> None:
    """A connect that gets no reply is a ConnectTimeout at the connect timeout, and a stop ends it sooner."""
    stop = threading.Event()
    with unanswered_port() as port, client(f"http://127.0.0.1:{port}", seconds=1.0, stop=stop) as http:
        with pytest.raises(httpx.ConnectTimeout):
            http.get("/x")
        http.timeout = httpx.Timeout(30.0)
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        started = time.monotonic()
        with pytest.raises(Interrupted):
            http.get("/x")
        elapsed = time.monotonic() - started
        timer.join()
    assert elapsed < 10


def test_tls_connections_work_and_are_reused(tmp_path: Path) -> None:
    """Over TLS the sliced handshake completes, two requests share one connection, an untrusted cert fails."""
    server_context, cert = self_signed(tmp_path)
    with FakeApi(tls=server_context) as api:
        api.answer("GET /contacts", Answer(200, BODY))
        trusting = ssl.create_default_context(cafile=str(cert))
        with client(api.base_url, seconds=5.0, verify=trusting) as http:
            first, second = http.get("/contacts"), http.get("/contacts")
        assert first.content == second.content == BODY
        assert len(api.requests) == 2
        with client(api.base_url, seconds=5.0) as http, pytest.raises(httpx.ConnectError) as raised:
            http.get("/contacts")
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
