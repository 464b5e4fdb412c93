"""Lev answers parsed and checked: bad answers become InvalidResponse, error statuses our exceptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync.apis.lev.fields import CONTACT_FIELDS
from sync.apis.lev.wire import MAX_TEXT_LENGTH, error_for, parse_contact, parse_page
from sync.errors import (
    AuthError,
    FatalError,
    InvalidResponse,
    RateLimited,
    RequestRejected,
    ServerUnavailable,
)

WHAT = "GET /contacts (page 3)"


def contact(contact_id: Any = 1, **values: Any) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
    record.update(id=contact_id, contact_type="sponsor", first_name="Ada", phones=[], is_primary=False)
    record.update(values)
    return record


def envelope(data: Any, *, has_more: bool = False, next_cursor: Any = None, **extra: Any) -> bytes:
    body = {
        "request_id": "req_abc",
        "timestamp": "2026-03-01T00:00:00Z",
        "data": data,
        "pagination": {"total": 2, "limit": 200, "has_more": has_more, "next_cursor": next_cursor},
    }
    body.update(extra)
    return json.dumps(body).encode()


def without(key: str) -> bytes:
    body = json.loads(envelope([contact()]))
    del body[key]
    return json.dumps(body).encode()


# --- good answers --------------------------------------------------------------------


def test_parse_page_returns_contacts_cursor_and_request_id() -> None:
    """A valid page gives its contacts, next cursor, has_more and request_id."""
    page = parse_page(envelope([contact(1), contact(2)], has_more=True, next_cursor="c2"), what=WHAT)
    assert [c["id"] for c in page.contacts] == [1, 2]
    assert (page.next_cursor, page.has_more, page.request_id) == ("c2", True, "req_abc")


def test_last_page_has_no_cursor() -> None:
    """On the last page the cursor is None even if the API sends one."""
    page = parse_page(envelope([contact()], has_more=False, next_cursor="stale"), what=WHAT)
    assert page.next_cursor is None
    assert page.has_more is False


def test_unknown_contact_fields_are_kept() -> None:
    """Fields the API adds later are kept on the contact untouched."""
    item = contact(nickname="Addie", badges=[1, 2], score=3.5)
    page = parse_page(envelope([item]), what=WHAT)
    assert page.contacts[0]["nickname"] == "Addie"
    assert page.contacts[0]["badges"] == [1, 2]
    answered, request_id = parse_contact(
        json.dumps({"request_id": "r9", "data": item}).encode(), what="PATCH /contacts/1"
    )
    assert answered == item
    assert request_id == "r9"


def test_contact_with_only_an_id_is_accepted() -> None:
    """Every known field may be null or missing; only the integer id is required."""
    page = parse_page(envelope([{"id": 5}]), what=WHAT)
    assert page.contacts == [{"id": 5}]


def test_a_text_field_at_the_length_limit_is_accepted() -> None:
    """A string of exactly MAX_TEXT_LENGTH characters is still a valid value."""
    page = parse_page(envelope([contact(address="x" * MAX_TEXT_LENGTH)]), what=WHAT)
    assert len(page.contacts[0]["address"]) == MAX_TEXT_LENGTH


# Values where a fast parser may read otherwise than the json module: each page must read the same.
AS_JSON_READS: list[tuple[str, bytes]] = [
    ("integer beyond 64 bits", b"123456789012345678901234"),
    ("negative integer beyond 64 bits", b"-9223372036854775809"),
    ("largest 64-bit integer", b"18446744073709551615"),
    ("NaN", b"NaN"),
    ("infinity", b"1E400"),
    ("lone surrogate", b'"\\ud800"'),
    ("surrogate pair", b'"\\ud83d\\ude00"'),
    ("NUL escaped", b'"a\\u0000b"'),
    ("float digits", b"0.30000000000000000000000001"),
    ("negative zero", b"-0.0"),
]


@pytest.mark.parametrize(("case", "value"), AS_JSON_READS, ids=[c for c, _ in AS_JSON_READS])
def test_page_values_read_as_the_json_module_reads_them(case: str, value: bytes) -> None:
    """An unknown field's value is kept exactly as the json module reads it, whatever parses the page."""
    raw = envelope([contact(7)]).replace(b'"id": 7', b'"id": 7, "odd": ' + value)
    page = parse_page(raw, what=WHAT)
    expected = json.loads(raw.decode())["data"][0]["odd"]
    assert repr(page.contacts[0]["odd"]) == repr(expected)
    assert type(page.contacts[0]["odd"]) is type(expected)


