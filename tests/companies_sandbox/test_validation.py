"""The pure request checks: query parsing, lax booleans, email shapes, the 422 item format."""

from __future__ import annotations

import pytest

from sync.apis.companies.sandbox.answers import Refused
from sync.apis.companies.sandbox.validation import contact_fields, email_problem, list_query

COMPANY = "7b3f1c2d-4e5a-4f7b-8c9d-0e1f2a3b4c5d"


def test_query_integers_are_lax_like_pydantic() -> None:
    """Spaces and a plus sign are accepted; the UUID comes back canonical (lowercase, hyphenated)."""
    parsed = list_query(
        {"company_id": COMPANY.upper().replace("-", ""), "skip": " +5 ", "limit": "7"}, max_limit=100
    )
    assert (parsed.company_id, parsed.skip, parsed.limit) == (COMPANY, 5, 7)


def test_error_items_have_type_loc_msg_input_and_ctx() -> None:
    """A limit above the maximum is one item with the bound in ctx, as FastAPI's Query(le=...) answers."""
    with pytest.raises(Refused) as caught:
        list_query({"company_id": COMPANY, "limit": "101"}, max_limit=100)
    assert caught.value.status == 422
    assert caught.value.errors == [
        {
            "type": "less_than_equal",
            "loc": ["query", "limit"],
            "msg": "Input should be less than or equal to 100",
            "input": "101",
            "ctx": {"le": 100},
        }
    ]


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (1, True), ("Yes", True), ("off", False), (0, False), ("f", False)]
)
def test_lax_booleans(value: object, expected: bool) -> None:
    """is_primary accepts the spellings pydantic's lax mode does."""
    assert contact_fields({"is_primary": value}, partial=True) == {"is_primary": expected}


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("plain", "must have an @-sign"),
        ("@acme.com", "something before the @-sign"),
        ("a@", "something after the @-sign"),
        ("a@acme", "should have a period"),
        ("a b@acme.com", "whitespace"),
        ("a@b@acme.com", "before the @-sign: '@'"),
    ],
)
def test_email_reasons(address: str, reason: str) -> None:
    """Each malformed address is refused with email-validator's kind of reason."""
    problem, clean = email_problem(["body", "email"], address)
    assert clean is None and problem is not None
    assert reason in problem["msg"] and problem["ctx"]["reason"] in problem["msg"]


def test_email_domain_is_lowercased_and_partial_keeps_only_sent_fields() -> None:
    """A valid address keeps its local part and lowercases its domain; PATCH returns only what was sent."""
    assert email_problem(["body", "email"], "Ravi.K@Deccan.IN") == (None, "Ravi.K@deccan.in")
    assert contact_fields({"email": "x@Y.com", "unknown": 1}, partial=True) == {"email": "x@y.com"}
    full = contact_fields({"first_name": "A", "email": "a@b.co"}, partial=False)
    assert full == {
        "company_id": None,
        "first_name": "A",
        "last_name": None,
        "email": "a@b.co",
        "phone": None,
        "designation": None,
        "is_primary": False,
    }
