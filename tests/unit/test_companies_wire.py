"""The company-contacts wire rules, walk decisions and settings check: pure, no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from config.settings import Settings
from sync.apis.companies.adapter import COMPANIES, check_settings
from sync.apis.companies.walk import BadPosition, PageSize, Position, next_step, position_of
from sync.apis.companies.wire import CompaniesWireRules, create_lookup_key, error_for, retry_after_seconds
from sync.errors import AuthError, ConfigError, PageTooLarge, RateLimited, RequestRejected, ServerUnavailable
from sync.plan import PreparedWrite, Refusal

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
ID = "00000000-0000-4000-8000-000000000007"
RULES = CompaniesWireRules([B, A.upper()])


def test_a_create_carries_the_company_and_the_fields_set() -> None:
    made = RULES.prepare_create(
        {"company_id": A, "first_name": "Ada", "email": "ada@x.org", "last_name": None, "is_primary": True}
    )
    assert isinstance(made, PreparedWrite) and (made.method, made.path) == ("POST", "/contacts")
    assert json.loads(made.body) == {
        "company_id": A,
        "first_name": "Ada",
        "email": "ada@x.org",
        "is_primary": True,
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"first_name": "Ada", "email": "a@x.org"}, "company_id is required"),
        ({"company_id": "acme", "first_name": "Ada", "email": "a@x.org"}, "company_id must be a UUID"),
        (
            {"company_id": ID, "first_name": "Ada", "email": "a@x.org"},
            "not one of the companies this store syncs",
        ),
        ({"company_id": A, "email": "a@x.org"}, "first_name is required"),
        ({"company_id": A, "first_name": "Ada"}, "email is required"),
        ({"company_id": A, "first_name": "Ada", "email": ""}, "email '' is not an email address"),
        ({"company_id": A, "first_name": "Ada", "email": "a@x"}, "is not an email address"),
        ({"company_id": A, "first_name": 5, "email": "a@x.org"}, "first_name must be text"),
        (
            {"company_id": A, "first_name": "Ada", "email": "a@x.org", "is_primary": 1},
            "is_primary must be true",
        ),
        ({"company_id": A, "first_name": "A\ud800", "email": "a@x.org"}, "first_name holds text"),
    ],
)
def test_a_create_the_api_would_refuse_is_refused_naming_the_field(
    fields: dict[str, object], reason: str
) -> None:
    refused = RULES.prepare_create(fields)
    assert isinstance(refused, Refusal)
    assert reason in refused.reason


def test_an_update_sends_only_the_changes_it_can_and_refuses_the_rest() -> None:
    prepared, refusal = RULES.prepare_update(ID, {"designation": "CTO", "phone": None, "email": None})
    assert prepared == PreparedWrite("PATCH", f"/contacts/{ID}", b'{"designation":"CTO","phone":null}')
    assert refusal is not None and refusal.fields == {"email": None}
    assert "email cannot be empty" in refusal.reason
    none, refused = RULES.prepare_update("17", {"phone": "1"})
    assert none is None and refused is not None and "not a UUID" in refused.reason


def test_a_delete_is_a_bodiless_delete_of_the_contact() -> None:
    assert RULES.prepare_delete(ID.upper()) == PreparedWrite("DELETE", f"/contacts/{ID}", b"")
    assert isinstance(RULES.prepare_delete(17), Refusal)


def test_positions_round_trip_and_a_foreign_or_garbled_one_is_refused() -> None:
    assert position_of(f"{A}:250", [A, B]) == Position(A, 250)
    assert Position(A, 250).cursor == f"{A}:250"
    for bad in (f"{ID}:0", f"{A}:-1", f"{A}:x", "nonsense"):
        with pytest.raises(BadPosition):
            position_of(bad, [A, B])


def test_the_walk_decides_from_the_page_length() -> None:
    """Full page: same company; short page: next company; 100 of 1000: probe; probe with rows:
    the cap is learned; the last company's short page ends the walk."""
    size = PageSize(asked=1000)
    assert next_step(Position(A, 0), 1000, size, [A, B]).next == Position(A, 1000)
    assert next_step(Position(A, 0), 30, size, [A, B]).next == Position(B, 0)
    probe = next_step(Position(A, 0), 100, size, [A, B])
    assert probe.next == Position(A, 100) and probe.probing == 100
    learned = next_step(Position(A, 100), 40, size, [A, B], probing=100)
    assert learned.size == PageSize(asked=100, known_cap=100) and learned.next == Position(B, 0)
    empty = next_step(Position(A, 100), 0, size, [A, B], probing=100)
    assert empty.size == size and empty.next == Position(B, 0)
    assert next_step(Position(B, 0), 0, size, [A, B]).next is None


def test_errors_become_the_product_errors_with_fastapis_detail_quoted() -> None:
    def err(status: int, body: object, retry_after: str | None = None) -> Exception:
        raw = json.dumps(body).encode()
        return error_for(
            status, raw, what="GET /x", content_type="application/json", retry_after_header=retry_after
        )

    limited = err(429, {"detail": "Rate limit exceeded"}, "12")
    assert isinstance(limited, RateLimited) and limited.retry_after == 12.0
    assert isinstance(err(503, {"detail": "down"}), ServerUnavailable)
    assert isinstance(err(401, {"detail": "Not authenticated"}), AuthError)
    rejected = err(404, {"detail": "Contact not found"})
    assert isinstance(rejected, RequestRejected) and str(rejected) == "GET /x answered 404: Contact not found"
    too_large = err(422, {"detail": [{"loc": ["query", "limit"], "msg": "<= 100", "ctx": {"le": 100}}]})
    assert isinstance(too_large, PageTooLarge) and too_large.limit_max == 100
    proxy = error_for(502, b"<html>", what="GET /x", content_type="text/html", retry_after_header=None)
    assert "not JSON" in str(proxy)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_check_settings_names_every_missing_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        check_settings(Settings(api="companies"))
    message = str(caught.value)
    for name in ("CONTACTS_SYNC_API_TOKEN", "CONTACTS_SYNC_COMPANY_IDS", "CONTACTS_SYNC_API_URL"):
        assert name in message
    check_settings(
        Settings(api="companies", api_token="t", company_ids=(A,), api_url="https://companies.example")
    )


def test_the_adapter_paces_to_the_documented_limits_from_the_start() -> None:
    settings = Settings(api="companies", company_ids=(A, B))
    budget = COMPANIES.rate_budget(settings, None)  # type: ignore[arg-type]
    assert budget is not None
    assert budget.limit_of(budget.scopes_of("POST /contacts")[0]) == 60
    assert {
        budget.limit_of(s) for e in ("GET /contacts", "PATCH /contacts/{id}") for s in budget.scopes_of(e)
    } == {120}
    assert COMPANIES.wire_rules(settings).prepare_create(
        {"company_id": B, "first_name": "x", "email": "x@y.io"}
    )


def test_creates_share_a_lookup_key_by_company_and_email_case_aside() -> None:
    def key(**body: object) -> object:
        return create_lookup_key(json.dumps(body).encode())

    assert key(company_id=A, email="Ada@X.org", first_name="Ada") == key(company_id=A, email="ada@x.org")
    assert key(company_id=A, email="ada@x.org") != key(company_id=B, email="ada@x.org")
    assert key(company_id=A, email="ada@x.org") != key(company_id=A, email="bob@x.org")
    assert create_lookup_key(b"not json") == b"not json"  # its own queue, never another's
