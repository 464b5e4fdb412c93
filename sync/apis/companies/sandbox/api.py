"""One API request through the sandbox, from raw request to what the socket should do.

The order mirrors a FastAPI app behind a proxy: the fault plan plays the proxy
(500/503/html502/429/drop-before answer before the app sees anything), then
the rate limiter (a middleware: every request to a route counts, whatever it
is answered), then per route the Bearer check where the docs say "Required"
(401), FastAPI's validation (422), and the operation with its 400/403/404.
Finally drop-after/malformed/empty200 lose or spoil the answer of a request
that did run. Every request to a route is written to the request log (token
redacted) before the server acts on the outcome.

Unknown paths answer 404 ``{"detail": "Not Found"}`` and a known path with
another method 405 ``{"detail": "Method Not Allowed"}``, as Starlette does;
both are logged (endpoint None) but never faulted or rate-limited.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from sync.apis.companies.sandbox.answers import NO_CONTENT, Answer, Refused, detail
from sync.apis.companies.sandbox.faults import BEFORE_KINDS
from sync.apis.companies.sandbox.limits import bucket_of
from sync.apis.companies.sandbox.state import FORBIDDEN, CompaniesState
from sync.apis.companies.sandbox.validation import (
    canonical_uuid,
    contact_fields,
    json_body,
    list_query,
    path_uuid,
    uuid_error,
)
from sync.apis.lev.sandbox.envelope import utc_stamp
from sync.apis.sandbox_kit.faults import NO_FAULT, Fault
from sync.apis.sandbox_kit.request import IncomingRequest as KitRequest
from sync.apis.sandbox_kit.requestlog import LoggedRequest, redacted_headers

logger = logging.getLogger(__name__)

RATE_LIMITED: Final[str] = "Rate limit exceeded"
NOT_AUTHENTICATED: Final[str] = "Not authenticated"
BAD_CREDENTIALS: Final[str] = "Could not validate credentials"
HTML_502: Final[bytes] = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_CHALLENGE: Final[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class IncomingRequest(KitRequest):
    # The peer's address: the rate-limit client when no token is sent.
    client: str = ""

    def bearer(self) -> str | None:
        scheme, _, token = (self.header("Authorization") or "").strip().partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class Outcome:
    """What the server must do: wait, then send ``answer`` or (None) drop the connection."""

    answer: Answer | None
    delay_seconds: float
    entry: LoggedRequest


Handler = Callable[[CompaniesState, IncomingRequest, str | None, Mapping[str, str]], Answer]


def route_of(method: str, path: str) -> tuple[str, str | None] | Answer:
    """The route template and its ``{id}`` for a request, or the 404/405 answer."""
    if path == "/contacts":
        template, contact_id = "/contacts", None
    elif path.startswith("/contacts/") and path.count("/") == 2 and len(path) > len("/contacts/"):
        template, contact_id = "/contacts/{id}", path[len("/contacts/") :]
    else:
        return detail(404, "Not Found")
    if (method, template) not in HANDLERS:
        return detail(405, "Method Not Allowed")
    return template, contact_id


def handle_api(state: CompaniesState, request: IncomingRequest) -> Outcome:
    """Answer one API request and log it."""
    seq = state.next_seq()
    received_at = utc_stamp(micro=True)
    path, _, query_string = request.target.partition("?")
    query_lists = parse_qs(query_string, keep_blank_values=True)
    state.count("api_requests")
    routed = route_of(request.method, path)
    decision = NO_FAULT
    answer: Answer | None
    if isinstance(routed, Answer):
        endpoint, answer = None, routed
    else:
        template, contact_id = routed
        endpoint = f"{request.method} {template}"
        query = {name: values[0] for name, values in query_lists.items()}
        decision = state.decide_fault(request.method)
        fault = decision.fault
        if fault is not None and fault.kind in BEFORE_KINDS:
            answer = _fault_answer(state, fault)
        else:
            handler = HANDLERS[(request.method, template)]
            answer = _guarded(
                lambda: _limited(state, request, template) or handler(state, request, contact_id, query)
            )
            if fault is not None:
                answer = _spoiled(answer, fault)
        if fault is not None:
            state.count("faults_injected")

    entry = LoggedRequest(
        seq=seq,
        received_at=received_at,
        method=request.method,
        path=request.target,
        query=query_lists,
        headers=redacted_headers(request.headers),
        body=request.body,
        endpoint=endpoint,
        status=None if answer is None else answer.status,
        fault=decision.names,
        request_id=None,
        response_headers={} if answer is None else answer.wire_headers(),
        response_body=b"" if answer is None else answer.body,
    )
    state.record(entry)
    return Outcome(answer, state.latency_ms / 1000 + decision.delay_seconds, entry)


def _guarded(answer: Callable[[], Answer]) -> Answer:
    try:
        return answer()
    except Refused as refusal:
        return refusal.answer
    except Exception:
        # A bug in the sandbox must still look like a server error, not a hang.
        logger.exception("companies_sandbox.request.crashed")
        return Answer(500, b"Internal Server Error", content_type="text/plain; charset=utf-8")


def _limited(state: CompaniesState, request: IncomingRequest, template: str) -> Answer | None:
    client = request.bearer() or request.client
    wait = state.admit(client, bucket_of(request.method, template))
    if wait is None:
        return None
    state.count("rate_limited")
    return rate_limited(state, wait)


def rate_limited(state: CompaniesState, wait: float) -> Answer:
    headers = {"Retry-After": str(max(math.ceil(wait), 1))} if state.retry_after_header else {}
    return detail(429, RATE_LIMITED, headers)


def _account_companies(state: CompaniesState, request: IncomingRequest) -> tuple[str, ...]:
    """The companies of the token's account; 401 without a known Bearer token."""
    token = request.bearer()
    if token is None:
        raise Refused(401, NOT_AUTHENTICATED, _CHALLENGE)
    account = state.account_of(token)
    if account is None:
        raise Refused(401, BAD_CREDENTIALS, _CHALLENGE)
    return account.company_ids


