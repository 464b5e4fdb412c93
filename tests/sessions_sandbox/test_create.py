"""POST /contacts: 200 with the contact, defaults, validation, unique email and its answer variants."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from sync.apis.sessions.sandbox import SessionsSandboxServer, running_sessions_sandbox
from tests.sessions_sandbox.helpers import contact_body, new_contact, session_client

CONTACT_KEYS = [
    "id", "fullName", "mentionName", "email", "phone", "company", "title", "department",
    "type", "isActive", "metadata", "createdAt", "updatedAt",
]  # fmt: skip


def test_create_answers_200_with_defaults(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """A minimal body creates a contact: 200, every field in order, nulls, isActive true, ISO stamps."""
    response = client.post("/contacts", json=contact_body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    created = response.json()
    assert list(created) == CONTACT_KEYS
    assert created["id"] > max(c["id"] for c in sandbox.state.all_contacts() if c["id"] != created["id"])
    assert (created["fullName"], created["email"], created["type"]) == (
        "Pat Doe",
        "pat.doe@example.net",
        "client",
    )
    assert created["isActive"] is True
    assert [created[k] for k in ("mentionName", "phone", "company", "title", "department", "metadata")] == [
        None
    ] * 6
    assert created["createdAt"] == created["updatedAt"]
    assert created["createdAt"].endswith("Z")
    datetime.fromisoformat(created["createdAt"].replace("Z", "+00:00"))
    assert created in client.get("/contacts").json()


def test_create_keeps_every_sent_field(client: httpx.Client) -> None:
    """All documented fields are stored as sent, metadata as an object; ids increase."""
    first = new_contact(
        client,
        mentionName="pd",
        phone="+1-555-123-4567",
        company="Acme Corp",
        title="VP of Sales",
        department="Sales",
        type="vendor",
        isActive=False,
        metadata={"tags": ["a"], "nested": {"n": 1}},
    )
    second = new_contact(client, email="second@example.net", type="partner")
    assert second["id"] > first["id"]
    assert (first["mentionName"], first["company"], first["type"], first["isActive"]) == (
        "pd",
        "Acme Corp",
        "vendor",
        False,
    )
    assert first["metadata"] == {"tags": ["a"], "nested": {"n": 1}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.co", "type": "client"}, "fullName"),
        ({"fullName": "A", "type": "client"}, "email"),
        ({"fullName": "A", "email": "a@b.co"}, "type"),
        (contact_body(type="customer"), "type"),
        (contact_body(email="not-an-email"), "email"),
        (contact_body(fullName="  "), "fullName"),
        (contact_body(fullName=7), "fullName"),
        (contact_body(phone=5551234), "phone"),
        (contact_body(isActive="yes"), "isActive"),
        (contact_body(isActive=None), "isActive"),
        (contact_body(metadata=["a"]), "metadata"),
        (contact_body(canLogin="true"), "canLogin"),
    ],
)
def test_bad_body_is_400_naming_the_field(
    sandbox: SessionsSandboxServer, client: httpx.Client, body: dict[str, object], field: str
) -> None:
    """A missing required field or a wrong type is 400 with the field named; nothing is created."""
    before = len(sandbox.state.all_contacts())
    response = client.post("/contacts", json=body)
    assert response.status_code == 400
    error = response.json()
    assert field in error["message"]
    assert [problem["field"] for problem in error["errors"]] == [field]
    assert len(sandbox.state.all_contacts()) == before


def test_every_problem_is_listed(client: httpx.Client) -> None:
    """All problems of one body are reported at once, the first as the message."""
    response = client.post("/contacts", json={"type": "nope", "isActive": 1})
    assert response.status_code == 400
    fields = [problem["field"] for problem in response.json()["errors"]]
    assert fields == ["fullName", "email", "type", "isActive"]


def test_bodies_that_are_not_json(client: httpx.Client) -> None:
    """Broken JSON is 400; a body of another content type reads as empty, so its fields are missing."""
    broken = client.post("/contacts", content=b'{"fullName": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json() == {"message": "Invalid JSON in request body"}
    form = client.post("/contacts", data={"fullName": "A", "email": "a@b.co", "type": "client"})
    assert form.status_code == 400
    assert form.json()["message"] == "fullName is required"


def test_unknown_fields_are_ignored(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """Fields the API does not know (id, createdAt, extras) are dropped, not stored or refused."""
    created = new_contact(client, id=1, createdAt="2000-01-01T00:00:00.000Z", favourite=True)
    assert created["id"] != 1
    assert created["createdAt"] != "2000-01-01T00:00:00.000Z"
    assert "favourite" not in sandbox.state.contact(created["id"])


def test_can_login_is_recorded_only_when_sent_true(
    sandbox: SessionsSandboxServer, client: httpx.Client
) -> None:
    """canLogin true is recorded on the contact and counted; left out or false, it is not."""
    plain = new_contact(client, email="plain@example.net")
    refused = new_contact(client, email="no-login@example.net", canLogin=False)
    login = new_contact(client, email="login@example.net", canLogin=True)
    assert "canLogin" not in login
    assert [sandbox.state.contact(c["id"])["canLogin"] for c in (plain, refused, login)] == [
        False,
        False,
        True,
    ]
    assert sandbox.state.counter_values()["can_login_sent"] == 1
    bodies = [json.loads(entry.body) for entry in sandbox.state.request_log() if entry.method == "POST"]
    assert [body.get("canLogin") for body in bodies] == [None, False, True]


def test_duplicate_email_is_409_by_default(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """The same email again, in any letter case, is 409 {"message": "Email already exists"}."""
    new_contact(client, email="Twin@Example.net")
    before = len(sandbox.state.all_contacts())
    for email in ("Twin@Example.net", "twin@example.NET", " twin@example.net "):
        response = client.post("/contacts", json=contact_body(email=email))
        assert response.status_code == 409
        assert response.json() == {"message": "Email already exists"}
    assert len(sandbox.state.all_contacts()) == before


def test_seeded_emails_are_taken_too(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """A seeded contact's email cannot be reused."""
    seeded = sandbox.state.all_contacts()[7]["email"]
    assert client.post("/contacts", json=contact_body(email=seeded.upper())).status_code == 409


