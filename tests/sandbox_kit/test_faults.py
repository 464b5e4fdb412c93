"""The kit's fault plan: counting per scope, seeded draws and how fired rules combine."""

from __future__ import annotations

from typing import ClassVar

import pytest

from sync.apis.sandbox_kit.faults import Fault, FaultPlan, FaultRule, FaultSpecError


class _Plan(FaultPlan):
    """A toy grammar: ``KIND@N`` or ``KIND@N/GET`` or ``KIND@pF``; ``slow``/``trickle`` take ``=MS``."""

    scopes: ClassVar[dict[str, frozenset[str]]] = {
        "ALL": frozenset({"GET", "PUT"}),
        "GET": frozenset({"GET"}),
    }
    list_only_kinds = frozenset({"endless"})

    @classmethod
    def parse_rule(cls, item: str) -> FaultRule:
        kind_text, _, when = item.partition("@")
        when, _, scope = when.partition("/")
        kind, _, value = kind_text.partition("=")
        fault = Fault(kind, float(value) if value else None)
        if when.startswith("p"):
            return FaultRule(fault, probability=float(when[1:]), scope=scope or "ALL")
        return FaultRule(fault, numbers=frozenset({int(when)}), scope=scope or "ALL")


def test_parse_reads_the_seed_and_hands_other_items_to_the_grammar() -> None:
    """``seed=`` sets the RNG seed, blanks are skipped, the spec is kept as written (stripped)."""
    plan = _Plan.parse(" 500@2 , ,seed=9,drop-after@1/GET ")
    assert plan.seed == 9
    assert plan.spec == "500@2 , ,seed=9,drop-after@1/GET"
    assert [rule.fault.kind for rule in plan.rules] == ["500", "drop-after"]


def test_a_bad_seed_is_a_spec_error() -> None:
    """A seed that is not an integer is refused with the item named."""
    with pytest.raises(FaultSpecError, match="bad seed in 'seed=x'"):
        _Plan.parse("seed=x")


def test_request_numbers_count_per_scope_and_restart_on_reset() -> None:
    """A /GET rule counts only GETs; reset_counts starts the numbering again."""
    plan = _Plan.parse("500@2/GET")
    assert plan.decide("PUT").fault is None
    assert plan.decide("GET").fault is None
    assert plan.decide("get").fault == Fault("500")
    plan.reset_counts()
    assert plan.decide("GET").fault is None
    assert plan.decide("GET").fault == Fault("500")


def test_modifiers_add_up_and_the_first_other_rule_wins() -> None:
    """slow adds its delay, trickle its byte delay, and of two faults the first listed is chosen."""
    decision = _Plan.parse("slow=200@1,503@1,trickle=50@1,500@1,slow=300@1").decide("PUT")
    assert decision.fault == Fault("503")
    assert decision.delay_seconds == pytest.approx(0.5)
    assert decision.byte_delay_seconds == pytest.approx(0.05)
    assert decision.names == "slow=500,trickle=50,503"


def test_drop_after_on_a_get_is_drop_before() -> None:
    """A GET applies nothing, so losing its answer is the same as never answering."""
    plan = _Plan.parse("drop-after@1,drop-after@2")
    assert plan.decide("GET").fault == Fault("drop-before")
    assert plan.decide("PUT").fault == Fault("drop-after")


def test_list_only_kinds_fire_only_on_a_listing() -> None:
    """A list-only kind is skipped (not drawn for) on a request that is not the list."""
    plan = _Plan.parse("endless@1,endless@2")
    assert plan.decide("GET").fault is None
    assert plan.decide("GET", listing=True).fault == Fault("endless")


def test_probability_rules_repeat_for_the_same_seed() -> None:
    """Two plans with one SPEC fault the same requests; a reset replays the draws."""
    spec = "500@p0.5,seed=4"
    plan, twin = _Plan.parse(spec), _Plan.parse(spec)
    run = [plan.decide("GET").fault for _ in range(20)]
    assert [twin.decide("GET").fault for _ in range(20)] == run
    plan.reset_counts()
    assert [plan.decide("GET").fault for _ in range(20)] == run
    assert Fault("500") in run and None in run
