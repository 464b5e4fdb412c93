"""Session-contacts wire rules and answers: creates only, canLogin only when asked, errors quoted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sync.apis.sessions.fields import CONTACT_FIELDS, WRITABLE
from sync.apis.sessions.wire import (
    SESSION_EXPIRED,
    SessionsWireRules,
    contact_from_wire,
    create_lookup_key,
    error_for,
    is_duplicate_email,
    parse_contact,
    quoted_error,
    retry_after_seconds,
    same_email,
    sent_email,
)
from sync.errors import (
    AuthError,
    FatalError,
    InvalidResponse,
    RateLimited,
    RequestRejected,
    ServerUnavailable,
)
from sync.plan import PreparedWrite, Refusal, RowState, plan_row

RULES = SessionsWireRules()


def row(**values: Any) -> dict[str, Any]:
    return {"full_name": "Pat Doe", "email": "pat@example.net", "type": "client", **values}


def wire_contact(contact_id: Any = 7, **values: Any) -> dict[str, Any]:
    return {
        "id": contact_id,
        "fullName": "Pat Doe",
        "mentionName": None,
        "email": "pat@example.net",
        "phone": None,
        "company": "Acme",
        "title": None,
        "department": None,
        "type": "client",
        "isActive": True,
        "metadata": {"tags": ["vip"]},
        "createdAt": "2026-01-02T03:04:05.678Z",
        "updatedAt": "2026-01-02T03:04:05.678Z",
        **values,
    }


def body_of(prepared: PreparedWrite | Refusal) -> dict[str, Any]:
    assert isinstance(prepared, PreparedWrite), prepared
    assert (prepared.method, prepared.path) == ("POST", "/contacts")
    body: dict[str, Any] = json.loads(prepared.body)
    return body


# --- creates ---------------------------------------------------------------------------


def test_a_create_sends_camel_case_names_and_leaves_empty_fields_out() -> None:
    """Every writable field set becomes its camelCase name; NULL fields are left to the API's defaults."""
    body = body_of(
        RULES.prepare_create(
            row(mention_name="pd", phone=None, company="Acme", is_active=False, metadata={"a": [1]})
        )
    )
    assert body == {
        "fullName": "Pat Doe",
        "email": "pat@example.net",
        "type": "client",
        "mentionName": "pd",
        "company": "Acme",
        "isActive": False,
        "metadata": {"a": [1]},
    }


def test_the_same_row_always_gives_the_same_bytes() -> None:
    """A create's body is canonical (sorted keys), so a resend after a crash carries the same bytes."""
    first = RULES.prepare_create(row(title="CTO", department="R&D"))
    again = RULES.prepare_create(dict(reversed(list(row(title="CTO", department="R&D").items()))))
    assert isinstance(first, PreparedWrite) and first == again


@pytest.mark.parametrize(
    ("can_login", "sent"),
    [(True, True), (False, None), (None, None), ("absent", None)],
)
def test_can_login_is_sent_only_when_the_row_says_true(can_login: Any, sent: Any) -> None:
    """canLogin: true goes out only for can_login = true; false, NULL or no column send nothing."""
    fields = row() if can_login == "absent" else row(can_login=can_login)
    assert body_of(RULES.prepare_create(fields)).get("canLogin") is sent


@pytest.mark.parametrize("can_login", [1, "true", "yes"])
def test_a_can_login_that_is_not_a_boolean_is_refused_not_guessed(can_login: Any) -> None:
    """A can_login that is neither true nor false is refused by name, never read as a yes."""
    refused = RULES.prepare_create(row(can_login=can_login))
    assert isinstance(refused, Refusal)
    assert refused.reason == f"can_login must be true, false or empty, not {can_login!r}"


