"""The HTTP shell every API client shares: one place where requests meet the network.

Every request is paced, logged once (method, path, status, duration,
request_id, never a header), limited to `timeout` seconds in all and ended by a
shutdown (`sync.transport`), and retried through the one retry loop; httpx's
exceptions become the product's here and nowhere else. Every answer passes
through a `Redactor` on arrival, so a server that echoes a credential cannot put
it into a message, the store or the logs.

API-neutral: the adapter's client gives the credentials (headers, cookies), how
an unsuccessful answer becomes a product error (`ErrorTranslator`), which rate
limit bucket a request belongs to (`endpoint_of`) and how each answer is parsed.
"""

from __future__ import annotations

import contextlib
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import httpx
import structlog

from sync.errors import (
    FatalError,
    Interrupted,
    InvalidResponse,
    NetworkError,
    RateLimited,
    SyncError,
)
from sync.redaction import Redactor
from sync.remote import Pacer, RequestStats
from sync.retrying import RetryBudget, RetryPolicy, call_with_retries
from sync.transport import DeadlineTransport, RequestDeadlineExceeded

log = structlog.get_logger("sync.http")
T = TypeVar("T")

FIRST_CONTACT_RETRY_SECONDS = 1.0
# What a parse function gives back: the answer's meaning and its request_id (for the log).
Parse = Callable[..., tuple[Any, str | None]]


class ConnectFailed(NetworkError):
    """The connection itself could not be made: refused, DNS, unreachable, connect timeout.

    Nothing was sent, so even a write without an idempotency key is safe to send again.
    """


def endpoint_template(method: str, path: str, *, collection: str) -> str:
    """The rate-limit bucket of a request: its method and path template
    (`GET /contacts/{id}` for any one contact of `collection`)."""
    if path.startswith(collection + "/"):
        return f"{method} {collection}/{{id}}"
    return f"{method} {path}"


class ErrorTranslator(Protocol):
    """How one API's unsuccessful answers become the product's exceptions."""

    def __call__(
        self,
        status: int,
        raw: bytes,
        *,
        what: str,
        content_type: str,
        retry_after_header: str | None,
        location: str | None = None,
        path: str | None = None,
    ) -> SyncError: ...


def open_http(
    *,
    base_url: str,
    headers: Mapping[str, str],
    cookies: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    verify: bool = True,
    stop: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client sending `headers` (and `cookies`) on every request, never unbounded:
    `timeout` is the most one request may take in all (connect, send, wait, read the whole
    answer) and per read; connecting gets at most 10 s of it. Setting `stop` ends a request
    in flight. A given `transport` (tests) replaces all of that."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers=dict(headers),
        cookies=dict(cookies or {}),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        verify=verify,
        transport=transport or DeadlineTransport(seconds=timeout, stop=stop, verify=verify),
        follow_redirects=False,
        trust_env=False,
    )


