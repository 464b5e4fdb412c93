"""The ``/_admin`` HTTP surface: tests and "other users" changing the data, faults, switches, log.

No auth, no rate limit, no faults, not in the request log. Success answers
are the JSON data itself; errors are ``{"detail": ...}`` like the API's
(422 with the API's validation items for bad contact fields). Routes::

    GET    /_admin/contacts[?company_id=ID]  every contact (or one company's), created order
    POST   /_admin/contacts                  create as another user; body: contact fields
                                             (company_id defaults to the first company) and
                                             optionally "created_at" (ISO) to backdate its place
    GET    /_admin/contacts/{id}             one contact
    PATCH  /_admin/contacts/{id}             edit as another user (updated_at moves)
    DELETE /_admin/contacts/{id}             delete as another user
    GET    /_admin/companies                 [{id, name, account, contacts}]
    GET    /_admin/faults                    {"spec": current SPEC}
    PUT    /_admin/faults                    body {"spec": "500@1,..."}; "" clears
    GET    /_admin/log                       the request log, oldest first (tokens redacted)
    GET    /_admin/counters                  api_requests, faults_injected, rate_limited, ...
    GET    /_admin/settings                  max_limit, retry_after_header, latency_ms, limits
    PATCH  /_admin/settings                  body: any of max_limit, retry_after_header, latency_ms
    POST   /_admin/limits/reset              empty every rate-limit window
    POST   /_admin/reset                     clear log, counters, rate-limit windows, fault numbering
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs

from sync.apis.companies.sandbox.answers import NO_CONTENT, Answer, Refused, detail, json_answer
from sync.apis.companies.sandbox.state import NOT_FOUND, CompaniesState
from sync.apis.companies.sandbox.validation import canonical_uuid
from sync.apis.sandbox_kit.admin import json_object, shared_admin_data

ADMIN_PREFIX: Final[str] = "/_admin"
_SETTINGS: Final[dict[str, type]] = {"max_limit": int, "retry_after_header": bool, "latency_ms": int}


def handle_admin(state: CompaniesState, method: str, target: str, body: bytes) -> Answer:
    path, _, query_string = target.partition("?")
    query = {name: values[0] for name, values in parse_qs(query_string).items()}
    try:
        return _route(state, method, path[len(ADMIN_PREFIX) :], query, body)
    except Refused as refusal:
        return refusal.answer


def _object(body: bytes) -> dict[str, Any]:
    return json_object(body, Refused)


def _contact_id(text: str) -> str:
    contact_id = canonical_uuid(text)
    if contact_id is None:
        raise Refused(404, NOT_FOUND)
    return contact_id


def _route(state: CompaniesState, method: str, path: str, query: dict[str, str], body: bytes) -> Answer:
    if path == "/contacts" and method == "GET":
        company_id = query.get("company_id")
        return json_answer(200, state.all_contacts(canonical_uuid(company_id) if company_id else None))
    if path == "/contacts" and method == "POST":
        fields = _object(body)
        created_at = fields.pop("created_at", None)
        if created_at is not None and not isinstance(created_at, str):
            raise Refused(400, "created_at must be an ISO-8601 string")
        return json_answer(201, state.admin_create(fields, created_at=created_at))
    if path.startswith("/contacts/") and path.count("/") == 2:
        contact_id = _contact_id(path[len("/contacts/") :])
        if method == "GET":
            found = state.contact(contact_id)
            if found is None:
                raise Refused(404, NOT_FOUND)
            return json_answer(200, found)
        if method == "PATCH":
            return json_answer(200, state.admin_edit(contact_id, _object(body)))
        if method == "DELETE":
            state.admin_delete(contact_id)
            return NO_CONTENT
    if path == "/companies" and method == "GET":
        return json_answer(200, state.company_list())
    if path == "/settings" and method == "GET":
        return json_answer(200, state.settings())
    if path == "/settings" and method == "PATCH":
        return json_answer(200, _update_settings(state, _object(body)))
    if path == "/limits/reset" and method == "POST":
        state.reset_limits()
        return json_answer(200, {"reset": "limits"})
    if path == "/reset" and method == "POST":
        state.reset_log()
        return json_answer(200, {"reset": "all"})
    shared = shared_admin_data(state, method, path, body, Refused)
    if shared is not None:
        return json_answer(200, shared)
    return detail(404, f"No admin route for {method} {ADMIN_PREFIX}{path}")


def _update_settings(state: CompaniesState, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(_SETTINGS))
    if unknown:
        raise Refused(400, f"Unknown setting(s): {', '.join(unknown)}; expected {', '.join(_SETTINGS)}")
    for name, kind in _SETTINGS.items():
        value = changes.get(name)
        # bool is an int in Python: a max_limit of true is no number.
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise Refused(400, f"{name} must be {'a boolean' if kind is bool else 'an integer'}")
    try:
        return state.update_settings(**changes)
    except ValueError as exc:
        raise Refused(400, str(exc)) from None
