"""The three-way merge of one contact, and the promise that a sync after a sync plans nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.apis.lev.fields import CONTACT_FIELDS, PATCHABLE_FIELDS
from sync.apis.lev.wire import LevWireRules
from sync.merge import POLICIES, Merge, merge_contact, remote_wins
from sync.plan import RowState, Write, plan_row

WRITABLE = PATCHABLE_FIELDS
RULES = LevWireRules()


def contact(contact_id: int = 7, **values: Any) -> dict[str, Any]:
    """A full Contact object as the API shows it: every field present, nulls where unset."""
    record: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
    record.update(
        id=contact_id,
        contact_type="sponsor",
        contact_types=["sponsor"],
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phones=[],
        is_primary=False,
        owner_account_id=3,
        is_connected=True,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    record.update(values)
    return record


def merge(base: Any, local: Any, remote: Any, policy: str = "remote-wins") -> Merge:
    return merge_contact(base=base, local=local, remote=remote, writable=WRITABLE, policy=POLICIES[policy])


# --- one field at a time -----------------------------------------------------------


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_only_local_change_is_kept_and_left_for_the_push(policy: str) -> None:
    """A field changed only locally stays local and its base stays the old value, so it is pushed."""
    base = contact()
    result = merge(base, contact(title="CTO"), contact(), policy)
    assert result.local_changes == {}
    assert result.base["title"] is None
    assert result.conflicts == ()


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_only_remote_change_is_applied_locally(policy: str) -> None:
    """A field changed only on the API is written into the local row and becomes the base."""
    base = contact()
    result = merge(base, contact(), contact(city="Paris"), policy)
    assert result.local_changes == {"city": "Paris"}
    assert result.base["city"] == "Paris"
    assert result.conflicts == ()


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_both_sides_changed_to_the_same_value_converge_silently(policy: str) -> None:
    """The same edit on both sides is no conflict and needs no local change."""
    result = merge(contact(), contact(city="Oslo"), contact(city="Oslo"), policy)
    assert result.local_changes == {}
    assert result.base["city"] == "Oslo"
    assert result.conflicts == ()


@pytest.mark.parametrize(
    ("policy", "winner", "local_changes"),
    [
        ("remote-wins", "remote", {"title": "Remote title"}),
        ("local-wins", "local", {}),
        ("manual", "held", {}),
    ],
)
def test_both_sides_changed_differently_record_a_conflict(
    policy: str, winner: str, local_changes: dict[str, Any]
) -> None:
    """Different edits on both sides are a conflict with base, local and remote, settled by the policy."""
    result = merge(
        contact(title="Old title"), contact(title="Local title"), contact(title="Remote title"), policy
    )
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert (conflict.field, conflict.base, conflict.local, conflict.remote, conflict.winner) == (
        "title",
        "Old title",
        "Local title",
        "Remote title",
        winner,
    )
    assert result.local_changes == local_changes
    # Whoever wins, the base is what the API holds now; a kept local value differs from it.
    assert result.base["title"] == "Remote title"


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_different_fields_changed_on_each_side_both_survive(policy: str) -> None:
    """A local edit of one field and a remote edit of another are both kept, with no conflict."""
    result = merge(contact(), contact(title="CTO"), contact(city="Rome"), policy)
    assert result.local_changes == {"city": "Rome"}
    assert result.base["title"] is None  # the local title is still to be pushed
    assert result.base["city"] == "Rome"
    assert result.conflicts == ()


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize(
    ("name", "local_value", "remote_value"),
    [
        ("id", 7, 7),  # same id: nothing to change
        ("updated_at", "1999-01-01T00:00:00Z", "2026-02-02T00:00:00Z"),
        ("contact_type", "lender_contact", "sponsor"),
        ("is_connected", True, False),
        ("nickname", "Addie", "Countess"),
        ("nickname", None, "Countess"),
    ],
)
def test_non_writable_fields_always_follow_the_remote(
    policy: str, name: str, local_value: Any, remote_value: Any
) -> None:
    """Fields the API owns (ids, timestamps, fields it adds later) follow the remote, never conflict."""
    base = contact(**{name: "base-value"}) if name != "id" else contact()
    local = contact(**{name: local_value})
    result = merge(base, local, contact(**{name: remote_value}), policy)
    expected = {} if local_value == remote_value else {name: remote_value}
    assert result.local_changes == expected
    assert result.base[name] == remote_value
    assert result.conflicts == ()


def test_new_contact_is_inserted_whole_from_the_remote() -> None:
    """With no local row, the whole remote record is the local insert and the new base."""
    remote = contact(nickname="future field", phones=[{"id": "p1", "raw": "+12125550100"}])
    result = merge(None, None, remote)
    assert result.local_changes == remote
    assert result.base == remote
    assert result.conflicts == ()


@pytest.mark.parametrize(
    ("policy", "local_changes"), [("remote-wins", {"city": "Rome"}), ("local-wins", {}), ("manual", {})]
)
def test_no_base_with_differing_values_goes_through_the_policy(
    policy: str, local_changes: dict[str, Any]
) -> None:
    """Without a base a differing value is a conflict shown with base None, settled by the policy."""
    result = merge(None, contact(city="Oslo"), contact(city="Rome"), policy)
    assert [(c.field, c.base, c.local, c.remote) for c in result.conflicts] == [
        ("city", None, "Oslo", "Rome")
    ]
    assert result.local_changes == local_changes
    assert result.base["city"] == "Rome"


def test_no_base_with_equal_values_is_no_conflict() -> None:
    """Without a base, fields already equal on both sides need nothing."""
    result = merge(None, contact(), contact())
    assert result.local_changes == {}
    assert result.conflicts == ()
    assert result.base == contact()


# --- a sync right after a sync plans nothing -----------------------------------------


def server_apply(stored: dict[str, Any], body: bytes, *, contact_id: int = 7) -> dict[str, Any]:
    """What the Lev server answers to a write: "" stored as null, phones normalised."""
    sent = json.loads(body)
    sent.pop("company_id", None)
    answer = {**stored, "id": contact_id, "updated_at": "2026-05-05T00:00:00Z"}
    for name, value in sent.items():
        if value == "":
            value = None
        if name == "phones":
            value = [
                {
                    "id": f"ph{index}",
                    "type": phone.get("type", "mobile"),
                    "raw": phone["raw"],
                    "country": "US",
                    "e164": "+1" + "".join(ch for ch in phone["raw"] if ch.isdigit())[-10:],
                    "extension": None,
                }
                for index, phone in enumerate(value)
            ]
        answer[name] = value
    if "contact_type" in sent:
        answer["contact_types"] = [sent["contact_type"]]
    return answer


def settle(
    previous_base: dict[str, Any] | None,
    local: dict[str, Any],
    write: Write,
    answer: dict[str, Any],
    policy: str,
) -> tuple[dict[str, Any], dict[str, Any], Merge]:
    """Store a write's answer the way `sync.engine.Engine._settle` does."""
    assumed = {**(previous_base or {}), **write.fields}
    merged = merge(assumed, local, answer, policy)
    return {**local, **merged.local_changes}, merged.base, merged


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_after_a_patch_is_settled_the_next_plan_is_empty(policy: str) -> None:
    """After a PATCH's answer is merged back (phones normalised, "" back as null), nothing is planned."""
    base = contact(title="Engineer", city="London", department="R&D")
    local = {
        **base,
        "local_id": 1,
        "company_id": 11,
        "first_name": "Augusta",
        "title": None,  # cleared: sent as ""
        "city": "",  # emptied: sent as "", comes back null
        "phones": [{"raw": "(212) 555-0100", "type": "office"}],
        "is_primary": True,
    }
    planned = plan_row(RowState(local_id=1, remote_id=7, local=local, base=base), RULES)
    assert planned.write is not None
    assert json.loads(planned.write.request.body) == {
        "city": "",
        "first_name": "Augusta",
        "is_primary": True,
        "phones": [{"raw": "(212) 555-0100", "type": "office"}],
        "title": "",
    }
    answer = server_apply(base, planned.write.request.body)
    new_local, new_base, merged = settle(base, local, planned.write, answer, policy)
    assert merged.conflicts == ()
    assert new_local["phones"][0]["e164"] == "+12125550100"
    assert new_local["city"] is None
    again = plan_row(RowState(local_id=1, remote_id=7, local=new_local, base=new_base), RULES)
    assert again.write is None
    assert again.rejection is None


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_after_a_post_is_settled_the_next_plan_is_empty(policy: str) -> None:
    """A new row POSTed and settled from the 201 answer (server defaults filled in) plans nothing next."""
    local = {
        "local_id": 5,
        "id": None,
        "contact_type": "lender_contact",
        "company_id": 11,
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.com",
        "zip": "",
        "phones": [{"raw": "212-555-0199"}],
        "is_primary": None,
    }
    planned = plan_row(RowState(local_id=5, remote_id=None, local=local, base=None), RULES)
    assert planned.write is not None
    stored = {**dict.fromkeys(CONTACT_FIELDS), "is_primary": False, "phones": [], "is_connected": False}
    answer = server_apply(stored, planned.write.request.body, contact_id=99)
    new_local, new_base, merged = settle(None, local, planned.write, answer, policy)
    assert merged.conflicts == ()
    assert new_local["id"] == 99
    assert new_local["is_primary"] is False
    assert new_local["zip"] is None
    again = plan_row(RowState(local_id=5, remote_id=99, local=new_local, base=new_base), RULES)
    assert again.write is None
    assert again.rejection is None


