"""The fault SPEC machinery the sandboxes share: rules, their counting and the seeded draws.

A SPEC is ``ITEM ("," ITEM)*``, each item ``seed=INT`` or a rule; what a rule
may say (its kinds, ``WHEN`` and ``SCOPE``) is each sandbox's grammar
(``sync.apis.lev.sandbox.faults`` is the reference one), given to
``FaultPlan`` as its ``parse_rule`` and ``scopes``. The plan then decides the
same way for every sandbox: request numbers count per scope from the last
reset; probability rules draw from an RNG seeded by ``seed=``, on every
request they are eligible for; ``slow`` and ``trickle`` add to any other
fault, otherwise the first rule that fires wins; ``drop-after`` on a GET is
``drop-before`` (nothing to apply).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar, Final, Self


class FaultSpecError(ValueError):
    """The SPEC string does not follow the sandbox's grammar."""


@dataclass(frozen=True)
class Fault:
    kind: str
    # slow: milliseconds; 429: retry_after_seconds; otherwise unused.
    value: float | None = None

    @property
    def name(self) -> str:
        if self.value is None:
            return self.kind
        return f"{self.kind}={self.value:g}"


@dataclass(frozen=True)
class FaultRule:
    fault: Fault
    numbers: frozenset[int] = frozenset()
    probability: float | None = None
    scope: str = "ALL"


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: an extra delay, and at most one fault."""

    delay_seconds: float = 0.0
    fault: Fault | None = None
    # trickle: the pause between two bytes of the answer.
    byte_delay_seconds: float = 0.0

    @property
    def names(self) -> str | None:
        parts = [f"slow={self.delay_seconds * 1000:g}"] if self.delay_seconds else []
        if self.byte_delay_seconds:
            parts.append(f"trickle={self.byte_delay_seconds * 1000:g}")
        if self.fault is not None:
            parts.append(self.fault.name)
        return ",".join(parts) or None


NO_FAULT: Final[FaultDecision] = FaultDecision()


class FaultPlan:
    """Parsed rules plus the per-scope request counters and the seeded RNG.

    Not thread-safe on its own: a sandbox state calls it under its lock. A
    sandbox subclasses it with its ``scopes`` (name -> methods counted) and
    ``parse_rule`` (one ``KIND@WHEN[/SCOPE]`` item to a rule, or
    ``FaultSpecError``).
    """

    scopes: ClassVar[dict[str, frozenset[str]]] = {}
    # Kinds only a list request (``listing``) is eligible for; not drawn for on other requests.
    list_only_kinds: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, rules: tuple[FaultRule, ...] = (), *, seed: int = 0, spec: str = "") -> None:
        self.rules = rules
        self.seed = seed
        self.spec = spec
        self.reset_counts()

    @classmethod
    def parse_rule(cls, item: str) -> FaultRule:
        """One ``KIND@WHEN[/SCOPE]`` item of the sandbox's own grammar."""
        raise NotImplementedError(f"{cls.__name__} must define parse_rule (its fault grammar)")

    @classmethod
    def parse(cls, spec: str | None) -> Self:
        spec = (spec or "").strip()
        rules: list[FaultRule] = []
        seed = 0
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item.startswith("seed="):
                try:
                    seed = int(item[len("seed=") :])
                except ValueError:
                    raise FaultSpecError(f"bad seed in {item!r}") from None
                continue
            rules.append(cls.parse_rule(item))
        return cls(tuple(rules), seed=seed, spec=spec)

    def reset_counts(self) -> None:
        self._counts = dict.fromkeys(self.scopes, 0)
        self._rng = random.Random(self.seed)

    def decide(self, method: str, *, listing: bool = False) -> FaultDecision:
        """Count one request and pick its fault(s); ``listing``: it is the list endpoint."""
        method = method.upper()
        for scope, methods in self.scopes.items():
            if method in methods:
                self._counts[scope] += 1
        delay = 0.0
        byte_delay = 0.0
        chosen: Fault | None = None
        for rule in self.rules:
            if method not in self.scopes[rule.scope]:
                continue
            if rule.fault.kind in self.list_only_kinds and not listing:
                continue
            if rule.probability is not None:
                fires = self._rng.random() < rule.probability
            else:
                fires = self._counts[rule.scope] in rule.numbers
            if not fires:
                continue
            if rule.fault.kind == "slow":
                delay += (rule.fault.value or 0.0) / 1000
            elif rule.fault.kind == "trickle":
                byte_delay = max(byte_delay, (rule.fault.value or 0.0) / 1000)
            elif chosen is None:
                chosen = rule.fault
        if chosen is not None and chosen.kind == "drop-after" and method == "GET":
            chosen = Fault("drop-before")
        return FaultDecision(delay_seconds=delay, fault=chosen, byte_delay_seconds=byte_delay)
