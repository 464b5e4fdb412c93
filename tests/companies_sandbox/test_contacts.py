"""GET/POST/PATCH/DELETE /contacts/{id}: shapes, defaults, validation and not-found answers."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sync.apis.companies.sandbox import CompaniesServer
from tests.companies_sandbox.helpers import api_client, error_types, new_contact, parse_ts

FIELDS = [
    "id",
    "company_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "designation",
    "is_primary",
    "created_at",
    "updated_at",
]


def test_get_is_public_and_answers_the_documented_shape(sandbox: CompaniesServer, company: str) -> None:
    """GET /contacts/{id} needs no token and answers the ten documented fields in order."""
    stored = sandbox.state.all_contacts(company)[0]
    with api_client(sandbox, auth=False) as anonymous:
        response = anonymous.get(f"/contacts/{stored['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == FIELDS
    assert body == stored
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")


def test_get_accepts_any_uuid_spelling_and_refuses_non_uuids(
    sandbox: CompaniesServer, client: httpx.Client
) -> None:
    """An id in upper case or without hyphens finds the contact; a non-UUID is 422, an unknown one 404."""
    contact_id = sandbox.state.all_contacts()[0]["id"]
    assert client.get(f"/contacts/{contact_id.upper()}").json()["id"] == contact_id
    assert client.get(f"/contacts/{contact_id.replace('-', '')}").status_code == 200
    assert error_types(client.get("/contacts/not-a-uuid")) == [("uuid_parsing", ("path", "contact_id"))]
    missing = client.get(f"/contacts/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Contact not found"})


def test_create_is_public_answers_201_and_fills_defaults(sandbox: CompaniesServer, company: str) -> None:
    """POST /contacts without a token stores a contact with null optionals and is_primary false."""
    with api_client(sandbox, auth=False) as anonymous:
        response = anonymous.post(
            "/contacts", json={"company_id": company, "first_name": "Ishaan", "email": "ishaan@acme.com"}
        )
    assert response.status_code == 201
    created = response.json()
    assert list(created) == FIELDS
    assert uuid.UUID(created["id"]).version == 4
    assert (created["last_name"], created["phone"], created["designation"]) == (None, None, None)
    assert created["is_primary"] is False
    assert created["created_at"] == created["updated_at"]
    assert sandbox.state.contact(created["id"]) == created


def test_create_allows_duplicate_emails_and_lowercases_the_domain(client: httpx.Client, company: str) -> None:
    """Two contacts may share an email; the domain is lowercased as EmailStr does, the local part kept."""
    first = new_contact(client, company, email="Rahul.Mehta@ACME.com")
    second = new_contact(client, company, email="Rahul.Mehta@acme.com")
    assert first["email"] == second["email"] == "Rahul.Mehta@acme.com"
    assert first["id"] != second["id"]


def test_create_without_a_company_is_stored_but_listed_nowhere(
    sandbox: CompaniesServer, client: httpx.Client
) -> None:
    """company_id is optional: the contact exists and answers GET, but no company lists it."""
    created = new_contact(client, None)
    assert created["company_id"] is None
    assert client.get(f"/contacts/{created['id']}").status_code == 200
    listed = {row["id"] for company in sandbox.state.companies for row in sandbox.state.all_contacts(company)}
    assert created["id"] not in listed


def test_create_in_an_unknown_company_is_400(sandbox: CompaniesServer, client: httpx.Client) -> None:
    """A company_id that names no company is 400 Company not found, and nothing is stored."""
    before = len(sandbox.state.all_contacts())
    response = client.post(
        "/contacts", json={"company_id": str(uuid.uuid4()), "first_name": "A", "email": "a@b.com"}
    )
    assert (response.status_code, response.json()) == (400, {"detail": "Company not found"})
    assert len(sandbox.state.all_contacts()) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"email": "a@b.com"}, [("missing", ("body", "first_name"))]),
        ({"first_name": "A"}, [("missing", ("body", "email"))]),
        ({}, [("missing", ("body", "first_name")), ("missing", ("body", "email"))]),
        ({"first_name": "A", "email": "no-at-sign"}, [("value_error", ("body", "email"))]),
        ({"first_name": "A", "email": "a@nodot"}, [("value_error", ("body", "email"))]),
        ({"first_name": "A", "email": None}, [("string_type", ("body", "email"))]),
        ({"first_name": 7, "email": "a@b.com"}, [("string_type", ("body", "first_name"))]),
        (
            {"first_name": "A", "email": "a@b.com", "company_id": "acme"},
            [("uuid_parsing", ("body", "company_id"))],
        ),
        (
            {"first_name": "A", "email": "a@b.com", "is_primary": "maybe"},
            [("bool_parsing", ("body", "is_primary"))],
        ),
        (
            {"first_name": "A", "email": "a@b.com", "is_primary": None},
            [("bool_type", ("body", "is_primary"))],
        ),
    ],
)
def test_create_validation_errors_are_fastapi_422_lists(
    sandbox: CompaniesServer,
    client: httpx.Client,
    body: dict[str, object],
    expected: list[tuple[str, tuple[str]]],
) -> None:
    """Missing or invalid fields answer 422 with one {type, loc, msg, input} item each; nothing is stored."""
    before = len(sandbox.state.all_contacts())
    response = client.post("/contacts", json=body)
    assert error_types(response) == expected
    assert all(isinstance(item["msg"], str) and "input" in item for item in response.json()["detail"])
    assert len(sandbox.state.all_contacts()) == before


def test_create_body_that_is_not_a_json_object_is_422(client: httpx.Client) -> None:
    """Broken JSON, an array, an empty body and a non-JSON content type are each FastAPI's 422."""
    assert error_types(client.post("/contacts", content=b'{"first_name":')) == [
        ("json_invalid", ("body", 14))
    ]
    assert error_types(client.post("/contacts", json=[1])) == [("model_attributes_type", ("body",))]
    assert error_types(client.post("/contacts")) == [("missing", ("body",))]
    plain = client.post("/contacts", content=b"first_name=A", headers={"Content-Type": "text/plain"})
    assert error_types(plain) == [("model_attributes_type", ("body",))]


