"""The Lev fault SPEC grammar (``sync.apis.lev.sandbox.faults``) applied to the companies endpoints.

Items are parsed by Lev's ``FaultPlan``, so the grammar, kinds' meaning,
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
import random
from typing import Final

from sync.apis.lev.sandbox.faults import Fault, FaultDecision, FaultPlan, FaultRule, FaultSpecError

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


class Faults:
    """Parsed rules, per-scope request counters and the seeded RNG; the state's lock guards it."""

    def __init__(self, rules: tuple[FaultRule, ...] = (), *, seed: int = 0, spec: str = "") -> None:
        self.rules = rules
        self.seed = seed
        self.spec = spec
        self.reset_counts()

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        spec = (spec or "").strip()
        rules: list[FaultRule] = []
        seed = 0
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item.startswith("seed="):
                seed = FaultPlan.parse(item).seed
                continue
            rules.append(_parse_rule(item))
        return cls(tuple(rules), seed=seed, spec=spec)

    def reset_counts(self) -> None:
        self._counts = dict.fromkeys(SCOPES, 0)
        self._rng = random.Random(self.seed)

    def decide(self, method: str) -> FaultDecision:
        """Count one API request and pick its delay and fault (the first rule that fires)."""
        method = method.upper()
        for scope, methods in SCOPES.items():
            if method in methods:
                self._counts[scope] += 1
        delay = 0.0
        chosen: Fault | None = None
        for rule in self.rules:
            if method not in SCOPES[rule.scope]:
                continue
            if rule.probability is not None:
                fires = self._rng.random() < rule.probability
            else:
                fires = self._counts[rule.scope] in rule.numbers
            if not fires:
                continue
            if rule.fault.kind == "slow":
                delay += (rule.fault.value or 0.0) / 1000
            elif chosen is None:
                chosen = rule.fault
        if chosen is not None and chosen.kind == "drop-after" and method == "GET":
            chosen = Fault("drop-before")
        return FaultDecision(delay_seconds=delay, fault=chosen)


def _parse_rule(item: str) -> FaultRule:
    head, slash, scope = item.rpartition("/")
    is_delete = bool(slash) and scope.strip().upper() == "DELETE"
    # Lev's grammar has no DELETE scope: parse with a stand-in, then set it.
    rules = FaultPlan.parse(f"{head}/GET" if is_delete else item).rules
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