def test_after_a_partly_refused_patch_the_refusal_is_not_repeated() -> None:
    """An email change refused locally beside a sent title: after settling, the row plans nothing new."""
    base = contact()
    local = {**base, "local_id": 1, "email": "new@example.com", "title": "CFO"}
    planned = plan_row(RowState(local_id=1, remote_id=7, local=local, base=base), RULES)
    assert planned.write is not None
    assert planned.rejection is not None
    answer = server_apply(base, planned.write.request.body)
    new_local, new_base, _ = settle(base, local, planned.write, answer, "remote-wins")
    again = plan_row(
        RowState(
            local_id=1,
            remote_id=7,
            local=new_local,
            base=new_base,
            refused_bodies=frozenset({planned.rejection.body}),
        ),
        RULES,
    )
    assert again.write is None
    assert again.rejection is None
    assert again.still_refused == {planned.rejection.body}


def test_remote_omitting_a_writable_field_does_not_make_the_next_plan_write() -> None:
    """A pull whose contact omits a field (older API shape) leaves the next plan empty."""
    base = contact(address2="Suite 5")
    local = {**base, "local_id": 1}
    remote = {k: v for k, v in base.items() if k != "address2"}
    result = merge(base, local, remote)
    new_local = {**local, **result.local_changes}
    planned = plan_row(RowState(local_id=1, remote_id=7, local=new_local, base=result.base), RULES)
    assert planned.write is None


