"""The ``/_admin`` routes every sandbox answers the same way, whatever its wire format.

A body is a JSON object (empty means ``{}``); ``/faults`` reads and replaces
the fault SPEC, ``/log`` is the request log and ``/counters`` the counters.
Each sandbox wraps the data in its own success shape and passes its own
refusal exception (status, message) for the 400s; its other routes, its reset
answer and its error shape stay its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from sync.apis.sandbox_kit.faults import FaultSpecError
from sync.apis.sandbox_kit.requestlog import LoggedRequest

# A sandbox's refusal: its exception class, called with (status, message).
Refuse = Callable[[int, str], Exception]


class _Spec(Protocol):
    @property
    def spec(self) -> str: ...


class AdminState(Protocol):
    """What the shared routes need of a sandbox state."""

    @property
    def faults(self) -> _Spec: ...

    def set_faults(self, plan: str) -> _Spec: ...

    def request_log(self) -> list[LoggedRequest]: ...

    def counter_values(self) -> dict[str, int]: ...


def json_object(body: bytes, refuse: Refuse) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``); 400 otherwise."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        # UnicodeDecodeError is a ValueError too.
        raise refuse(400, "Request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise refuse(400, "Request body must be a JSON object")
    return parsed


def shared_admin_data(
    state: AdminState, method: str, path: str, body: bytes, refuse: Refuse
) -> dict[str, Any] | list[dict[str, Any]] | None:
    """The data a shared route answers (``path`` without ``/_admin``), or None for another route."""
    if path == "/faults" and method == "GET":
        return {"spec": state.faults.spec}
    if path == "/faults" and method == "PUT":
        spec = json_object(body, refuse).get("spec", "")
        if not isinstance(spec, str):
            raise refuse(400, "spec must be a string")
        try:
            return {"spec": state.set_faults(spec).spec}
        except FaultSpecError as exc:
            raise refuse(400, str(exc)) from None
    if path == "/log" and method == "GET":
        return [entry.to_json() for entry in state.request_log()]
    if path == "/counters" and method == "GET":
        return state.counter_values()
    return None
