"""One API request through the sessions sandbox, from raw request to what the socket should do.

Routes, under ``API_PREFIX``: ``GET /contacts`` (every contact the session's
user sees, one JSON array, streamed), ``POST /contacts`` (create, answers 200
with the contact) and ``GET /contacts/mentions`` (id, fullName, mentionName,
email of the active ones). Anything else gets Express's 404 page.

The order mirrors an Express app behind a proxy: the fault plan plays the
proxy (``500``, ``503``, ``html502``, ``429`` and ``drop-before`` answer before
the app sees anything), then the session middleware (401 without a live,
validly signed ``connect.sid``), the role check on POST (403 unless
consultant or admin), the body and the operation; finally ``drop-after``,
``malformed`` and ``empty200`` lose or spoil the answer of a request that
ran. Here ``503`` carries ``Retry-After: 1`` and ``429=S`` carries
``Retry-After: ceil(S)``; ``malformed`` cuts a list in half mid-stream.
Every request is logged, cookies masked, before the server acts on the outcome.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import parse_qs

from sync.apis.lev.sandbox.api import HTML_502
from sync.apis.lev.sandbox.envelope import utc_stamp
from sync.apis.lev.sandbox.faults import PRE_APP_KINDS
from sync.apis.sandbox_kit.faults import Fault
from sync.apis.sandbox_kit.request import IncomingRequest
from sync.apis.sandbox_kit.requestlog import LoggedRequest
from sync.apis.sessions.sandbox.contacts import parse
from sync.apis.sessions.sandbox.requestlog import masked_headers
from sync.apis.sessions.sandbox.sessions import CREATE_ROLES
from sync.apis.sessions.sandbox.state import DuplicateEmail, SessionsState
from sync.apis.sessions.sandbox.wire import (
    HTML_TYPE,
    ListBody,
    Rejected,
    Reply,
    error_reply,
    internal_error_page,
    json_reply,
    not_found_page,
    rejection_reply,
)

logger = logging.getLogger(__name__)

API_PREFIX: Final[str] = "/api"
ENDPOINTS: Final[frozenset[str]] = frozenset({"GET /contacts", "POST /contacts", "GET /contacts/mentions"})
DUPLICATE_MESSAGE: Final[str] = "Email already exists"
RATE_LIMIT_MESSAGE: Final[str] = "Too many requests, please try again later."


@dataclass(frozen=True)
class Outcome:
    """What the server must do: wait, then send ``reply`` or (None) drop the connection."""

    reply: Reply | None
    delay_seconds: float
    entry: LoggedRequest


def endpoint_of(method: str, path: str) -> str | None:
    """``"GET /contacts"`` and the like for a known route, else None."""
    if not path.startswith(API_PREFIX + "/"):
        return None
    endpoint = f"{method} {path[len(API_PREFIX) :]}"
    return endpoint if endpoint in ENDPOINTS else None


def handle_api(state: SessionsState, request: IncomingRequest) -> Outcome:
    """Answer one request outside ``/_admin`` and log it."""
    seq = state.next_seq()
    received_at = utc_stamp(micro=True)
    path, _, query_string = request.target.partition("?")
    endpoint = endpoint_of(request.method, path)
    state.count("api_requests")

    decision = state.decide_fault(request.method) if endpoint else None
    fault = decision.fault if decision else None
    reply: Reply | None
    if fault is not None and fault.kind in PRE_APP_KINDS:
        reply = _fault_reply(state, fault)
    else:
        reply = _guarded(state, lambda: _answer(state, request, endpoint, path))
        if fault is not None:
            reply = _spoiled(reply, fault)
    if fault is not None:
        state.count("faults_injected")

    entry = LoggedRequest(
        seq=seq,
        received_at=received_at,
        method=request.method,
        path=request.target,
        query=parse_qs(query_string, keep_blank_values=True),
        headers=masked_headers(request.headers),
        body=request.body,
        endpoint=endpoint,
        status=None if reply is None else reply.status,
        fault=decision.names if decision else None,
        request_id=None,
        response_headers={} if reply is None else reply.wire_headers(),
        # A streamed list is not copied into the log: it is the one thing that must stay small.
        response_body=b"" if reply is None or reply.stream is not None else reply.body,
    )
    state.record(entry)
    delay = state.latency_ms / 1000 + (decision.delay_seconds if decision else 0.0)
    return Outcome(reply=reply, delay_seconds=delay, entry=entry)


def _guarded(state: SessionsState, answer: Callable[[], Reply]) -> Reply:
    try:
        return answer()
    except Rejected as rejection:
        return rejection_reply(state.error_body, rejection)
    except Exception:
        # A bug in the sandbox must still look like a server error, not a hang.
        logger.exception("sessions_sandbox.request.crashed")
        return internal_error_page()


def _answer(state: SessionsState, request: IncomingRequest, endpoint: str | None, path: str) -> Reply:
    if endpoint is None:
        return not_found_page(request.method, path)
    session = state.authenticate(request.header("Cookie"))
    if session is None:
        raise Rejected(401, "Unauthorized")
    if endpoint == "GET /contacts":
        return Reply(200, stream=ListBody(state.visible_items(), chunked=state.chunked))
    if endpoint == "GET /contacts/mentions":
        active = (record for record in map(parse, state.visible_items()) if record["isActive"])
        return json_reply([_mention(record) for record in active])
    if session.role not in CREATE_ROLES:
        raise Rejected(403, "Forbidden")
    try:
        return json_reply(state.create_contact(_json_body(request)))
    except DuplicateEmail:
        return _duplicate(state)


def _mention(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("id", "fullName", "mentionName", "email")}


def _json_body(request: IncomingRequest) -> Any:
    # express.json() parses only JSON bodies; any other leaves req.body empty.
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" or not request.body.strip():
        return {}
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "Invalid JSON in request body") from None


def _duplicate(state: SessionsState) -> Reply:
    if state.duplicate_email == "500":
        # An app that lets the unique index's error reach Express's default handler.
        return internal_error_page()
    return error_reply(state.error_body, int(state.duplicate_email), DUPLICATE_MESSAGE)


def _fault_reply(state: SessionsState, fault: Fault) -> Reply | None:
    if fault.kind == "drop-before":
        return None
    if fault.kind == "500":
        return error_reply(state.error_body, 500, "Internal Server Error")
    if fault.kind == "503":
        return error_reply(state.error_body, 503, "Service Unavailable", headers={"Retry-After": "1"})
    if fault.kind == "html502":
        return Reply(502, HTML_502, HTML_TYPE)
    if fault.kind == "429":
        retry_after = str(math.ceil(fault.value or 1.0))
        return error_reply(state.error_body, 429, RATE_LIMIT_MESSAGE, headers={"Retry-After": retry_after})
    raise AssertionError(f"not a pre-app fault: {fault.kind}")


def _spoiled(reply: Reply, fault: Fault) -> Reply | None:
    if fault.kind == "drop-after":
        return None
    if fault.kind == "empty200":
        return Reply(200, b"")
    if fault.kind == "malformed":
        # Cut the JSON mid-way, as a proxy that lost the tail of the body would.
        if reply.stream is not None:
            cut = replace(reply.stream, limit=reply.stream.full_length // 2)
            return replace(reply, status=200, stream=cut)
        return Reply(200, reply.body[: max(len(reply.body) // 2, 1)] or b"{", reply.content_type)
    return reply