@pytest.mark.parametrize("missing", ["full_name", "email", "type"])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_create_without_a_required_field_is_refused_naming_it(missing: str, blank: Any) -> None:
    """fullName, email and type are required: a row lacking one (NULL or blank) is refused by name."""
    refused = RULES.prepare_create(row(**{missing: blank}))
    assert isinstance(refused, Refusal)
    assert f"{missing} is required to create a contact" in refused.reason
    assert refused.fields[missing] == blank


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"email": "not-an-email"}, "email 'not-an-email' is not an email address"),
        ({"email": " pat@example.net"}, "is not an email address"),
        ({"is_active": 1}, "is_active must be true or false, not 1"),
        ({"metadata": [1, 2]}, "metadata must be a JSON object (or empty), not list [1, 2]"),
        ({"metadata": "text"}, "metadata must be a JSON object"),
        ({"phone": 5551234}, "phone must be text, not int 5551234"),
        ({"title": "bad \ud800 text"}, "title holds text that is not valid UTF-8"),
        ({"metadata": {"k": "\udcff"}}, "metadata holds text that is not valid UTF-8"),
    ],
)
def test_values_the_api_cannot_take_are_refused_before_sending(fields: dict[str, Any], reason: str) -> None:
    """Bad email, non-boolean is_active, non-object metadata, non-text, unencodable text: refused by name."""
    refused = RULES.prepare_create(row(**fields))
    assert isinstance(refused, Refusal)
    assert reason in refused.reason


def test_several_problems_are_reported_at_once() -> None:
    """A row with two problems gets one refusal naming both."""
    refused = RULES.prepare_create(row(email=None, is_active="no"))
    assert isinstance(refused, Refusal)
    assert "email is required" in refused.reason and "is_active must be true or false" in refused.reason


# --- what the API cannot do -------------------------------------------------------------


def test_an_edit_is_never_sent_and_the_refusal_says_what_stays_in_the_row() -> None:
    """prepare_update sends nothing and refuses the whole edit, naming its fields."""
    prepared, refusal = RULES.prepare_update(7, {"title": "CTO", "company": "Initech"})
    assert prepared is None
    assert refusal == Refusal(
        "this API cannot update contacts: the edit of company, title stays in the row and is not sent",
        {"title": "CTO", "company": "Initech"},
    )


def test_a_delete_is_refused_saying_the_api_cannot_delete() -> None:
    """prepare_delete is a refusal naming the contact, never a write and never silently nothing."""
    refusal = RULES.prepare_delete(7)
    assert isinstance(refusal, Refusal)
    assert refusal.reason.startswith("this API cannot delete contacts: contact 7 stays at the API")
    assert refusal.fields == {"id": 7}


def test_the_planner_turns_a_local_edit_into_a_rejection_and_no_write() -> None:
    """Through plan_row: an edited row gives a rejection, no write; the same edit is not refused twice."""
    base = {name: None for name in CONTACT_FIELDS} | row(id=7)
    local = base | {"title": "CTO"}
    plan = plan_row(RowState(local_id=1, remote_id=7, local=local, base=base), RULES)
    assert plan.write is None and plan.rejection is not None
    assert plan.rejection.reason.startswith("this API cannot update contacts: the edit of title")
    again = plan_row(
        RowState(
            local_id=1, remote_id=7, local=local, base=base, refused_bodies=frozenset({plan.rejection.body})
        ),
        RULES,
    )
    assert again.rejection is None and again.write is None and again.still_refused == {plan.rejection.body}


def test_writable_is_what_a_create_may_carry() -> None:
    """The rules' writable set is the POST body's fields (ids and stamps are the API's)."""
    assert RULES.writable == WRITABLE
    assert {"id", "created_at", "updated_at"}.isdisjoint(WRITABLE)


# --- answers ------------------------------------------------------------------------------