def test_duplicate_email_as_400_or_text() -> None:
    """duplicate_email="400" answers 400 with the same message; error_body="text" sends it as text."""
    with (
        running_sessions_sandbox(contacts=0, duplicate_email="400", error_body="text") as server,
        session_client(server) as http,
    ):
        new_contact(http)
        response = http.post("/contacts", json=contact_body())
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "Email already exists"


def test_duplicate_email_as_500_page(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """duplicate_email="500" answers Express's HTML error page, as an unhandled unique violation would."""
    sandbox.state.settings({"duplicate_email": "500"})
    new_contact(client)
    response = client.post("/contacts", json=contact_body())
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<pre>Internal Server Error</pre>" in response.text
    assert sandbox.state.counter_values()["contacts_created"] == 1


def test_hidden_contact_keeps_its_email_deleted_frees_it(
    sandbox: SessionsSandboxServer, client: httpx.Client, admin: httpx.Client
) -> None:
    """A contact hidden from the user keeps its email taken (409 for an unseen row); deleted, it frees it."""
    created = new_contact(client, email="gone@example.net")
    assert admin.post(f"/contacts/{created['id']}/hide").status_code == 200
    assert created["id"] not in [c["id"] for c in client.get("/contacts").json()]
    assert client.post("/contacts", json=contact_body(email="gone@example.net")).status_code == 409
    assert admin.delete(f"/contacts/{created['id']}").status_code == 200
    again = new_contact(client, email="gone@example.net")
    assert again["id"] > created["id"]


def test_lone_surrogates_are_refused_without_a_trace(
    sandbox: SessionsSandboxServer, client: httpx.Client
) -> None:
    """A lone surrogate in a string is 400; in metadata it is a 500; either way the email stays free."""
    raw = b'{"fullName": "Bad \\ud800", "email": "s@example.net", "type": "client"}'
    text = client.post("/contacts", content=raw, headers={"Content-Type": "application/json"})
    assert text.status_code == 400
    assert text.json()["errors"][0]["field"] == "fullName"
    raw = b'{"fullName": "A", "email": "s@example.net", "type": "client", "metadata": {"k": "\\udc00"}}'
    nested = client.post("/contacts", content=raw, headers={"Content-Type": "application/json"})
    assert nested.status_code == 500
    assert new_contact(client, email="s@example.net")["email"] == "s@example.net"
