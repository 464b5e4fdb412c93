"""One API request through the sandbox, from raw request to what the socket should do.

The order mirrors a real deployment: the fault plan plays the proxy in front
(500/503/html502/429/echo-token/drop-before answer before the API sees anything), then
the API checks the token (401), the rate limit (429), ``X-Origin-App`` (400)
and the key's permission (403), replays or stores Idempotency-Key answers, and
runs the operation; finally drop-after/malformed/empty200 lose or spoil the
answer, endless/endless-junk replace a list page and surrogate/nul/huge poison
a contact in it. Every request is written to the state's request log before the
server acts on the outcome, so a test sees the entry as soon as its client
call returns.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from sync.apis.lev.fields import API_PATH_PREFIX
from sync.apis.lev.sandbox.envelope import JSON_TYPE, Rejected, Reply, failure, success, utc_stamp
from sync.apis.lev.sandbox.faults import DATA_KINDS, LIST_ONLY_KINDS, PRE_APP_KINDS, Fault
from sync.apis.lev.sandbox.idempotency import fingerprint
from sync.apis.lev.sandbox.poison import poisoned
from sync.apis.lev.sandbox.state import SandboxState
from sync.apis.sandbox_kit.request import IncomingRequest as KitRequest
from sync.apis.sandbox_kit.requestlog import LoggedRequest, redacted_headers

logger = logging.getLogger(__name__)

AUTH_REQUIRED: Final[str] = "Authentication required"
HTML_502: Final[bytes] = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
FORBIDDEN_WRITES: Final[dict[str, str]] = {
    "POST": "User not authorized to create contact",
    "PATCH": "User not authorized to update contact",
}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: str

    @property
    def is_contacts(self) -> bool:
        return self.endpoint.split(" ", 1)[1].startswith("/contacts")


ROUTES: Final[tuple[Route, ...]] = tuple(
    Route(method, re.compile(pattern), f"{method} {template}")
    for method, pattern, template in (
        ("GET", r"^/health$", "/health"),
        ("GET", r"^/me$", "/me"),
        ("GET", r"^/contacts$", "/contacts"),
        ("POST", r"^/contacts$", "/contacts"),
        ("GET", r"^/contacts/(?P<id>[^/]+)$", "/contacts/{id}"),
        ("PATCH", r"^/contacts/(?P<id>[^/]+)$", "/contacts/{id}"),
    )
)


@dataclass(frozen=True)
class IncomingRequest(KitRequest):
    connection: int | None = None  # the server's number for the connection it came on


@dataclass(frozen=True)
class Outcome:
    """What the server must do: wait, then send ``reply`` or (None) drop the connection."""

    reply: Reply | None
    delay_seconds: float
    entry: LoggedRequest
    # trickle: write the answer one byte at a time, this far apart.
    byte_delay_seconds: float = 0.0


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    if not path.startswith(API_PATH_PREFIX):
        return None
    relative = path[len(API_PATH_PREFIX) :]
    for route in ROUTES:
        found = route.pattern.match(relative)
        if found and route.method == method:
            return route, found.groupdict()
    return None


def allowed_methods(path: str) -> list[str]:
    """The methods some route answers on ``path`` (empty for an unknown path)."""
    if not path.startswith(API_PATH_PREFIX):
        return []
    relative = path[len(API_PATH_PREFIX) :]
    return sorted({route.method for route in ROUTES if route.pattern.match(relative)})


def handle_api(state: SandboxState, request: IncomingRequest) -> Outcome:
    """Answer one request under ``/api/external/v2`` and log it."""
    seq = state.next_seq()
    received_at = utc_stamp(micro=True)
    path, _, query_string = request.target.partition("?")
    query_lists = parse_qs(query_string, keep_blank_values=True)
    query = {name: values[0] for name, values in query_lists.items()}
    matched = match_route(request.method, path)
    route, params = matched if matched else (None, {})
    state.count("api_requests")

    listing = route is not None and route.endpoint == "GET /contacts"
    decision = state.decide_fault(request.method, listing=listing) if route and route.is_contacts else None
    fault = decision.fault if decision else None
    reply: Reply | None
    if fault is not None and fault.kind in PRE_APP_KINDS:
        reply = _fault_reply(state, fault, request)
    else:
        reply = _guarded(lambda: _answer(state, request, route, params, query))
        if fault is not None:
            reply = _spoiled(state, reply, fault, query)
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
        endpoint=route.endpoint if route else None,
        status=None if reply is None else reply.status,
        fault=decision.names if decision else None,
        request_id=None if reply is None else reply.request_id,
        response_headers={} if reply is None else _wire_headers(reply),
        response_body=b"" if reply is None else reply.encoded(),
        connection=request.connection,
    )
    state.record(entry)
    delay = state.latency_ms / 1000 + (decision.delay_seconds if decision else 0.0)
    byte_delay = decision.byte_delay_seconds if decision else 0.0
    return Outcome(reply=reply, delay_seconds=delay, entry=entry, byte_delay_seconds=byte_delay)


def _wire_headers(reply: Reply) -> dict[str, str]:
    return {"Content-Type": reply.content_type, **reply.headers}


def _guarded(answer: Callable[[], Reply]) -> Reply:
    try:
        return answer()
    except Rejected as rejection:
        return failure(rejection.status, rejection.message, details=rejection.details)
    except Exception:
        # A bug in the sandbox must still look like a server error, not a hang.
        logger.exception("sandbox.request.crashed")
        return failure(500, "Internal server error")


def _answer(
    state: SandboxState,
    request: IncomingRequest,
    route: Route | None,
    params: Mapping[str, str],
    query: Mapping[str, str],
) -> Reply:
    if route is None:
        path = request.target.partition("?")[0]
        allowed = allowed_methods(path)
        if allowed:
            return failure(
                405,
                f"Method {request.method} is not allowed on {path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
                error_type="method_not_allowed",
            )
        raise Rejected(404, f"No route for {request.method} {path}")
    if route.endpoint == "GET /health":
        return success({"status": "ok"})
    read_only = _authenticate(state, request.header("Authorization"))
    if read_only is None:
        return failure(401, AUTH_REQUIRED)
    wait = state.admit(route.endpoint)
    if wait is not None:
        state.count("rate_limited")
        return rate_limited(state, wait)
    if not (request.header("X-Origin-App") or "").strip():
        raise Rejected(400, "X-Origin-App header is required")
    if read_only and request.method in FORBIDDEN_WRITES:
        raise Rejected(403, FORBIDDEN_WRITES[request.method])

    if route.endpoint == "GET /me":
        return state.me(read_only=read_only)
    if route.endpoint == "GET /contacts":
        return state.list_contacts(query)
    if route.endpoint == "GET /contacts/{id}":
        return state.get_contact(params["id"])

    def write() -> Reply:
        body = _json_body(request)
        if request.method == "POST":
            return state.create_contact(body)
        return state.patch_contact(params["id"], body)

    key = request.header("Idempotency-Key")
    if not key:
        return _guarded(write)
    path = request.target.partition("?")[0]
    return state.idempotent(key, fingerprint(request.method, path, request.body), lambda: _guarded(write))


def _authenticate(state: SandboxState, authorization: str | None) -> bool | None:
    """None when not authenticated, else whether the token is the read-only one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if token == state.token:
        return False
    if state.read_only_token is not None and token == state.read_only_token:
        return True
    return None


