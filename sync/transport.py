"""An httpx transport whose every request has an overall deadline and ends on a shutdown.

httpx's timeouts are per socket operation: a server that trickles one byte a
second, or a proxy that holds the connection open, never trips them, and a
thread blocked in `recv` does not notice a SIGTERM. So each socket operation
(connect, TLS handshake, send, receive) is done here in short slices, and
between two slices it checks the request's deadline and the run's stop event.

    DeadlineTransport ── httpx.HTTPTransport ── httpcore.ConnectionPool ── SlicedBackend
    (one Deadline per request,                                             └ SlicedStream
     body reading included)                                                  (checks it)

The deadline travels in a context variable: httpx sends a request and reads
its answer in the caller's thread, and each thread has a context of its own.
An answer read at its reader's pace (a long list handed out a page at a time)
may restart its deadline before each page: `response.extensions[RENEW_DEADLINE]`.
A stop raises `Interrupted`, an expired deadline `RequestDeadlineExceeded`;
both pass through httpx untouched and the client names the request in its
message. Socket failures stay httpcore's exceptions, which httpx translates.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

from sync.errors import Interrupted

SLICE_SECONDS = 0.25  # the longest a stop or an expired deadline goes unnoticed
# The key of `response.extensions` holding a callable that restarts the body's deadline.
RENEW_DEADLINE = "contacts_sync.renew_deadline"
T = TypeVar("T")


class RequestDeadlineExceeded(Exception):
    """No complete answer arrived within the request's overall time."""


@dataclass(frozen=True)
class Deadline:
    """When the request in flight must be over, and the event that ends it sooner."""

    seconds: float
    at: float  # time.monotonic()
    stop: threading.Event | None

    @classmethod
    def starting_now(cls, seconds: float, stop: threading.Event | None) -> Deadline:
        return cls(seconds, time.monotonic() + seconds, stop)


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("request_deadline", default=None)


@contextlib.contextmanager
def applied(deadline: Deadline) -> Iterator[None]:
    """Socket operations in this block (this thread) obey `deadline`."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One context per process: loading the CA bundle costs ~50 ms of CPU, and a fleet worker
    or a daemon makes a client per run. A client-side context is safe to share between threads."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class DeadlineTransport(httpx.BaseTransport):
    """httpx's own transport, with each request limited to `seconds` in all and ended by `stop`."""

    def __init__(
        self, *, seconds: float, stop: threading.Event | None = None, verify: ssl.SSLContext | bool = True
    ) -> None:
        self._seconds = seconds
        self._stop = stop
        context = verify if isinstance(verify, ssl.SSLContext) else _ssl_context(verify)
        self._inner = httpx.HTTPTransport(verify=context, trust_env=False)
        # httpx 0.28 has no setting for httpcore's network backend: give it a pool that
        # uses ours (pyproject pins httpx below 0.29), with httpx's default limits.
        self._inner._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=SlicedBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = Deadline.starting_now(self._seconds, self._stop)
        with applied(deadline):
            response = self._inner.handle_request(request)
        # httpx reads the body after this returns: the same deadline covers it.
        assert isinstance(response.stream, httpx.SyncByteStream)
        body = _BodyWithin(deadline, response.stream)
        response.stream = body
        # An answer read at its reader's pace (a long list handed out a page at a time) may
        # give each page a deadline of its own: the reader calls this before each page.
        response.extensions[RENEW_DEADLINE] = body.renew
        return response

    def close(self) -> None:
        self._inner.close()


class _BodyWithin(httpx.SyncByteStream):
    def __init__(self, deadline: Deadline, stream: httpx.SyncByteStream) -> None:
        self._deadline = deadline
        self._stream = stream

    def renew(self) -> None:
        """The rest of the body gets the request's full time again, from now."""
        self._deadline = Deadline.starting_now(self._deadline.seconds, self._deadline.stop)

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._stream)
        while True:
            with applied(self._deadline):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._stream.close()


