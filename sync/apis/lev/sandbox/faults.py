r"""Fault injection for the contacts endpoints, described by a SPEC string.

Grammar (whitespace around items is ignored; an empty SPEC means no faults)::

    SPEC  := ITEM ("," ITEM)*
    ITEM  := "seed=" INT                 seed of the RNG for probability rules (default 0)
           | KIND "@" WHEN ["/" SCOPE]
    KIND  := "500" | "503"               JSON error envelope (internal_error / service_unavailable)
           | "html502"                   502 with a text/html page, as a proxy would send
           | "malformed"                 200 whose JSON body is cut in half
           | "empty200"                  200 with an empty body
           | "drop-before"               close the socket without answering; nothing applied
           | "drop-after"                apply the request, then close without answering
           | "429" ["=" SECONDS]         forced rate limit; retry_after_seconds (default 1)
           | "slow=" MS                  delay the answer by MS milliseconds
           | "trickle" ["=" MS]          write the answer (status line, headers, body) one byte
                                         at a time, MS (default 100) milliseconds apart
           | "endless"                   a list page with no contacts, has_more true and a fresh
                                         next_cursor (same position), so the walk never ends
           | "endless-junk"              the same, but the page is full (``limit``) of ever-new
                                         junk contacts, with ids never seen before and never stored
           | "surrogate"                 the first contact's title ends in a lone surrogate,
                                         written as the JSON escape \ud800
           | "nul"                       the first contact's title ends in a NUL, JSON \u0000
           | "huge"                      the first contact's title is 70,000 characters long
           | "echo-token" ["=" STATUS]   an error answer (default 400; any documented error
                                         status) whose message echoes the Authorization header
    WHEN  := NUMS ("+" NUMS)*            1-based request numbers: 3, 5-7, 1+4+9-10
           | "p" FLOAT                   each matching request with probability FLOAT (0..1)
    SCOPE := "GET" | "POST" | "PATCH" | "WRITE"   count only these (WRITE: POST or PATCH)

Example: ``500@3,drop-after@5-7,html502@p0.05,slow=1500@p0.1,429@4,drop-after@1/POST,seed=7``.

Request numbers count the API requests to ``/contacts`` endpoints (list, get,
create, patch) since the plan was set or the counters were reset; with a
SCOPE, only the requests of that scope are counted for that rule. Admin, /me
and /health requests are never counted and never faulted.

Which faults apply the request: ``500``, ``503``, ``html502``, ``429``,
``echo-token`` and ``drop-before`` answer before the request reaches the API
(nothing written, no rate-limit budget used). ``drop-after``, ``malformed``,
``empty200``, ``endless``, ``endless-junk``, ``surrogate``, ``nul`` and
``huge`` let the request run normally (a valid write is applied and its
answer stored for the Idempotency-Key) and then lose, replace or corrupt the
answer; for a GET, ``drop-after`` is the same as ``drop-before``. The
endless kinds are only eligible for the list (GET /contacts, not counted
against them on other requests' draws) and replace only a 200 answer; the
data kinds change only a 2xx answer that carries a contact (a list's first).
``slow`` and ``trickle`` add to any other fault; otherwise the first rule
that fires wins. Every probability rule draws from the seeded RNG on each
request it is eligible for, so a given SPEC and request sequence always fault
the same requests.
"""

from __future__ import annotations

import re
from typing import Final

from sync.apis.sandbox_kit.faults import NO_FAULT, Fault, FaultDecision, FaultRule, FaultSpecError
from sync.apis.sandbox_kit.faults import FaultPlan as KitFaultPlan

__all__ = [
    "NO_FAULT",
    "Fault",
    "FaultDecision",
    "FaultPlan",
    "FaultRule",
    "FaultSpecError",
]