# --- properties ----------------------------------------------------------------------

FIELDS = ("first_name", "title", "city")
VALUES = st.sampled_from([None, "", "a", "b"])
MISSING = object()

bases = st.one_of(st.none(), st.dictionaries(st.sampled_from(FIELDS), VALUES))
sides = st.fixed_dictionaries({name: VALUES for name in FIELDS})


def full(values: dict[str, Any]) -> dict[str, Any]:
    return {"id": 7, **values}


def before(base: dict[str, Any] | None, name: str) -> Any:
    return MISSING if base is None else base.get(name, MISSING)


@settings(max_examples=200, deadline=None, database=None)
@given(base=bases, local=sides, remote=sides)
def test_property_remote_wins_leaves_local_equal_to_remote_except_local_only_edits(
    base: dict[str, Any] | None, local: dict[str, Any], remote: dict[str, Any]
) -> None:
    """Under remote-wins the local row ends equal to the remote on every field but the local-only edits."""
    result = merge(base, full(local), full(remote), "remote-wins")
    new_local = {**full(local), **result.local_changes}
    for name in FIELDS:
        remote_unchanged = remote[name] == before(base, name)
        expected = local[name] if remote_unchanged else remote[name]
        assert new_local[name] == expected, name
        # A field left different from the remote is one still to push: its base is the remote value.
        assert result.base[name] == remote[name]


