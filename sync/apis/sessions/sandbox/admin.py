"""The ``/_admin`` HTTP surface: tests and "other users" changing the account.

No session, no faults, not in the request log. Answers are plain JSON; errors
are ``{"message": ...}``. Routes::

    GET    /_admin/contacts                  every contact (hidden too) with hidden, canLogin
    POST   /_admin/contacts                  create as another user (same body rules as the API)
    GET    /_admin/contacts/{id}             one contact with hidden, canLogin
    PATCH  /_admin/contacts/{id}             edit fields as another user (email too); updatedAt moves
    DELETE /_admin/contacts/{id}             delete for good; its email is free again
    POST   /_admin/contacts/{id}/deactivate  isActive false (updatedAt moves); still listed
    POST   /_admin/contacts/{id}/hide        no longer listed for the user; email stays taken
    POST   /_admin/contacts/{id}/show        listed again
    POST   /_admin/seed                      body {"count": N, "seed": S}: append N seeded contacts
    GET    /_admin/sessions                  [{number, role, live}]
    POST   /_admin/sessions                  body {"role": R, "max_age_seconds": S?}: a new session,
                                             {number, role, cookie}
    POST   /_admin/sessions/{n}/expire       end session n (1 is the one opened at start)
    GET    /_admin/settings                  {error_body, duplicate_email, chunked}
    PUT    /_admin/settings                  change some of them
    GET    /_admin/faults                    {"spec": current SPEC}
    PUT    /_admin/faults                    body {"spec": "500@1,..."}; "" clears
    GET    /_admin/log                       the request log, oldest first, cookies masked
    GET    /_admin/counters                  api_requests, faults_injected, contacts_created, ...
    POST   /_admin/reset                     clear log and counters, restart fault numbering
"""

from __future__ import annotations

import re
from typing import Any, Final

from sync.apis.sandbox_kit.admin import json_object, shared_admin_data
from sync.apis.sessions.sandbox.state import DuplicateEmail, SessionsState
from sync.apis.sessions.sandbox.wire import Rejected, Reply, error_reply, json_reply

ADMIN_PREFIX: Final[str] = "/_admin"
_CONTACT = re.compile(r"^/contacts/(?P<id>\d+)(?P<action>/deactivate|/hide|/show)?$")
_EXPIRE = re.compile(r"^/sessions/(?P<number>\d+)/expire$")


def handle_admin(state: SessionsState, method: str, path: str, body: bytes) -> Reply:
    try:
        return _route(state, method, path[len(ADMIN_PREFIX) :], body)
    except Rejected as rejection:
        return error_reply("json", rejection.status, rejection.message, errors=rejection.errors)
    except DuplicateEmail as duplicate:
        message = f"Email {duplicate.email} is taken by contact {duplicate.existing_id}"
        return error_reply("json", 409, message)
    except ValueError as problem:
        # Bad settings, seed counts and fault SPECs (FaultSpecError is a ValueError).
        return error_reply("json", 400, str(problem))


def _object(body: bytes) -> dict[str, Any]:
    return json_object(body, Rejected)


def _route(state: SessionsState, method: str, path: str, body: bytes) -> Reply:
    if path == "/contacts" and method == "GET":
        return json_reply(state.all_contacts())
    if path == "/contacts" and method == "POST":
        return json_reply(state.admin_create(_object(body)), status=201)
    match = _CONTACT.match(path)
    if match:
        return _contact_route(state, method, int(match.group("id")), match.group("action"), body)
    if path == "/seed" and method == "POST":
        fields = _object(body)
        count, seed = fields.get("count"), fields.get("seed", 0)
        if not isinstance(count, int) or not isinstance(seed, int) or count < 0:
            raise Rejected(400, "count must be a non-negative integer and seed an integer")
        return json_reply({"ids": state.seed(count, seed)}, status=201)
    if path == "/sessions" and method == "GET":
        return json_reply(state.session_views())
    if path == "/sessions" and method == "POST":
        return _open_session(state, _object(body))
    match = _EXPIRE.match(path)
    if match and method == "POST":
        session = state.expire_session(int(match.group("number")))
        return json_reply({"number": session.number, "role": session.role, "live": False})
    if path == "/settings" and method in ("GET", "PUT"):
        return json_reply(state.settings(_object(body) if method == "PUT" else None))
    if path == "/reset" and method == "POST":
        state.reset_log()
        return json_reply({"reset": True})
    shared = shared_admin_data(state, method, path, body, Rejected)
    if shared is not None:
        return json_reply(shared)
    raise Rejected(404, f"No admin route for {method} {path}")


def _contact_route(
    state: SessionsState, method: str, contact_id: int, action: str | None, body: bytes
) -> Reply:
    if action is None and method == "GET":
        return json_reply(state.contact(contact_id))
    if action is None and method == "PATCH":
        return json_reply(state.admin_edit(contact_id, _object(body)))
    if action is None and method == "DELETE":
        return json_reply(state.delete(contact_id))
    if action == "/deactivate" and method == "POST":
        return json_reply(state.admin_edit(contact_id, {"isActive": False}))
    if action in ("/hide", "/show") and method == "POST":
        return json_reply(state.set_hidden(contact_id, hidden=action == "/hide"))
    raise Rejected(404, f"No admin route for {method} /contacts/{contact_id}{action or ''}")


def _open_session(state: SessionsState, fields: dict[str, Any]) -> Reply:
    role = fields.get("role")
    max_age = fields.get("max_age_seconds")
    if not isinstance(role, str) or not role:
        raise Rejected(400, "role is required (consultant and admin may create contacts)")
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int | float)):
        raise Rejected(400, "max_age_seconds must be a number of seconds")
    session, cookie = state.open_session(role=role, max_age=max_age)
    return json_reply({"number": session.number, "role": session.role, "cookie": cookie}, status=201)