def test_a_contact_becomes_snake_case_with_its_flag_set() -> None:
    """camelCase fields become the local column names; unknown fields keep theirs; is_listed is true."""
    contact = contact_from_wire(wire_contact(avatarUrl="https://x.test/a.png"), what="GET /contacts")
    assert contact == {
        "id": 7,
        "full_name": "Pat Doe",
        "mention_name": None,
        "email": "pat@example.net",
        "phone": None,
        "company": "Acme",
        "title": None,
        "department": None,
        "type": "client",
        "is_active": True,
        "metadata": {"tags": ["vip"]},
        "created_at": "2026-01-02T03:04:05.678Z",
        "updated_at": "2026-01-02T03:04:05.678Z",
        "avatarUrl": "https://x.test/a.png",
        "is_listed": True,
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"id": "7"}, "element 12 of the list has no integer id (id='7')"),
        ({"id": True}, "element 12 of the list has no integer id (id=True)"),
        ({"id": None}, "element 12 of the list has no integer id (id=None)"),
        ({"email": None}, "contact 7 has email=None, not text"),
        ({"email": 5}, "contact 7 has email=5, not text"),
        ({"type": ["client"]}, "contact 7 has type=['client'], not text"),
        ({"isActive": "true"}, "contact 7 has isActive='true', not boolean"),
        ({"isActive": None}, "contact 7 has isActive=None, not boolean"),
        ({"metadata": [1]}, "contact 7 has metadata=[1], not an object or null"),
        ({"metadata": "x"}, "contact 7 has metadata='x', not an object or null"),
        ({"phone": 12}, "contact 7 has phone=12, not text or null"),
    ],
)
def test_a_contact_of_the_wrong_shape_is_refused_naming_the_field(
    values: dict[str, Any], message: str
) -> None:
    """id int, email and type text, isActive boolean, metadata object or null: any other is named."""
    with pytest.raises(InvalidResponse) as caught:
        contact_from_wire(wire_contact(**values), what="GET /contacts", number=12)
    assert str(caught.value) == f"GET /contacts: {message}"


def test_a_contact_missing_required_fields_names_them() -> None:
    """A contact without email and createdAt is refused naming both (by their wire names)."""
    item = wire_contact()
    del item["email"], item["createdAt"]
    with pytest.raises(InvalidResponse, match="contact 7 lacks createdAt, email"):
        contact_from_wire(item, what="GET /contacts")


def test_an_element_that_is_not_an_object_is_named_by_its_place() -> None:
    with pytest.raises(InvalidResponse, match="element 3 of the list is not a JSON object"):
        contact_from_wire([1, 2], what="GET /contacts", number=3)


