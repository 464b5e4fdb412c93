"""The Lev contacts API over HTTP: a thin shell around `wire.py`.

Every request is paced, logged once (method, path, status, duration,
request_id, never a header), limited to `timeout` seconds in all and ended by a
shutdown (`sync.transport`), and retried through the one retry loop; httpx's
exceptions become the product's here and nowhere else. Every answer passes
through a `Redactor` on arrival, so a server that echoes the token cannot put
it into a message, the store or the logs.
"""

from __future__ import annotations

import contextlib
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx
import structlog

from sync.apis.lev.account import identity_from_me
from sync.apis.lev.fields import CONTACTS_PATH, PAGE_LIMIT_MAX
from sync.apis.lev.wire import LevWireRules, decode_body, error_for, parse_contact, parse_page
from sync.errors import (
    FatalError,
    Interrupted,
    InvalidResponse,
    NetworkError,
    RateLimited,
    RequestRejected,
    ServerUnavailable,
)
from sync.plan import ContactId, PreparedWrite
from sync.redaction import Redactor
from sync.remote import AccountIdentity, Pacer, Page, RequestStats
from sync.retrying import RetryBudget, RetryPolicy, call_with_retries
from sync.transport import DeadlineTransport, RequestDeadlineExceeded

log = structlog.get_logger("sync.http")
T = TypeVar("T")

FIRST_CONTACT_RETRY_SECONDS = 1.0


class _ConnectFailed(NetworkError):
    """The connection itself could not be made: refused, DNS, unreachable, connect timeout."""


def open_http(
    *,
    base_url: str,
    token: str,
    origin_app: str,
    timeout: float = 30.0,
    verify: bool = True,
    stop: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client with the Lev headers, never unbounded: `timeout` is the most one
    request may take in all (connect, send, wait, read the whole answer) and per read;
    connecting gets at most 10 s of it. Setting `stop` ends a request in flight.
    A given `transport` (tests) replaces all of that."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers={
            "Authorization": f"Bearer {token}",
            "X-Origin-App": origin_app,
            "Accept": "application/json",
        },
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        verify=verify,
        transport=transport or DeadlineTransport(seconds=timeout, stop=stop, verify=verify),
        follow_redirects=False,
        trust_env=False,
    )


def endpoint_of(method: str, path: str) -> str:
    """The rate-limit bucket of a request: method and path template."""
    if path.startswith(CONTACTS_PATH + "/"):
        return f"{method} {CONTACTS_PATH}/{{id}}"
    return f"{method} {path}"