def _sliced(
    operation: Callable[[float], T],
    sock: socket.socket,
    timeout: float | None,
    *,
    timed_out: type[Exception],
    failed: type[Exception],
    connecting: bool = False,
) -> T:
    """Run a blocking socket operation in short slices until it is done or must end.

    `timeout` is httpx's for this one operation; the request's deadline and stop
    event come from the context. Trying again after a slice's timeout is safe: a
    receive or send that timed out moved no data, a TLS handshake resumes.
    While connecting, the deadline's end is reported as a connect timeout.
    """
    deadline = _current.get()
    own_end = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is not None and deadline.stop is not None and deadline.stop.is_set():
            raise Interrupted("stopped by a shutdown signal before the answer was complete")
        now = time.monotonic()
        if deadline is not None and now >= deadline.at:
            if connecting:
                raise timed_out(f"no connection within {deadline.seconds:g} s")
            raise RequestDeadlineExceeded(f"no complete answer within {deadline.seconds:g} s")
        if own_end is not None and now >= own_end:
            raise timed_out("timed out")
        ends = [end for end in (own_end, deadline.at if deadline else None) if end is not None]
        wait = max(0.001, min([now + SLICE_SECONDS, *ends]) - now)
        sock.settimeout(wait)
        try:
            return operation(wait)
        except TimeoutError:  # this slice is over, not the operation
            continue
        except OSError as exc:
            raise failed(str(exc) or type(exc).__name__) from exc


class SlicedStream(httpcore.NetworkStream):
    """A TCP or TLS connection whose every read and write obeys the request's deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _sliced(
            lambda _wait: self._sock.recv(max_bytes),
            self._sock,
            timeout,
            timed_out=httpcore.ReadTimeout,
            failed=httpcore.ReadError,
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        rest = memoryview(buffer)
        while rest:
            sent = _sliced(
                functools.partial(_send, self._sock, rest),
                self._sock,
                timeout,
                timed_out=httpcore.WriteTimeout,
                failed=httpcore.WriteError,
            )
            rest = rest[sent:]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        try:
            tls = ssl_context.wrap_socket(
                self._sock, server_hostname=server_hostname, do_handshake_on_connect=False
            )
        except BaseException:
            self._sock.close()
            raise
        try:
            _sliced(
                lambda _wait: tls.do_handshake(),
                tls,
                timeout,
                timed_out=httpcore.ConnectTimeout,
                failed=httpcore.ConnectError,
                connecting=True,
            )
        except BaseException:
            tls.close()  # it holds the connection now, not self._sock
            raise
        return SlicedStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":  # httpcore asks it which protocol ALPN chose
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":  # an idle pooled connection that the server closed
            if self._sock.fileno() == -1:
                return True
            poller = select.poll()
            poller.register(self._sock, select.POLLIN)
            return bool(poller.poll(0))
        return None


def _send(sock: socket.socket, data: memoryview, _wait: float) -> int:
    return sock.send(data)


class SlicedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, with connecting done in slices too."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:  # a name that does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for family, kind, proto, _, address in addresses:  # each in turn, as create_connection does
            sock = socket.socket(family, kind, proto)
            try:
                if local_address is not None:
                    sock.bind((local_address, 0))
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _connect(sock, address, timeout)
                return SlicedStream(sock)
            except httpcore.ConnectError as exc:
                sock.close()
                failure = exc
            except OSError as exc:
                sock.close()
                failure = httpcore.ConnectError(str(exc))
            except BaseException:
                sock.close()
                raise
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("contacts-sync connects over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _connect(sock: socket.socket, address: Any, timeout: float | None) -> None:
    """Connect without blocking, waiting for it in slices: a blocking connect cannot be cut short."""
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
        raise httpcore.ConnectError(f"[Errno {code}] {os.strerror(code)}")
    if code != 0:
        poller = select.poll()
        poller.register(sock, select.POLLOUT)

        def established(wait: float) -> None:
            if not poller.poll(max(1, round(wait * 1000))):
                raise TimeoutError
            failure = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if failure:
                raise OSError(failure, os.strerror(failure))

        _sliced(
            established,
            sock,
            timeout,
            timed_out=httpcore.ConnectTimeout,
            failed=httpcore.ConnectError,
            connecting=True,
        )
    sock.setblocking(True)
