"""The Lev sandbox as a real HTTP/1.1 server on loopback (see ``sync.apis.sandbox_kit.server``).

On top of the kit: Lev's JSON error envelope for protocol errors, any other
method routed like a request (405 with Allow), the ``/_admin/accounts``
surface, and the ``trickle`` fault that writes an answer a byte at a time.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from typing import ClassVar, TextIO

from sync.apis.lev.fields import API_PATH_PREFIX
from sync.apis.lev.sandbox.accounts import SandboxAccounts
from sync.apis.lev.sandbox.admin import ACCOUNTS_PREFIX, ADMIN_PREFIX, handle_accounts_admin, handle_admin
from sync.apis.lev.sandbox.api import IncomingRequest, handle_api
from sync.apis.lev.sandbox.envelope import Reply, failure
from sync.apis.lev.sandbox.filters import FilterMode
from sync.apis.lev.sandbox.state import SandboxState
from sync.apis.sandbox_kit.foreground import wait_for_stop
from sync.apis.sandbox_kit.server import BackgroundServer, SandboxHandler, SandboxHTTPServer

logger = logging.getLogger(__name__)


class _HTTPServer(SandboxHTTPServer):
    def __init__(self, address: tuple[str, int], state: SandboxState, accounts: SandboxAccounts) -> None:
        self.state = state
        self.accounts = accounts
        super().__init__(address, _Handler)


class _Handler(SandboxHandler):
    server_version = "LevSandbox/1"
    event_prefix = "sandbox"
    log: ClassVar[logging.Logger] = logger
    server: _HTTPServer

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors get the JSON error envelope too, never http.server's HTML page."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            # http.server's answer to a method with no do_* handler (OPTIONS, FOO...): route it
            # like any request instead, so it is logged and answered 405 with an Allow header.
            self.dispatch()
            return
        self.close_connection = True
        # A request line it could not parse leaves http.server at HTTP/0.9, which has no status
        # line or headers: answer as HTTP/1.1 so the client can read the error.
        self.request_version = self.protocol_version
        self._send(failure(code, message or HTTPStatus(code).phrase))

    def refuse_unreadable(self) -> None:
        self._send(failure(400, "Unreadable request body"))

    def answer_request(self, body: bytes) -> None:
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
        reply = self.after_delay(outcome.delay_seconds, outcome.reply)
        if reply is None:
            return
        if outcome.byte_delay_seconds > 0:
            self._send_trickled(reply, outcome.byte_delay_seconds)
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = reply.encoded()
        head = [("Content-Type", reply.content_type), ("Content-Length", str(len(data)))]
        self.send_head(reply.status, [*head, *reply.headers.items()])
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


class SandboxServer(BackgroundServer[SandboxState]):
    """A ``SandboxState`` served over HTTP on a background thread."""

    name = "sandbox"
    thread_prefix = "lev-sandbox"
    admin_prefix = ADMIN_PREFIX

    def __init__(self, state: SandboxState, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(state, host, port)
        # More accounts, one per token, beside `state` (the first): see sandbox.accounts.
        self.accounts = SandboxAccounts(state)

    def bind(self, address: tuple[str, int]) -> SandboxHTTPServer:
        return _HTTPServer(address, self.state, self.accounts)

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8765/api/external/v2``."""
        return self.root_url + API_PATH_PREFIX

    @property
    def token(self) -> str:
        return self.state.token


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
        wait_for_stop(stop_event)
