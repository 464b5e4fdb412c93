"""The Lev contacts API over HTTP: a thin shell around `wire.py`.

Requests go through the shared `sync.apis.http.HttpShell` (pacing, logging, the
overall deadline and shutdown, the one retry loop, httpx's exceptions made the
product's, answers redacted); this module says what Lev's requests are, its
headers, and what its answers mean.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import httpx

from sync.apis import http as shared
from sync.apis.lev.account import identity_from_me
from sync.apis.lev.fields import CONTACTS_PATH, PAGE_LIMIT_MAX, UPDATED_SINCE
from sync.apis.lev.wire import LevWireRules, decode_body, error_for, parse_contact, parse_page
from sync.errors import FatalError, InvalidResponse, RequestRejected, ServerUnavailable
from sync.incremental import format_instant
from sync.plan import ContactId, PreparedWrite
from sync.remote import AccountIdentity, Pacer, Page, Taken
from sync.retrying import RetryBudget, RetryPolicy


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
    """An httpx client with the Lev headers, bounded as `sync.apis.http.open_http` says."""
    return shared.open_http(
        base_url=base_url,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Origin-App": origin_app,
            "Accept": "application/json",
        },
        timeout=timeout,
        verify=verify,
        stop=stop,
        transport=transport,
    )


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
        self._http = http
        self._shell = shared.HttpShell(
            http,
            error_for=error_for,
            endpoint_of=functools.partial(shared.endpoint_template, collection=CONTACTS_PATH),
            retry=retry,
            budget=budget,
            pacer=pacer,
            sleep=sleep,
            rng=rng,
            secrets=secrets,
        )
        self.stats = self._shell.stats
        self._page_limit = page_limit
        self._call = self._shell.call
        # A garbled answer is retried like a 5xx: a write is safe to resend under its key.
        self._with_retries = self._shell.with_retries

    def close(self) -> None:
        self._shell.close()

    def fetch_page(self, cursor: str | None, *, updated_since: datetime | None = None) -> Page:
        params: dict[str, Any] = {"limit": self._page_limit}
        if cursor is not None:
            params["cursor"] = cursor
        if updated_since is not None:  # sent with every page: a server may not keep it in the cursor
            params[UPDATED_SINCE] = format_instant(updated_since)
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

    def find_created(
        self,
        request: PreparedWrite,
        *,
        taken: Taken = lambda contact_id: False,
        since: datetime | None = None,
    ) -> dict[str, Any] | None:
        raise FatalError("Lev replays a create under its idempotency key: nothing to look up")

    def send_write(
        self, request: PreparedWrite, idempotency_key: str, *, taken: Taken = lambda contact_id: False
    ) -> dict[str, Any]:
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