def _json_body(request: IncomingRequest) -> Any:
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        raise Rejected(400, "Content-Type must be application/json")
    if not request.body.strip():
        raise Rejected(400, "Request body must be a JSON object")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "Request body is not valid JSON") from None


def rate_limited(state: SandboxState, wait: float) -> Reply:
    headers = {"Retry-After": str(math.ceil(wait))} if state.retry_after_header else {}
    return failure(429, "Rate limit exceeded", extra={"retry_after_seconds": wait}, headers=headers)


def _fault_reply(state: SandboxState, fault: Fault, request: IncomingRequest) -> Reply | None:
    if fault.kind == "drop-before":
        return None
    if fault.kind == "echo-token":
        # A careless server (or proxy) quoting the credentials back: a client must not log or store it.
        status = int(fault.value or 400)
        return failure(
            status, f"Could not process the request with Authorization: {request.header('Authorization')}"
        )
    if fault.kind == "500":
        return failure(500, "Internal server error")
    if fault.kind == "503":
        return failure(503, "Service temporarily unavailable")
    if fault.kind == "html502":
        return Reply(status=502, raw=HTML_502, content_type="text/html")
    if fault.kind == "429":
        return rate_limited(state, fault.value or 1.0)
    raise AssertionError(f"not a pre-app fault: {fault.kind}")


def _spoiled(state: SandboxState, reply: Reply, fault: Fault, query: Mapping[str, str]) -> Reply | None:
    if fault.kind in LIST_ONLY_KINDS:
        return state.endless_page(query, reply, junk=fault.kind == "endless-junk")
    if fault.kind in DATA_KINDS:
        return poisoned(reply, fault.kind)
    if fault.kind == "drop-after":
        return None
    if fault.kind == "empty200":
        return Reply(status=200, raw=b"")
    if fault.kind == "malformed":
        encoded = reply.encoded()
        # Cut the JSON mid-way, as a proxy that lost the tail of the body would.
        return Reply(status=200, raw=encoded[: max(len(encoded) // 2, 1)] or b"{")
    return reply