# --- bad answers ---------------------------------------------------------------------

NO_REQUEST_ID: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("whitespace body", b"  \n"),
    ("html", b"<html><body>502 Bad Gateway</body></html>"),
    ("broken json", b'{"data": [1, 2'),
    ("nested too deep", b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("byte order mark", b'\xef\xbb\xbf{"data": []}'),
    ("not utf-8", b'{"data": "\xff\xfe"}'),
    ("json array", b"[1, 2, 3]"),
    ("json string", b'"ok"'),
]

WITH_REQUEST_ID: list[tuple[str, bytes]] = [
    ("missing data", without("data")),
    ("data not a list", envelope({"id": 1})),
    ("missing pagination", without("pagination")),
    ("pagination not an object", envelope([contact()], pagination=[])),
    ("has_more not a bool", envelope([contact()], pagination={"has_more": "yes"})),
    ("has_more without next_cursor", envelope([contact()], has_more=True, next_cursor=None)),
    ("has_more with empty next_cursor", envelope([contact()], has_more=True, next_cursor="")),
    ("contact not an object", envelope(["Ada"])),
    ("contact id null", envelope([contact(None)])),
    ("contact id missing", envelope([{"first_name": "Ada"}])),
    ("contact id string", envelope([contact("1")])),
    ("contact id bool", envelope([contact(True)])),
    ("contact id float", envelope([contact(1.0)])),
    ("text field a number", envelope([contact(first_name=5)])),
    ("phones an object", envelope([contact(phones={"raw": "+1"})])),
    ("is_primary a string", envelope([contact(is_primary="true")])),
    ("owner_account_id a bool", envelope([contact(owner_account_id=False)])),
    ("oversized string", envelope([contact(address="x" * (MAX_TEXT_LENGTH + 1))])),
    ("same id twice", envelope([contact(1), contact(2), contact(1)])),
]


@pytest.mark.parametrize(("case", "raw"), NO_REQUEST_ID, ids=[c for c, _ in NO_REQUEST_ID])
def test_unreadable_page_is_invalid_response_naming_the_request(case: str, raw: bytes) -> None:
    """A body that is not a JSON object is InvalidResponse naming the request."""
    with pytest.raises(InvalidResponse) as caught:
        parse_page(raw, what=WHAT)
    assert WHAT in str(caught.value)
    assert caught.value.request_id is None


@pytest.mark.parametrize(("case", "raw"), WITH_REQUEST_ID, ids=[c for c, _ in WITH_REQUEST_ID])
def test_malformed_page_is_invalid_response_with_request_id(case: str, raw: bytes) -> None:
    """A JSON object outside the envelope is InvalidResponse naming the request, with its request_id."""
    with pytest.raises(InvalidResponse) as caught:
        parse_page(raw, what=WHAT)
    assert WHAT in str(caught.value)
    assert caught.value.request_id == "req_abc"


def test_oversized_string_is_not_copied_whole_into_the_message() -> None:
    """The message quoting a bad value is kept short."""
    with pytest.raises(InvalidResponse) as caught:
        parse_page(envelope([contact(address="x" * (MAX_TEXT_LENGTH + 1))]), what=WHAT)
    assert "address" in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<html></html>",
        b"[]",
        b'{"request_id": "r1"}',
        b'{"request_id": "r1", "data": {"id": "7"}}',
        b'{"request_id": "r1", "data": [{"id": 7}]}',
    ],
)
def test_bad_single_contact_answer_is_invalid_response(raw: bytes) -> None:
    """A write's answer without a valid contact in `data` is InvalidResponse naming the request."""
    with pytest.raises(InvalidResponse, match="POST /contacts") as caught:
        parse_contact(raw, what="POST /contacts")
    if b"r1" in raw:
        assert caught.value.request_id == "r1"


def test_deeply_nested_json_is_invalid_response() -> None:
    """A pathologically nested answer is InvalidResponse, not a crash."""
    with pytest.raises(InvalidResponse):
        parse_page(b"[" * 100_000, what=WHAT)