class HttpShell:
    """Sends one API's requests: pacing, logging, error translation, redaction, retries.

    `stats` counts what was sent; `secrets` are masked in every answer besides the
    credentials the httpx client itself sends (its Authorization header and cookies).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        error_for: ErrorTranslator,
        endpoint_of: Callable[[str, str], str],
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.http = http
        self.stats = RequestStats()
        self.redactor = Redactor([*secrets, *credentials(http)])
        self._error_for = error_for
        self._endpoint_of = endpoint_of
        self._retry = retry or RetryPolicy()
        self._budget = budget or RetryBudget(self._retry.budget_seconds)
        self._pacer = pacer
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._stats_lock = threading.Lock()  # writes go out from several threads
        self._answered = False  # has any request of this shell had an HTTP answer?

    def close(self) -> None:
        self.http.close()

    def with_retries(
        self, operation: Callable[[], T], *, also_retry: tuple[type[Exception], ...] = (InvalidResponse,)
    ) -> T:
        """`operation` through the one retry loop; by default a garbled answer is retried
        like a 5xx (right for reads and for writes that are safe to resend)."""
        return call_with_retries(
            self._first_contact(operation),
            policy=self._retry,
            budget=self._budget,
            sleep=self._sleep,
            on_retry=self.on_retry,
            rng=self._rng,
            also_retry=also_retry,
        )

    def _first_contact(self, operation: Callable[[], T]) -> Callable[[], T]:
        """Until the API has answered once, a failed connect is tried once more, then fatal.

        An API that cannot be reached at all is a wrong api_url, DNS or a firewall far
        more often than a passing fault: say so in seconds, not after every retry.
        Once anything was answered, connects fail like any other network error.
        """

        def attempt() -> T:
            try:
                return operation()
            except ConnectFailed as exc:
                if self._answered:
                    raise
                self.on_retry(exc, 1, FIRST_CONTACT_RETRY_SECONDS)
                self._sleep(FIRST_CONTACT_RETRY_SECONDS)
            try:
                return operation()
            except ConnectFailed as exc:
                if self._answered:
                    raise
                raise FatalError(
                    f"{exc}, tried twice: check api_url, the network and DNS, and any firewall or "
                    "proxy on the way (contacts-sync connects directly; it does not use HTTP_PROXY "
                    "or HTTPS_PROXY)"
                ) from None

        return attempt

    def on_retry(self, error: Exception, attempt: int, delay: float) -> None:
        with self._stats_lock:
            self.stats.retries += 1
        log.warning("http.retry", error=str(error), attempt=attempt, wait_seconds=round(delay, 3))

    def call(
        self,
        method: str,
        path: str,
        what: str,
        parse: Parse,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request, once: the parsed answer, or the product's exception for what happened."""
        endpoint = self._sending(method, path)
        started = time.monotonic()
        try:
            with self._translated(what, method, path, started):
                response = self.http.request(method, path, params=params, content=content, headers=headers)
        finally:
            if self._pacer is not None:
                self._pacer.answered(endpoint)
        self._answered = True
        raw = self.redactor.answer(response.content, error=not response.is_success)
        if response.is_success:
            try:
                result, request_id = parse(raw, what=what)
            except InvalidResponse as exc:
                self._log(method, path, started, response.status_code, exc.request_id, "invalid")
                raise
            self._log(method, path, started, response.status_code, request_id)
            if self._pacer is not None:
                self._pacer.succeeded()
            return result
        raise self._failure(response, raw, what=what, method=method, path=path, started=started)

    def open_stream(
        self, method: str, path: str, what: str, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """One request whose successful answer the caller reads piece by piece and closes.

        For an answer too long to hold whole (a list of every contact): the caller
        iterates `response.iter_bytes()` inside `reading(what)` and closes the
        response. Its bytes are not redacted here: the caller masks them as they
        come (`redactor`). An unsuccessful answer is read, closed and raised as
        `call` raises it; the request is logged when its headers arrive.
        """
        endpoint = self._sending(method, path)
        started = time.monotonic()
        try:
            with self._translated(what, method, path, started):
                response = self.http.send(self.http.build_request(method, path, headers=headers), stream=True)
        finally:
            if self._pacer is not None:
                self._pacer.answered(endpoint)
        self._answered = True
        if response.is_success:
            self._log(method, path, started, response.status_code)
            if self._pacer is not None:
                self._pacer.succeeded()
            return response
        try:
            with self._translated(what, method, path, started):
                raw = self.redactor.answer(response.read(), error=True)
        finally:
            response.close()
        raise self._failure(response, raw, what=what, method=method, path=path, started=started)

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """Failures while a streamed answer's body is read, as the product's exceptions."""
        with self._translated(what, None, None, None):
            yield

    def _sending(self, method: str, path: str) -> str:
        """Count a request and wait for its pacing slot; its rate-limit endpoint."""
        endpoint = self._endpoint_of(method, path)
        with self._stats_lock:
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1
        if self._pacer is not None:
            self._pacer.wait(endpoint)  # the caller gives the slot back once answered
        return endpoint

    @contextlib.contextmanager
    def _translated(
        self, what: str, method: str | None, path: str | None, started: float | None
    ) -> Iterator[None]:
        """httpx's exceptions (and the transport's) become the product's, logged when a
        request is named: the one place where that translation happens."""

        def logged(exc: BaseException) -> None:
            if method is not None and path is not None and started is not None:
                self._log(method, path, started, status=None, error=type(exc).__name__)

        try:
            yield
        except RequestDeadlineExceeded as exc:
            logged(exc)
            raise NetworkError(f"{what}: {exc}") from None
        except Interrupted as exc:  # the write, if it was one, stays pending
            logged(exc)
            raise Interrupted(f"{what}: {exc}") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            logged(exc)
            if _certificate_failure(exc):  # will not fix itself: no retries
                raise FatalError(
                    f"{what}: the server's TLS certificate could not be verified; check the URL, "
                    "or the system's CA certificates (certificate checks stay on)"
                ) from None
            detail = self.redactor.text(str(exc) or type(exc).__name__)
            raise ConnectFailed(f"{what}: cannot connect to {self.shown_url()} ({detail})") from None
        except httpx.TimeoutException as exc:
            logged(exc)
            raise NetworkError(f"{what}: no answer within {self.http.timeout.read:g} s") from None
        except httpx.TransportError as exc:
            logged(exc)
            raise NetworkError(f"{what}: the connection failed ({type(exc).__name__})") from None
        except httpx.RequestError as exc:  # e.g. a body that does not match its Content-Encoding
            logged(exc)
            raise InvalidResponse(f"{what}: the answer could not be read ({type(exc).__name__})") from None

    def _failure(
        self, response: httpx.Response, raw: bytes, *, what: str, method: str, path: str, started: float
    ) -> SyncError:
        """An unsuccessful answer as the product's exception, logged and counted."""
        error = self._error_for(
            response.status_code,
            raw,
            what=what,
            content_type=response.headers.get("content-type", ""),
            retry_after_header=response.headers.get("retry-after"),
            location=self._location(response),
            path=path,
        )
        self._log(method, path, started, response.status_code, error.request_id, type(error).__name__)
        if isinstance(error, RateLimited):
            with self._stats_lock:
                self.stats.rate_limited += 1
            if self._pacer is not None:
                self._pacer.slow_down(self._endpoint_of(method, path), error.retry_after)
        return error

    def shown_url(self) -> str:
        """api_url as a message may show it: no user, password or query."""
        return str(self.http.base_url.copy_with(userinfo=b"", query=None, fragment=None)).rstrip("/")

    def _location(self, response: httpx.Response) -> str | None:
        location: str | None = response.headers.get("location")
        if not location:
            return None
        with contextlib.suppress(httpx.InvalidURL):  # shown as sent, then
            location = str(response.url.join(location))
        return self.redactor.text(location)

    def _log(
        self,
        method: str,
        path: str,
        started: float,
        status: int | None,
        request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        log.info(
            "http.request",
            method=method,
            path=path,
            status=status,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            request_id=request_id,
            error=error,
        )


def credentials(http: httpx.Client) -> list[str]:
    """The secrets the client sends: the Authorization header's credential (after "Bearer")
    and the value of every cookie it holds."""
    _, _, credential = http.headers.get("authorization", "").partition(" ")
    found = [credential.strip()] if credential.strip() else []
    found += [cookie.value for cookie in http.cookies.jar if cookie.value]
    return found


def _certificate_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