def _list(state: CompaniesState, request: IncomingRequest, _: str | None, query: Mapping[str, str]) -> Answer:
    owned = _account_companies(state, request)
    parsed = list_query(query, max_limit=state.max_limit)
    # An unknown company is refused like someone else's: the answer leaks nothing.
    if parsed.company_id not in owned:
        raise Refused(403, FORBIDDEN)
    return Answer(200, state.list_page(parsed.company_id, parsed.skip, parsed.limit))


def _get(
    state: CompaniesState, request: IncomingRequest, contact_id: str | None, _: Mapping[str, str]
) -> Answer:
    return Answer(200, state.get_contact(path_uuid(contact_id or "")))


def _create(state: CompaniesState, request: IncomingRequest, _: str | None, __: Mapping[str, str]) -> Answer:
    fields = contact_fields(json_body(request.body, request.header("Content-Type")), partial=False)
    return Answer(201, state.create_contact(fields))


def _patch(
    state: CompaniesState, request: IncomingRequest, contact_id: str | None, _: Mapping[str, str]
) -> Answer:
    # FastAPI reports a bad path id and a bad body together, in one 422.
    errors: list[dict[str, Any]] = []
    canonical = canonical_uuid(contact_id)
    if canonical is None:
        errors.append(uuid_error(["path", "contact_id"], contact_id))
    fields: dict[str, Any] = {}
    try:
        fields = contact_fields(json_body(request.body, request.header("Content-Type")), partial=True)
    except Refused as refusal:
        errors += refusal.errors
    if errors or canonical is None:
        raise Refused(422, errors)
    return Answer(200, state.patch_contact(canonical, fields))


def _delete(
    state: CompaniesState, request: IncomingRequest, contact_id: str | None, _: Mapping[str, str]
) -> Answer:
    _account_companies(state, request)
    state.delete_contact(path_uuid(contact_id or ""))
    return NO_CONTENT


HANDLERS: Final[dict[tuple[str, str], Handler]] = {
    ("GET", "/contacts"): _list,
    ("POST", "/contacts"): _create,
    ("GET", "/contacts/{id}"): _get,
    ("PATCH", "/contacts/{id}"): _patch,
    ("DELETE", "/contacts/{id}"): _delete,
}


def _fault_answer(state: CompaniesState, fault: Fault) -> Answer | None:
    if fault.kind == "drop-before":
        return None
    if fault.kind == "500":
        return Answer(500, b"Internal Server Error", content_type="text/plain; charset=utf-8")
    if fault.kind == "503":
        return detail(503, "Service Unavailable")
    if fault.kind == "html502":
        return Answer(502, HTML_502, content_type="text/html")
    if fault.kind == "429":
        return rate_limited(state, fault.value or 1.0)
    raise AssertionError(f"not a fault answered before the app: {fault.kind}")


def _spoiled(answer: Answer, fault: Fault) -> Answer | None:
    if fault.kind == "drop-after":
        return None
    if fault.kind == "empty200":
        return Answer(200)
    if fault.kind == "malformed":
        # Cut the JSON mid-way, as a proxy that lost the tail of the body would.
        return Answer(200, answer.body[: max(len(answer.body) // 2, 1)] or b"[")
    return answer