def test_a_create_answer_is_parsed_and_a_garbled_one_refused() -> None:
    """POST's 200 body is one contact; an empty or cut body is an InvalidResponse (an unknown outcome)."""
    raw = json.dumps(wire_contact(9)).encode()
    assert parse_contact(raw, what="POST /contacts")["id"] == 9
    for bad in (b"", b"  ", raw[: len(raw) // 2]):
        with pytest.raises(InvalidResponse):
            parse_contact(bad, what="POST /contacts")


def test_the_sent_email_is_read_back_from_the_stored_body() -> None:
    """find_created looks up the email the create carried, compared as a unique index would."""
    prepared = RULES.prepare_create(row(email="Pat.Doe@Example.NET"))
    assert isinstance(prepared, PreparedWrite)
    assert sent_email(prepared) == "Pat.Doe@Example.NET"
    assert same_email("Pat.Doe@Example.NET", " pat.doe@example.net")
    assert not same_email("pat.doe@example.net", "pat.doe+2@example.net")
    with pytest.raises(FatalError, match="carries no email"):
        sent_email(PreparedWrite("POST", "/contacts", b"{}"))


# --- errors -------------------------------------------------------------------------------


def error(status: int, raw: bytes = b"", *, method: str = "GET", content_type: str = "application/json",
          retry_after: str | None = None) -> Exception:  # fmt: skip
    what = f"{method} /contacts"
    return error_for(status, raw, what=what, content_type=content_type, retry_after_header=retry_after)


def test_401_is_the_one_line_session_expired_message() -> None:
    """A 401 says the session expired and which setting takes the new cookie: one line, nothing else."""
    failure = error(401, b'{"message":"Unauthorized"}')
    assert isinstance(failure, AuthError)
    assert str(failure) == f"GET /contacts answered 401: {SESSION_EXPIRED}"
    assert "\n" not in str(failure)
    assert SESSION_EXPIRED == (
        "the session expired: sign in again and set CONTACTS_SYNC_SESSION_COOKIE to the new connect.sid value"
    )


def test_403_on_a_create_is_a_rejection_naming_the_roles() -> None:
    """POST answered 403 is one rejected write saying the role must be consultant or admin."""
    failure = error(403, b"Forbidden", method="POST", content_type="text/plain")
    assert isinstance(failure, RequestRejected) and failure.status == 403
    assert str(failure) == (
        "POST /contacts answered 403: Forbidden; the session's user may not create contacts: "
        "their role must be consultant or admin"
    )


@pytest.mark.parametrize(
    ("status", "retry_after", "kind", "hint"),
    [
        (429, "3", RateLimited, 3.0),
        (429, None, RateLimited, None),
        (503, "1", ServerUnavailable, 1.0),
        (500, None, ServerUnavailable, None),
        (502, "soon", ServerUnavailable, None),
    ],
)
def test_429_and_5xx_are_retried_honouring_retry_after(
    status: int, retry_after: str | None, kind: type[Exception], hint: float | None
) -> None:
    failure = error(status, retry_after=retry_after)
    assert type(failure) is kind
    assert getattr(failure, "retry_after") == hint  # noqa: B009


def test_retry_after_may_be_an_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Sun, 01 Mar 2026 12:00:07 GMT", now=now) == 7.0
    assert retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("999999") is None


@pytest.mark.parametrize(
    ("raw", "content_type", "quoted"),
    [
        (b'{"message":"fullName is required","errors":[{"field":"fullName"}]}', "application/json",
         "fullName is required"),
        (b'{"error":"boom","code":7}', "application/json; charset=utf-8", '{"error":"boom","code":7}'),
        (b"Email already exists", "text/plain; charset=utf-8", "Email already exists"),
        (b"<!DOCTYPE html><html><body><pre>Cannot POST /api/contact</pre></body></html>", "text/html",
         "Cannot POST /api/contact"),
        (b"<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>", "text/html",
         "502 Bad Gateway nginx"),
        (b"\xff\xfe odd", "text/plain", "\ufffd\ufffd odd"),
    ],
)  # fmt: skip
def test_an_error_body_is_quoted_as_json_text_or_page_whichever_it_is(
    raw: bytes, content_type: str, quoted: str
) -> None:
    assert quoted_error(raw, content_type) == quoted


def test_a_long_error_body_is_quoted_on_one_bounded_line() -> None:
    quoted = quoted_error(("line\n" * 500).encode(), "text/plain")
    assert "\n" not in quoted and len(quoted) == 300 and quoted.endswith("…")


def test_rejections_quote_the_body() -> None:
    failure = error(400, b'{"message":"type must be one of: client, external"}', method="POST")
    assert isinstance(failure, RequestRejected) and failure.status == 400
    assert str(failure) == "POST /contacts answered 400: type must be one of: client, external"


@pytest.mark.parametrize(
    ("status", "quoted", "duplicate"),
    [
        (409, "Email already exists", True),
        (409, "", True),
        (400, "Email already exists", True),
        (400, "duplicate key value violates unique constraint contacts_email_key", True),
        (500, "email is taken", True),
        (400, "email must be a valid email address", False),
        (400, "fullName is required", False),
        (500, "Internal Server Error", False),
        (503, "Email already exists", False),
    ],
)
def test_duplicate_email_refusals_are_recognised_in_each_variant(
    status: int, quoted: str, duplicate: bool
) -> None:
    """409, or a 400/500 whose text says the email exists, is a duplicate; other refusals are not."""
    assert is_duplicate_email(status, quoted) is duplicate


def test_a_redirect_is_not_followed_and_says_why() -> None:
    failure = error_for(
        302, b"", what="GET /contacts", content_type="", retry_after_header=None,
        location="https://user:pw@app.example/login?next=/contacts",
    )  # fmt: skip
    assert type(failure) is FatalError
    assert "a redirect to https://app.example/login" in str(failure)
    assert "pw" not in str(failure) and "sign in again" in str(failure)


def test_creates_share_a_lookup_key_by_email_as_the_unique_index_compares_it() -> None:
    def key(**body: object) -> object:
        return create_lookup_key(json.dumps(body).encode())

    assert key(email=" Ada@X.org ", name="Ada") == key(email="ada@x.org", name="Other")
    assert key(email="ada@x.org") != key(email="bob@x.org")
    assert create_lookup_key(b"[1]") == b"[1]"