def test_lax_booleans_and_ignored_unknown_fields(client: httpx.Client, company: str) -> None:
    """is_primary takes pydantic's lax spellings; unknown members (even id) are ignored."""
    created = new_contact(client, company, is_primary="yes", id="mine", nickname="R")
    assert created["is_primary"] is True
    assert created["id"] != "mine" and "nickname" not in created
    assert client.patch(f"/contacts/{created['id']}", json={"is_primary": 0}).json()["is_primary"] is False


def test_lone_surrogate_is_refused_not_stored(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """A string with a lone surrogate escape is 422 string_unicode, so it can never poison a list answer."""
    body = b'{"company_id":"%s","first_name":"A\\ud800","email":"a@b.com"}' % company.encode()
    response = client.post("/contacts", content=body, headers={"Content-Type": "application/json"})
    assert error_types(response) == [("string_unicode", ("body", "first_name"))]
    assert client.get("/contacts", params={"company_id": company}).status_code == 200


def test_patch_is_public_partial_and_moves_updated_at(sandbox: CompaniesServer, company: str) -> None:
    """PATCH without a token changes only the fields sent; updated_at moves, created_at stays."""
    before = sandbox.state.all_contacts(company)[1]
    with api_client(sandbox, auth=False) as anonymous:
        response = anonymous.patch(f"/contacts/{before['id']}", json={"designation": "Head of Sales"})
    assert response.status_code == 200
    after = response.json()
    assert after["designation"] == "Head of Sales"
    assert {k: v for k, v in after.items() if k not in {"designation", "updated_at"}} == {
        k: v for k, v in before.items() if k not in {"designation", "updated_at"}
    }
    assert parse_ts(after["updated_at"]) > parse_ts(before["updated_at"])


def test_patch_bumps_updated_at_on_every_change_but_not_on_a_no_op(
    client: httpx.Client, company: str
) -> None:
    """Two quick changes give two later updated_at values; sending the current values changes nothing."""
    created = new_contact(client, company)
    first = client.patch(f"/contacts/{created['id']}", json={"phone": "+91-9000000001"}).json()
    second = client.patch(f"/contacts/{created['id']}", json={"phone": "+91-9000000002"}).json()
    assert parse_ts(created["updated_at"]) < parse_ts(first["updated_at"]) < parse_ts(second["updated_at"])
    same = client.patch(f"/contacts/{created['id']}", json={"phone": "+91-9000000002"}).json()
    assert same["updated_at"] == second["updated_at"]


def test_patch_nulls_nullable_fields_and_refuses_null_for_required_ones(
    client: httpx.Client, company: str
) -> None:
    """last_name/phone/designation/company_id may be set to null; first_name, email, is_primary may not."""
    created = new_contact(client, company, last_name="Rao", phone="+91-9123456789", designation="CFO")
    cleared = client.patch(
        f"/contacts/{created['id']}", json={"last_name": None, "phone": None, "designation": None}
    )
    assert cleared.status_code == 200
    assert (cleared.json()["last_name"], cleared.json()["phone"], cleared.json()["designation"]) == (
        None,
    ) * 3
    refused = client.patch(
        f"/contacts/{created['id']}", json={"first_name": None, "email": None, "is_primary": None}
    )
    assert error_types(refused) == [
        ("string_type", ("body", "first_name")),
        ("string_type", ("body", "email")),
        ("bool_type", ("body", "is_primary")),
    ]


def test_patch_company_moves_the_contact_between_lists(
    sandbox: CompaniesServer, client: httpx.Client
) -> None:
    """A new company_id moves the contact to that company's list; an unknown one is 400, no change."""
    mine, other = sandbox.state.accounts[0].company_ids
    contact = sandbox.state.all_contacts(mine)[0]
    moved = client.patch(f"/contacts/{contact['id']}", json={"company_id": other})
    assert moved.status_code == 200
    assert contact["id"] in [
        row["id"] for row in client.get("/contacts", params={"company_id": other}).json()
    ]
    assert contact["id"] not in [
        row["id"] for row in client.get("/contacts", params={"company_id": mine}).json()
    ]
    refused = client.patch(
        f"/contacts/{contact['id']}", json={"company_id": str(uuid.uuid4()), "first_name": "X"}
    )
    assert (refused.status_code, refused.json()) == (400, {"detail": "Company not found"})
    assert sandbox.state.contact(contact["id"]) == moved.json()


def test_patch_unknown_contact_is_404_and_bad_id_and_body_are_one_422(client: httpx.Client) -> None:
    """PATCH of a missing contact is 404; a bad id and a bad body are reported together."""
    missing = client.patch(f"/contacts/{uuid.uuid4()}", json={"designation": "x"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Contact not found"})
    both = client.patch("/contacts/42", json={"email": "nope"})
    assert error_types(both) == [("uuid_parsing", ("path", "contact_id")), ("value_error", ("body", "email"))]


def test_delete_answers_204_then_404(sandbox: CompaniesServer, client: httpx.Client, company: str) -> None:
    """DELETE answers 204 with no body; the contact is gone from GET and the list; again is 404."""
    contact_id = sandbox.state.all_contacts(company)[0]["id"]
    response = client.delete(f"/contacts/{contact_id}")
    assert (response.status_code, response.content) == (204, b"")
    assert "content-type" not in response.headers
    assert client.get(f"/contacts/{contact_id}").status_code == 404
    assert contact_id not in [
        row["id"] for row in client.get("/contacts", params={"company_id": company}).json()
    ]
    again = client.delete(f"/contacts/{contact_id}")
    assert (again.status_code, again.json()) == (404, {"detail": "Contact not found"})


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    """Unknown paths are 404 Not Found, other methods on a route 405; both JSON, as Starlette answers."""
    assert (client.get("/companies").status_code, client.get("/companies").json()) == (
        404,
        {"detail": "Not Found"},
    )
    put = client.put("/contacts", json={})
    assert (put.status_code, put.json()) == (405, {"detail": "Method Not Allowed"})
    odd = client.request("FROB", "/contacts")
    assert odd.status_code == 501 and odd.headers["content-type"] == "application/json"