PRE_APP_KINDS: Final[frozenset[str]] = frozenset(
    {"500", "503", "html502", "429", "drop-before", "echo-token"}
)
LIST_ONLY_KINDS: Final[frozenset[str]] = frozenset({"endless", "endless-junk"})
DATA_KINDS: Final[frozenset[str]] = frozenset({"surrogate", "nul", "huge"})
POST_APP_KINDS: Final[frozenset[str]] = (
    frozenset({"drop-after", "malformed", "empty200"}) | LIST_ONLY_KINDS | DATA_KINDS
)
# Kinds that shape how the answer travels and add to any other fault.
MODIFIER_KINDS: Final[frozenset[str]] = frozenset({"slow", "trickle"})
SIMPLE_KINDS: Final[frozenset[str]] = (PRE_APP_KINDS | POST_APP_KINDS) - {"429", "echo-token"}
DEFAULT_TRICKLE_MS: Final[float] = 100.0
DEFAULT_ECHO_STATUS: Final[int] = 400
ECHO_STATUSES: Final[frozenset[int]] = frozenset({400, 401, 403, 404, 409, 422, 500, 503})
HUGE_LENGTH: Final[int] = 70_000
SCOPES: Final[dict[str, frozenset[str]]] = {
    "ALL": frozenset({"GET", "POST", "PATCH"}),
    "GET": frozenset({"GET"}),
    "POST": frozenset({"POST"}),
    "PATCH": frozenset({"PATCH"}),
    "WRITE": frozenset({"POST", "PATCH"}),
}
DEFAULT_RETRY_AFTER: Final[float] = 1.0
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class FaultPlan(KitFaultPlan):
    """Lev's grammar on the kit's plan (``sync.apis.sandbox_kit.faults``): its scopes and kinds.

    Not thread-safe on its own: ``SandboxState`` calls it under its lock.
    """

    scopes = SCOPES
    list_only_kinds = LIST_ONLY_KINDS

    @classmethod
    def parse_rule(cls, item: str) -> FaultRule:
        return _parse_rule(item)


def _parse_rule(item: str) -> FaultRule:
    kind_text, at, when_text = item.partition("@")
    if not at or not when_text:
        raise FaultSpecError(f"{item!r}: expected KIND@WHEN")
    when_text, _, scope = when_text.partition("/")
    scope = scope.upper() or "ALL"
    if scope not in SCOPES or (scope == "ALL" and "/" in item):
        raise FaultSpecError(f"{item!r}: scope must be one of GET, POST, PATCH, WRITE")
    fault = _parse_kind(kind_text.strip(), item)
    if when_text.startswith("p"):
        try:
            probability = float(when_text[1:])
        except ValueError:
            raise FaultSpecError(f"{item!r}: bad probability") from None
        if not 0.0 <= probability <= 1.0:
            raise FaultSpecError(f"{item!r}: probability must be between 0 and 1")
        return FaultRule(fault, probability=probability, scope=scope)
    numbers: set[int] = set()
    for part in when_text.split("+"):
        match = _RANGE.match(part.strip())
        if match is None:
            raise FaultSpecError(f"{item!r}: bad request number or range {part!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if low < 1 or high < low:
            raise FaultSpecError(f"{item!r}: request numbers start at 1 and ranges ascend")
        numbers.update(range(low, high + 1))
    return FaultRule(fault, numbers=frozenset(numbers), scope=scope)


def _parse_kind(text: str, item: str) -> Fault:
    name, equals, value_text = text.partition("=")
    if name in SIMPLE_KINDS and not equals:
        return Fault(name)
    if name == "429":
        if not equals:
            return Fault("429", DEFAULT_RETRY_AFTER)
        return Fault("429", _positive(value_text, item))
    if name == "slow" and equals:
        return Fault("slow", _positive(value_text, item))
    if name == "trickle":
        return Fault("trickle", _positive(value_text, item) if equals else DEFAULT_TRICKLE_MS)
    if name == "echo-token":
        if not equals:
            return Fault("echo-token", DEFAULT_ECHO_STATUS)
        status = _positive(value_text, item)
        if status not in ECHO_STATUSES:
            allowed = ", ".join(str(code) for code in sorted(ECHO_STATUSES))
            raise FaultSpecError(f"{item!r}: echo-token status must be one of {allowed}")
        return Fault("echo-token", status)
    raise FaultSpecError(f"{item!r}: unknown fault kind {text!r}")


def _positive(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(f"{item!r}: {text!r} is not a number") from None
    if value <= 0:
        raise FaultSpecError(f"{item!r}: {text!r} must be positive")
    return value