class LevClient:
    """Lev's contacts endpoints for the engine (see `sync.remote.Remote`)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int = PAGE_LIMIT_MAX,
        rng: random.Random | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        """`secrets` are masked in every answer, besides the credential the client sends."""
        self.rules = LevWireRules()
        self.stats = RequestStats()
        self._http = http
        self._retry = retry or RetryPolicy()
        self._budget = budget or RetryBudget(self._retry.budget_seconds)
        self._pacer = pacer
        self._sleep = sleep
        self._page_limit = page_limit
        self._rng = rng or random.Random()
        self._stats_lock = threading.Lock()  # writes go out from several threads
        self._redact = Redactor([*secrets, *_credentials(http)])
        self._answered = False  # has any request of this client had an HTTP answer?

    def close(self) -> None:
        self._http.close()

    def fetch_page(self, cursor: str | None) -> Page:
        params: dict[str, Any] = {"limit": self._page_limit}
        if cursor is not None:
            params["cursor"] = cursor
        what = f"GET {CONTACTS_PATH}" + (" from a saved cursor" if cursor else " (first page)")

        def parse(raw: bytes, *, what: str) -> tuple[Page, str | None]:
            page = parse_page(raw, what=what)
            return page, page.request_id

        page: Page = self._with_retries(lambda: self._call("GET", CONTACTS_PATH, what, parse, params=params))
        return page

    def fetch_identity(self) -> AccountIdentity:
        """`GET /me`, retried like any read: the account this token reaches at this base URL."""
        base_url = str(self._http.base_url)

        def parse(raw: bytes, *, what: str) -> tuple[AccountIdentity, str | None]:
            body, request_id = decode_body(raw, what=what)
            data = body.get("data")
            return identity_from_me(data, base_url=base_url, what=what, request_id=request_id), request_id

        identity: AccountIdentity = self._with_retries(lambda: self._call("GET", "/me", "GET /me", parse))
        return identity

    def fetch_one(self, contact_id: ContactId) -> dict[str, Any] | None:
        raise FatalError("Lev contacts that leave the list are flagged, never looked up one by one")

    def find_created(self, request: PreparedWrite) -> dict[str, Any] | None:
        raise FatalError("Lev replays a create under its idempotency key: nothing to look up")

    def send_write(self, request: PreparedWrite, idempotency_key: str) -> dict[str, Any]:
        what = f"{request.method} {request.path}"
        headers = {"Idempotency-Key": idempotency_key, "Content-Type": "application/json"}

        attempts = 0
        patched = int(request.path.rsplit("/", 1)[1]) if request.method == "PATCH" else None

        def parse(raw: bytes, *, what: str) -> tuple[dict[str, Any], str | None]:
            contact, request_id = parse_contact(raw, what=what)
            if patched is not None and contact["id"] != patched:
                raise InvalidResponse(
                    f"{what}: the answer is for contact {contact['id']}, not {patched}", request_id=request_id
                )
            return contact, request_id

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            try:
                answer: dict[str, Any] = self._call(
                    request.method, request.path, what, parse, content=request.body, headers=headers
                )
            except RequestRejected as exc:
                # We resend the same bytes under the same key, so a 409 to a resend most
                # likely means the first attempt is still being processed: ask again later.
                if exc.status == 409 and attempts > 1:
                    raise ServerUnavailable(f"{exc} (after a resend; trying again)") from None
                raise
            return answer

        contact: dict[str, Any] = self._with_retries(attempt)
        return contact

    def _with_retries(self, operation: Callable[[], Any]) -> Any:
        # A garbled answer is retried like a 5xx: a write is safe to resend under its key.
        return call_with_retries(
            self._first_contact(operation),
            policy=self._retry,
            budget=self._budget,
            sleep=self._sleep,
            on_retry=self._on_retry,
            rng=self._rng,
            also_retry=(InvalidResponse,),
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
            except _ConnectFailed as exc:
                if self._answered:
                    raise
                self._on_retry(exc, 1, FIRST_CONTACT_RETRY_SECONDS)
                self._sleep(FIRST_CONTACT_RETRY_SECONDS)
            try:
                return operation()
            except _ConnectFailed as exc:
                if self._answered:
                    raise
                raise FatalError(
                    f"{exc}, tried twice: check api_url, the network and DNS, and any firewall or "
                    "proxy on the way (contacts-sync connects directly; it does not use HTTP_PROXY "
                    "or HTTPS_PROXY)"
                ) from None

        return attempt

    def _on_retry(self, error: Exception, attempt: int, delay: float) -> None:
        with self._stats_lock:
            self.stats.retries += 1
        log.warning("http.retry", error=str(error), attempt=attempt, wait_seconds=round(delay, 3))

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        parse: Callable[..., tuple[Any, str | None]],
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        endpoint = endpoint_of(method, path)
        with self._stats_lock:
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1
        if self._pacer is not None:
            self._pacer.wait(endpoint)  # the slot it takes is given back in the finally below
        started = time.monotonic()
        try:
            response = self._http.request(method, path, params=params, content=content, headers=headers)
        except RequestDeadlineExceeded as exc:
            self._log(method, path, started, status=None, error=type(exc).__name__)
            raise NetworkError(f"{what}: {exc}") from None
        except Interrupted as exc:  # the write, if it was one, stays pending under its key
            self._log(method, path, started, status=None, error=type(exc).__name__)
            raise Interrupted(f"{what}: {exc}") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._log(method, path, started, status=None, error=type(exc).__name__)
            if _certificate_failure(exc):  # will not fix itself: no retries
                raise FatalError(
                    f"{what}: the server's TLS certificate could not be verified; check the URL, "
                    "or the system's CA certificates (certificate checks stay on)"
                ) from None
            detail = self._redact.text(str(exc) or type(exc).__name__)
            raise _ConnectFailed(f"{what}: cannot connect to {self._shown_url()} ({detail})") from None
        except httpx.TimeoutException as exc:
            self._log(method, path, started, status=None, error=type(exc).__name__)
            raise NetworkError(f"{what}: no answer within {self._http.timeout.read:g} s") from None
        except httpx.TransportError as exc:
            self._log(method, path, started, status=None, error=type(exc).__name__)
            raise NetworkError(f"{what}: the connection failed ({type(exc).__name__})") from None
        except httpx.RequestError as exc:  # e.g. a body that does not match its Content-Encoding
            self._log(method, path, started, status=None, error=type(exc).__name__)
            raise InvalidResponse(f"{what}: the answer could not be read ({type(exc).__name__})") from None
        finally:
            if self._pacer is not None:
                self._pacer.answered(endpoint)
        self._answered = True
        raw = self._redact.answer(response.content, error=not response.is_success)
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
        error = error_for(
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
                self._pacer.slow_down(endpoint, error.retry_after)
        raise error

    def _shown_url(self) -> str:
        """api_url as a message may show it: no user, password or query."""
        return str(self._http.base_url.copy_with(userinfo=b"", query=None, fragment=None)).rstrip("/")

    def _location(self, response: httpx.Response) -> str | None:
        location: str | None = response.headers.get("location")
        if not location:
            return None
        with contextlib.suppress(httpx.InvalidURL):  # shown as sent, then
            location = str(response.url.join(location))
        return self._redact.text(location)

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


def _credentials(http: httpx.Client) -> list[str]:
    """The secret in the client's Authorization header (the token after "Bearer")."""
    _, _, credential = http.headers.get("authorization", "").partition(" ")
    return [credential.strip()] if credential.strip() else []


def _certificate_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