@settings(max_examples=200, deadline=None, database=None)
@given(base=bases, local=sides, remote=sides)
def test_property_local_wins_leaves_to_push_exactly_the_local_edits_that_differ(
    base: dict[str, Any] | None, local: dict[str, Any], remote: dict[str, Any]
) -> None:
    """Under local-wins the fields left to push are exactly the local edits that differ from the remote."""
    result = merge(base, full(local), full(remote), "local-wins")
    new_local = {**full(local), **result.local_changes}
    to_push = {name for name in FIELDS if new_local[name] != result.base[name]}
    local_edits_differing = {
        name for name in FIELDS if local[name] != before(base, name) and local[name] != remote[name]
    }
    assert to_push == local_edits_differing
    assert {name: result.base[name] for name in FIELDS} == remote


@settings(max_examples=200, deadline=None, database=None)
@given(base=bases, local=sides, remote=sides, policy=st.sampled_from(sorted(POLICIES)))
def test_property_merging_twice_changes_nothing_the_second_time(
    base: dict[str, Any] | None, local: dict[str, Any], remote: dict[str, Any], policy: str
) -> None:
    """A second merge of the merged state against the same remote changes nothing and records no conflict."""
    first = merge(base, full(local), full(remote), policy)
    new_local = {**full(local), **first.local_changes}
    second = merge(first.base, new_local, full(remote), policy)
    assert second.local_changes == {}
    assert second.conflicts == ()
    assert second.base == first.base


@settings(max_examples=200, deadline=None, database=None)
@given(base=bases, local=sides, remote=sides, policy=st.sampled_from(sorted(POLICIES)))
def test_property_conflicts_are_exactly_the_fields_both_sides_changed_differently(
    base: dict[str, Any] | None, local: dict[str, Any], remote: dict[str, Any], policy: str
) -> None:
    """A conflict is recorded for a field iff local and remote both left the base and disagree."""
    result = merge(base, full(local), full(remote), policy)
    expected = {
        name
        for name in FIELDS
        if local[name] != remote[name]
        and local[name] != before(base, name)
        and remote[name] != before(base, name)
    }
    assert {c.field for c in result.conflicts} == expected


@settings(max_examples=200, deadline=None, database=None)
@given(base=bases, local=sides, remote=sides, policy=st.sampled_from(sorted(POLICIES)))
def test_property_pull_push_settle_then_plan_nothing(
    base: dict[str, Any] | None, local: dict[str, Any], remote: dict[str, Any], policy: str
) -> None:
    """Pull, plan, push and settle, then plan again: nothing, and both sides agree except on held fields."""
    pulled = merge(base, full(local), full(remote), policy)
    row = {**full(local), **pulled.local_changes}
    held = frozenset(c.field for c in pulled.conflicts if c.winner == "held")
    state = RowState(local_id=1, remote_id=7, local=row, base=pulled.base, held_fields=held)
    planned = plan_row(state, RULES)
    assert planned.rejection is None
    server = full(remote)
    if planned.write is not None:
        server = server_apply(server, planned.write.request.body)
        row, new_base, settled = settle(pulled.base, row, planned.write, server, policy)
        assert settled.conflicts == ()
        state = RowState(local_id=1, remote_id=7, local=row, base=new_base, held_fields=held)
    again = plan_row(state, RULES)
    assert again.write is None
    assert again.rejection is None
    assert {n for n in FIELDS if row[n] != server[n]} <= held


def test_policies_are_named_functions() -> None:
    """Settings name the policies; each name maps to its function."""
    assert set(POLICIES) == {"remote-wins", "local-wins", "manual"}
    assert POLICIES["remote-wins"] is remote_wins
