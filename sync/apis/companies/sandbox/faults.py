"""The Lev fault SPEC grammar (``sync.apis.lev.sandbox.faults``) applied to the companies endpoints.

Items are parsed by Lev's ``FaultPlan`` and decided by the kit's
(``sync.apis.sandbox_kit.faults``), so the grammar, kinds' meaning,
probabilities and ``seed=`` are exactly Lev's. Two differences, because this
API has DELETE:

* scopes: ``ALL`` counts GET, POST, PATCH and DELETE; ``WRITE`` is POST, PATCH
  or DELETE; a rule may also be scoped ``/DELETE``;
* kinds: only those this sandbox serves are accepted (``SUPPORTED_KINDS``);
  any other kind the Lev grammar knows is a ``FaultSpecError`` naming it.

``drop-after`` on a DELETE deletes the contact and loses the 204, so the
client's retry meets a 404; on a GET it is a plain drop. ``malformed`` and
``empty200`` answer 200 (even for a DELETE) with half the body or none.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from sync.apis.lev.sandbox.faults import FaultPlan as LevFaultPlan
from sync.apis.sandbox_kit.faults import FaultPlan, FaultRule, FaultSpecError

BEFORE_KINDS: Final[frozenset[str]] = frozenset({"500", "503", "html502", "429", "drop-before"})
AFTER_KINDS: Final[frozenset[str]] = frozenset({"drop-after", "malformed", "empty200"})
SUPPORTED_KINDS: Final[frozenset[str]] = BEFORE_KINDS | AFTER_KINDS | {"slow"}
SCOPES: Final[dict[str, frozenset[str]]] = {
    "ALL": frozenset({"GET", "POST", "PATCH", "DELETE"}),
    "GET": frozenset({"GET"}),
    "POST": frozenset({"POST"}),
    "PATCH": frozenset({"PATCH"}),
    "DELETE": frozenset({"DELETE"}),
    "WRITE": frozenset({"POST", "PATCH", "DELETE"}),
}


class Faults(FaultPlan):
    """The kit's plan with this sandbox's scopes and kinds; the state's lock guards it."""

    scopes = SCOPES

    @classmethod
    def parse_rule(cls, item: str) -> FaultRule:
        return _parse_rule(item)


def _parse_rule(item: str) -> FaultRule:
    head, slash, scope = item.rpartition("/")
    is_delete = bool(slash) and scope.strip().upper() == "DELETE"
    # Lev's grammar has no DELETE scope: parse with a stand-in, then set it.
    rules = LevFaultPlan.parse(f"{head}/GET" if is_delete else item).rules
    if len(rules) != 1:
        raise FaultSpecError(f"{item!r}: expected one KIND@WHEN rule")
    rule = dataclasses.replace(rules[0], scope="DELETE") if is_delete else rules[0]
    if rule.fault.kind not in SUPPORTED_KINDS:
        supported = ", ".join(sorted(SUPPORTED_KINDS))
        raise FaultSpecError(
            f"{item!r}: fault kind {rule.fault.kind!r} is not served by the companies sandbox "
            f"(supported: {supported})"
        )
    return rule
