"""The ``/_admin`` HTTP surface: tests and "other users" changing the account.

No auth, no rate limit, no faults, not in the request log. Answers use the
success/error envelope. Routes::

    GET    /_admin/contacts                  every contact (connected or not) with company_id
    POST   /_admin/contacts                  create a contact as the Lev UI would; body: fields
                                             (contact_types or contact_type, company_id default 1,
                                             "connected": false to create it unconnected)
    GET    /_admin/contacts/{id}             one contact with company_id
    PATCH  /_admin/contacts/{id}             edit any field as another user (email too)
    POST   /_admin/contacts/{id}/disconnect  is_connected = false (updated_at moves)
    POST   /_admin/contacts/{id}/connect     is_connected = true
    GET    /_admin/faults                    {"spec": current SPEC}
    PUT    /_admin/faults                    body {"spec": "500@1,..."}; "" clears
    GET    /_admin/filters                   {"mode": ...} for GET /contacts' filter[...] parameters
    PUT    /_admin/filters                   body {"mode": "apply" | "ignore" | "reject"}: filter,
                                             ignore them (a server without filters), or 400
    GET    /_admin/log                       the request log, oldest first
    GET    /_admin/counters                  counters (api_requests, faults_injected, ...)
    POST   /_admin/reset                     clear log, counters, rate-limit windows and
                                             fault numbering

Several accounts (one per token, see ``sandbox.accounts``)::

    GET    /_admin/accounts                  [{name, token, account_id, tier}], the first is "default"
    POST   /_admin/accounts                  add one; body {name, token?, contacts?, seed?, tier?,
                                             latency_ms?, faults?, window_seconds?}
    GET    /_admin/accounts/{name}/runs      the account's connection spans and the pairs that
                                             overlap (two clients at once; see ``sandbox.runs``)
    *      /_admin/accounts/{name}/...       any route above, on that account
"""

from __future__ import annotations

import re
from typing import Any, Final

from sync.apis.lev.sandbox.accounts import SandboxAccounts
from sync.apis.lev.sandbox.envelope import Rejected, Reply, failure, success
from sync.apis.lev.sandbox.runs import connection_spans, overlapping_spans
from sync.apis.lev.sandbox.state import SandboxState
from sync.apis.sandbox_kit.admin import json_object, shared_admin_data

ADMIN_PREFIX: Final[str] = "/_admin"
ACCOUNTS_PREFIX: Final[str] = ADMIN_PREFIX + "/accounts"
_ACCOUNT = re.compile(r"^/(?P<name>[^/]+)(?P<rest>/.*)?$")
_CONTACT = re.compile(r"^/contacts/(?P<id>\d+)(?P<action>/disconnect|/connect)?$")


def handle_admin(state: SandboxState, method: str, path: str, body: bytes) -> Reply:
    try:
        return _route(state, method, path[len(ADMIN_PREFIX) :], body)
    except Rejected as rejection:
        return failure(rejection.status, rejection.message, details=rejection.details)


def handle_accounts_admin(accounts: SandboxAccounts, method: str, path: str, body: bytes) -> Reply:
    """The routes under /_admin/accounts: list, add, and one account's own admin routes."""
    try:
        rest = path[len(ACCOUNTS_PREFIX) :]
        if rest in ("", "/") and method == "GET":
            return success(accounts.described())
        if rest in ("", "/") and method == "POST":
            options = _object(body)
            name = options.pop("name", None)
            if not isinstance(name, str):
                raise Rejected(400, "name is required (a string)")
            state = accounts.add(name, **options)
            return success({"name": name, "token": state.token, "account_id": state.account_id}, status=201)
        match = _ACCOUNT.match(rest)
        if match is None:
            raise Rejected(404, f"No admin route for {method} {path}")
        state = accounts.named(match.group("name"))
        inner = match.group("rest") or ""
        if inner == "/runs" and method == "GET":
            spans = connection_spans(state.request_log())
            return success(
                {
                    "spans": [span.to_json() for span in spans],
                    "overlapping": [[a.connection, b.connection] for a, b in overlapping_spans(spans)],
                }
            )
    except Rejected as rejection:
        return failure(rejection.status, rejection.message, details=rejection.details)
    return handle_admin(state, method, ADMIN_PREFIX + inner, body)


def _object(body: bytes) -> dict[str, Any]:
    return json_object(body, Rejected)


def _route(state: SandboxState, method: str, path: str, body: bytes) -> Reply:
    if path == "/contacts" and method == "GET":
        return success(state.all_contacts())
    if path == "/contacts" and method == "POST":
        fields = _object(body)
        connected = fields.pop("connected", True)
        return success(state.admin_create(fields, connected=bool(connected)), status=201)
    match = _CONTACT.match(path)
    if match:
        contact_id = int(match.group("id"))
        action = match.group("action")
        if action is None and method == "GET":
            found = state.contact(contact_id)
            if found is None:
                raise Rejected(404, "Contact not found")
            return success(found)
        if action is None and method == "PATCH":
            return success(state.admin_edit(contact_id, _object(body)))
        if action == "/disconnect" and method == "POST":
            return success(state.disconnect(contact_id))
        if action == "/connect" and method == "POST":
            return success(state.connect(contact_id))
    if path == "/filters" and method == "GET":
        return success({"mode": state.filter_mode})
    if path == "/filters" and method == "PUT":
        mode = _object(body).get("mode")
        try:
            return success({"mode": state.set_filter_mode(str(mode))})
        except ValueError as exc:
            raise Rejected(400, str(exc)) from None
    if path == "/reset" and method == "POST":
        state.reset_log()
        return success({"reset": True})
    shared = shared_admin_data(state, method, path, body, Rejected)
    if shared is not None:
        return success(shared)
    raise Rejected(404, f"No admin route for {method} {path}")
