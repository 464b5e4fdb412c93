"""Diffing local rows against their base and planning the writes (with Lev's wire rules)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync.apis.lev.fields import CONTACT_FIELDS, PATCHABLE_FIELDS
from sync.apis.lev.wire import LevWireRules
from sync.plan import Refusal, RowState, canonical_json, changed_fields, plan_row

RULES = LevWireRules()


def synced(**values: Any) -> dict[str, Any]:
    """A contact as last agreed with the API."""
    record: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
    record.update(id=7, contact_type="sponsor", first_name="Ada", email="ada@example.com", phones=[])
    record.update(is_primary=False)
    record.update(values)
    return record


def new_row(**values: Any) -> dict[str, Any]:
    """A row another program inserted, not yet on the API."""
    return {"local_id": 1, "id": None, "contact_type": "sponsor", "company_id": 11, **values}


def existing(local: dict[str, Any], base: dict[str, Any], **kwargs: Any) -> RowState:
    return RowState(local_id=1, remote_id=7, local=local, base=base, **kwargs)


# --- changed_fields ------------------------------------------------------------------


def test_changed_fields_lists_writable_fields_that_differ_from_base() -> None:
    """Only writable fields whose local value differs from the base are changes."""
    base = synced()
    local = {**base, "title": "CTO", "updated_at": "later", "nickname": "x"}
    assert changed_fields(local, base, writable=PATCHABLE_FIELDS) == {"title": "CTO"}


def test_value_changed_and_changed_back_sends_nothing() -> None:
    """A field edited and then restored to its base value is not a change."""
    base = synced(title="CTO")
    local = {**base, "title": "CEO"}
    local["title"] = "CTO"
    assert changed_fields(local, base, writable=PATCHABLE_FIELDS) == {}


def test_held_fields_are_skipped() -> None:
    """A field held by an open conflict is not diffed."""
    base = synced()
    local = {**base, "title": "CTO", "city": "Oslo"}
    assert changed_fields(local, base, writable=PATCHABLE_FIELDS, held={"title"}) == {"city": "Oslo"}


# --- plan_row: new rows --------------------------------------------------------------


def test_new_row_is_posted_with_only_its_non_null_fields() -> None:
    """A row without remote id is a POST of contact_type, company_id and its non-null writable fields."""
    local = new_row(first_name="Zoë", last_name=None, email="zoe@example.com", is_primary=None, title="")
    planned = plan_row(RowState(local_id=1, remote_id=None, local=local, base=None), RULES)
    assert planned.rejection is None
    assert planned.write is not None
    request = planned.write.request
    assert (request.method, request.path) == ("POST", "/contacts")
    assert json.loads(request.body) == {
        "company_id": 11,
        "contact_type": "sponsor",
        "email": "zoe@example.com",
        "first_name": "Zoë",
        "title": "",
    }
    assert request.body == canonical_json(json.loads(request.body))
    assert planned.write.remote_id is None
    # The write carries every writable local value, to settle its answer against.
    assert set(planned.write.fields) == set(PATCHABLE_FIELDS)
    assert planned.write.fields["first_name"] == "Zoë"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"contact_type": "investor"}, "contact_type"),
        ({"contact_type": None}, "contact_type"),
        ({"company_id": None}, "company_id"),
        ({"company_id": -4}, "company_id"),
        ({"company_id": 0}, "company_id"),
        ({"company_id": True}, "company_id"),
        ({"company_id": "11"}, "company_id"),
        ({"email": "not-an-address"}, "email"),
        ({"phones": [{"raw": "call me maybe"}]}, "phones[0]"),
        ({"phones": [{"number": "+12125550100"}]}, "phones[0]"),
        ({"phones": [{"raw": "+12125550100", "type": "pager"}]}, "phones[0].type"),
        ({"phones": "+12125550100"}, "phones"),
        ({"first_name": 42}, "first_name"),
        ({"is_primary": "yes"}, "is_primary"),
    ],
)
def test_bad_new_row_is_refused_locally_naming_the_field(values: dict[str, Any], named: str) -> None:
    """A new row the API would refuse is not sent; the refusal names the offending field."""
    local = new_row(**{"first_name": "Ada", **values})
    planned = plan_row(RowState(local_id=1, remote_id=None, local=local, base=None), RULES)
    assert planned.write is None
    assert planned.rejection is not None
    assert named in planned.rejection.reason
    assert planned.rejection.local_id == 1
    assert json.loads(planned.rejection.body) == {k: local[k] for k in local}


def test_refusal_of_a_new_row_lists_every_problem() -> None:
    """All problems of a new row are reported together."""
    created = RULES.prepare_create({"contact_type": "x", "company_id": None, "email": "bad"})
    assert isinstance(created, Refusal)
    for name in ("contact_type", "company_id", "email"):
        assert name in created.reason


# --- plan_row: existing rows ---------------------------------------------------------


def test_row_with_remote_id_but_no_base_waits_for_the_pull() -> None:
    """A row with a remote id and no base plans nothing: the next pull settles it."""
    planned = plan_row(RowState(local_id=1, remote_id=7, local=synced(title="x"), base=None), RULES)
    assert planned.write is None
    assert planned.rejection is None


def test_unchanged_row_plans_nothing() -> None:
    """A row equal to its base on every writable field plans nothing."""
    base = synced()
    planned = plan_row(existing({**base, "updated_at": "later"}, base), RULES)
    assert (planned.write, planned.rejection, planned.still_refused) == (None, None, frozenset())


def test_row_whose_changes_are_all_held_plans_nothing() -> None:
    """A row whose only changes are held by conflicts plans nothing."""
    base = synced()
    planned = plan_row(existing({**base, "title": "x"}, base, held_fields=frozenset({"title"})), RULES)
    assert planned.write is None


def test_changed_row_is_patched_with_only_the_changed_fields() -> None:
    """A changed row is a PATCH to its contact carrying exactly the changed fields."""
    base = synced(city="Oslo")
    local = {**base, "city": "Rome", "last_name": "Byron"}
    planned = plan_row(existing(local, base), RULES)
    assert planned.write is not None
    assert (planned.write.request.method, planned.write.request.path) == ("PATCH", "/contacts/7")
    assert planned.write.request.body == b'{"city":"Rome","last_name":"Byron"}'
    assert planned.write.fields == {"city": "Rome", "last_name": "Byron"}
    assert planned.write.remote_id == 7


def test_email_change_is_refused_while_other_changes_are_sent() -> None:
    """An email change is refused locally (the API answers 409); other changes still go in the PATCH."""
    base = synced()
    local = {**base, "email": "new@example.com", "title": "CTO"}
    planned = plan_row(existing(local, base), RULES)
    assert planned.write is not None
    assert json.loads(planned.write.request.body) == {"title": "CTO"}
    assert planned.write.fields == {"title": "CTO"}
    assert planned.rejection is not None
    assert "email" in planned.rejection.reason
    assert json.loads(planned.rejection.body) == {"email": "new@example.com"}


def test_only_an_email_change_is_a_refusal_and_no_write() -> None:
    """A row whose only change is its email plans a refusal and no write."""
    base = synced()
    planned = plan_row(existing({**base, "email": "new@example.com"}, base), RULES)
    assert planned.write is None
    assert planned.rejection is not None


def test_cleared_text_is_sent_as_empty_string_and_cleared_phones_as_empty_list() -> None:
    """The request schema has no null: cleared text goes as "", phones as [] and is_primary as false."""
    base = synced(title="CTO", phones=[{"id": "p1", "raw": "+12125550100"}], is_primary=True)
    local = {**base, "title": None, "phones": None, "is_primary": None}
    planned = plan_row(existing(local, base), RULES)
    assert planned.write is not None
    assert json.loads(planned.write.request.body) == {"is_primary": False, "phones": [], "title": ""}


def test_normalised_phones_are_sent_as_phone_input_only() -> None:
    """Phones read back from the API are sent with the input keys only (no id, no e164)."""
    base = synced()
    phones = [
        {"id": "p1", "raw": "+12125550100", "type": "office", "e164": "+12125550100", "extension": None}
    ]
    planned = plan_row(existing({**base, "phones": phones}, base), RULES)
    assert planned.write is not None
    assert json.loads(planned.write.request.body) == {"phones": [{"raw": "+12125550100", "type": "office"}]}


def test_refused_patch_body_is_not_planned_again() -> None:
    """A PATCH whose exact bytes were refused before is not sent again and is reported as still refused."""
    base = synced()
    local = {**base, "title": "CTO"}
    first = plan_row(existing(local, base), RULES)
    assert first.write is not None
    body = first.write.request.body
    again = plan_row(existing(local, base, refused_bodies=frozenset({body})), RULES)
    assert again.write is None
    assert again.still_refused == {body}


def test_local_refusal_is_not_made_again() -> None:
    """A local refusal already recorded is not recorded again and is reported as still refused."""
    local = new_row(contact_type="investor")
    first = plan_row(RowState(local_id=1, remote_id=None, local=local, base=None), RULES)
    assert first.rejection is not None
    again = plan_row(
        RowState(
            local_id=1,
            remote_id=None,
            local=local,
            base=None,
            refused_bodies=frozenset({first.rejection.body}),
        ),
        RULES,
    )
    assert again.rejection is None
    assert again.write is None
    assert again.still_refused == {first.rejection.body}


def test_refusal_made_moot_by_a_newer_edit_is_not_still_refused() -> None:
    """After a newer edit the old refusal is not still refused, and the new one is planned."""
    base = synced()
    old = plan_row(existing({**base, "email": "first@example.com"}, base), RULES)
    assert old.rejection is not None
    old_bodies = frozenset({old.rejection.body})
    newer = plan_row(
        existing({**base, "email": "second@example.com"}, base, refused_bodies=old_bodies), RULES
    )
    assert newer.still_refused == frozenset()
    assert newer.rejection is not None
    assert json.loads(newer.rejection.body) == {"email": "second@example.com"}
    reverted = plan_row(existing(dict(base), base, refused_bodies=old_bodies), RULES)
    assert reverted.still_refused == frozenset()


def test_refused_patch_made_moot_by_a_newer_edit_is_sent() -> None:
    """A row edited after its PATCH was refused sends the new PATCH."""
    base = synced()
    first = plan_row(existing({**base, "title": "CTO"}, base), RULES)
    assert first.write is not None
    refused = frozenset({first.write.request.body})
    newer = plan_row(existing({**base, "title": "CEO"}, base, refused_bodies=refused), RULES)
    assert newer.write is not None
    assert newer.write.request.body == b'{"title":"CEO"}'
    assert newer.still_refused == frozenset()


# --- canonical_json ------------------------------------------------------------------


def test_canonical_json_sorts_keys_and_keeps_utf8() -> None:
    """Bodies are compact, key-sorted and keep non-ASCII as UTF-8 bytes."""
    assert canonical_json({"b": 1, "a": "Zoë 東京"}) == '{"a":"Zoë 東京","b":1}'.encode()
    assert canonical_json({"b": {"d": [], "c": None}}) == b'{"b":{"c":null,"d":[]}}'


# --- poison local values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"city": "x" * 70_000}, "city has 70,000 characters"),
        ({"city": b"\xc3(".decode("utf-8", "surrogateescape")}, "city holds text that is not valid UTF-8"),
        ({"title": "\ud800"}, "title holds text that is not valid UTF-8"),
        ({"phones": [{"raw": "+12125550100", "extension": "\udcff"}]}, "phones holds text"),
    ],
)
def test_a_local_value_no_answer_could_bring_back_is_refused_before_sending(
    values: dict[str, Any], named: str
) -> None:
    """Text longer than an answer may hold, or not UTF-8, is refused by field, with a body we can store."""
    for row in (
        RowState(local_id=1, remote_id=None, local=new_row(first_name="Ada", **values), base=None),
        existing({**synced(), **values}, synced()),
    ):
        planned = plan_row(row, RULES)
        assert planned.write is None
        assert planned.rejection is not None and named in planned.rejection.reason
        stored = planned.rejection.body.decode()  # what the writes table keeps: valid text
        assert stored.encode() == planned.rejection.body
        assert json.loads(stored) == ({**row.local} if row.remote_id is None else values)


def test_a_refusal_of_undecodable_text_is_made_once() -> None:
    """The same undecodable value refused earlier is recognised as the same refusal, not made again."""
    local = {**synced(), "city": b"Z\xfcrich".decode("utf-8", "surrogateescape")}
    first = plan_row(existing(local, synced()), RULES)
    assert first.rejection is not None
    again = plan_row(existing(local, synced(), refused_bodies=frozenset({first.rejection.body})), RULES)
    assert again.rejection is None and again.still_refused == {first.rejection.body}


# --- columns the API owns ------------------------------------------------------------


def test_local_edits_of_api_owned_columns_are_put_back_to_the_base() -> None:
    """contact_type, owner_account_id, timestamps and is_connected edited locally come back from the base."""
    base = synced(owner_account_id=3, created_at="2025-01-01", updated_at="2025-02-01", is_connected=True)
    base["contact_types"] = ["sponsor"]
    local = {
        **base,
        "contact_type": "lender_contact",
        "contact_types": ["lender_contact"],
        "owner_account_id": 99,
        "created_at": "1999-01-01",
        "is_connected": False,
        "title": "CTO",
    }
    planned = plan_row(existing(local, base), RULES)
    assert planned.restore == {
        "contact_type": "sponsor",
        "contact_types": ["sponsor"],
        "owner_account_id": 3,
        "created_at": "2025-01-01",
        "is_connected": True,
    }
    assert planned.write is not None and json.loads(planned.write.request.body) == {"title": "CTO"}


def test_an_id_cleared_by_hand_is_put_back_not_posted() -> None:
    """A synced row whose id was cleared is given its id back and patched, never created a second time."""
    base = synced()
    local = {**base, "id": None, "first_name": "Grace"}
    planned = plan_row(RowState(local_id=1, remote_id=None, local=local, base=base), RULES)
    assert planned.restore == {"id": 7}
    assert planned.write is not None
    assert (planned.write.request.method, planned.write.request.path) == ("PATCH", "/contacts/7")


def test_an_id_changed_by_hand_is_put_back_and_patches_the_synced_contact() -> None:
    """A row whose id was changed to another number gets its id back; its edits go to its own contact."""
    base = synced()
    local = {**base, "id": 4242, "title": "CFO"}
    planned = plan_row(RowState(local_id=1, remote_id=4242, local=local, base=base), RULES)
    assert planned.restore == {"id": 7}
    assert planned.write is not None and planned.write.request.path == "/contacts/7"


def test_a_row_without_owned_edits_restores_nothing() -> None:
    """A row equal to its base in every API-owned column has nothing to put back."""
    base = synced(owner_account_id=3)
    assert plan_row(existing({**base, "title": "CTO"}, base), RULES).restore == {}