# --- error_for -----------------------------------------------------------------------


def error_body(status: int, **extra: Any) -> bytes:
    kinds = {
        400: "bad_request",
        404: "not_found",
        409: "conflict",
        422: "validation_error",
        429: "rate_limit_exceeded",
    }
    error: dict[str, Any] = {
        "status": status,
        "type": kinds.get(status, "error"),
        "message": f"failed {status}",
        "details": {},
    }
    error.update(extra.pop("error", {}))
    return json.dumps({"request_id": f"req_{status}", "error": error, **extra}).encode()


def translate(
    status: int, raw: bytes, *, content_type: str = "application/json", header: str | None = None
) -> Any:
    return error_for(
        status, raw, what="PATCH /contacts/7", content_type=content_type, retry_after_header=header
    )


def test_429_carries_the_body_hint() -> None:
    """429 with error.retry_after_seconds is RateLimited with that hint and the request_id."""
    error = translate(429, error_body(429, error={"retry_after_seconds": 12}))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.0
    assert error.request_id == "req_429"
    assert "PATCH /contacts/7" in str(error)
    assert "req_429" in str(error)


@pytest.mark.parametrize(
    ("in_error", "top_level", "header", "expected"),
    [
        (None, 30, None, 30.0),
        (None, None, "17", 17.0),
        (5, 30, "17", 30.0),
        (40, 30, "17", 40.0),
        (5, None, "90", 90.0),
        (None, None, None, None),
        (None, None, "Wed, 21 Oct 2026 07:28:00 GMT", None),
        ("soon", -3, "later", None),
    ],
)
def test_429_hint_takes_the_largest_of_body_and_header(
    in_error: Any, top_level: Any, header: str | None, expected: float | None
) -> None:
    """Of error.retry_after_seconds, top-level retry_after_seconds and Retry-After, the largest wins."""
    extra: dict[str, Any] = {}
    if in_error is not None:
        extra["error"] = {"retry_after_seconds": in_error}
    if top_level is not None:
        extra["retry_after_seconds"] = top_level
    error = translate(429, error_body(429, **extra), header=header)
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected


@pytest.mark.parametrize(
    ("status", "raw", "content_type"),
    [
        (500, error_body(500), "application/json"),
        (502, b"<html><h1>502 Bad Gateway</h1></html>", "text/html"),
        (503, error_body(503, retry_after_seconds=8), "application/json"),
        (504, b"", "text/plain"),
        (500, b"{not json", "application/json"),
    ],
)
def test_server_errors_are_server_unavailable(status: int, raw: bytes, content_type: str) -> None:
    """5xx answers, JSON or a proxy's HTML page, are ServerUnavailable naming the request."""
    error = translate(status, raw, content_type=content_type)
    assert isinstance(error, ServerUnavailable)
    assert str(status) in str(error)
    assert "PATCH /contacts/7" in str(error)
    if status == 503:
        assert error.retry_after == 8.0


@pytest.mark.parametrize(("status", "advice"), [(401, "CONTACTS_SYNC_API_TOKEN"), (403, "permission")])
def test_auth_failures_are_auth_errors_with_advice(status: int, advice: str) -> None:
    """401 and 403 are AuthError telling the user what to check."""
    error = translate(status, error_body(status))
    assert isinstance(error, AuthError)
    assert advice in str(error)
    assert error.request_id == f"req_{status}"


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_request_rejected_with_status_and_request_id(status: int) -> None:
    """400/404/409/422 are RequestRejected with the status, the API's message and the request_id."""
    error = translate(status, error_body(status))
    assert isinstance(error, RequestRejected)
    assert error.status == status
    assert error.request_id == f"req_{status}"
    assert f"failed {status}" in str(error)


def test_other_statuses_are_fatal() -> None:
    """An undocumented status such as 402 stops the run."""
    error = translate(402, error_body(402))
    assert isinstance(error, FatalError)
    assert not isinstance(error, AuthError | InvalidResponse)


def test_long_error_message_is_truncated() -> None:
    """The API's error message is cut so one bad answer cannot flood the logs."""
    error = translate(422, error_body(422, error={"message": "m" * 5000}))
    assert len(str(error)) < 700
