"""The companies sandbox as a real HTTP/1.1 server on loopback (see ``sync.apis.sandbox_kit.server``).

On top of the kit: FastAPI's ``{"detail": ...}`` JSON for protocol errors,
OPTIONS routed like any request, a 1 MiB body limit, and no Content-Length on
a 204. The API has no path prefix: the base URL is the root, the admin
surface ``/_admin``.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from sync.apis.companies.sandbox.admin import ADMIN_PREFIX, handle_admin
from sync.apis.companies.sandbox.answers import Answer, detail, encoded
from sync.apis.companies.sandbox.api import IncomingRequest, handle_api
from sync.apis.companies.sandbox.state import CompaniesState
from sync.apis.sandbox_kit.server import BackgroundServer, SandboxHandler, SandboxHTTPServer

logger = logging.getLogger(__name__)


class _HTTPServer(SandboxHTTPServer):
    def __init__(self, address: tuple[str, int], state: CompaniesState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class _Handler(SandboxHandler):
    # Python's default (0.9) answers a garbled request line with a bare body and no status line.
    default_request_version = "HTTP/1.1"
    server_version = "CompaniesSandbox/1"
    max_body_bytes = 1024 * 1024
    event_prefix = "companies_sandbox"
    log: ClassVar[logging.Logger] = logger
    server: _HTTPServer

    def do_OPTIONS(self) -> None:
        self.dispatch()

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

    def refuse_unreadable(self) -> None:
        self._send(detail(400, "Unreadable request body"))

    def answer_request(self, body: bytes) -> None:
        state = self.server.state
        if self.path.startswith(ADMIN_PREFIX):
            self._send(handle_admin(state, self.command, self.path, body))
            return
        request = IncomingRequest(
            self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
        )
        outcome = handle_api(state, request)
        answer = self.after_delay(outcome.delay_seconds, outcome.answer)
        if answer is not None:
            self._send(answer)

    def _send(self, answer: Answer) -> None:
        headers = list(answer.wire_headers().items())
        # A 204 carries no body and, per RFC 9110, no Content-Length either.
        if answer.status != 204:
            headers.append(("Content-Length", str(len(answer.body))))
        self.send_head(answer.status, headers)
        if answer.body and answer.status != 204:
            self.wfile.write(answer.body)


class CompaniesServer(BackgroundServer[CompaniesState]):
    """A ``CompaniesState`` served over HTTP on a background thread."""

    name = "companies sandbox"
    thread_prefix = "companies-sandbox"
    admin_prefix = ADMIN_PREFIX

    def bind(self, address: tuple[str, int]) -> SandboxHTTPServer:
        return _HTTPServer(address, self.state)

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8766`` (the API has no path prefix)."""
        return self.root_url

    @property
    def token(self) -> str:
        """The first account's token."""
        return self.state.token
