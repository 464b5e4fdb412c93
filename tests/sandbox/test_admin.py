"""The admin surface: other users' edits, connection changes, faults and the request log."""

from __future__ import annotations

import httpx

from sync.apis.lev.sandbox import SandboxServer
from tests.sandbox.helpers import parse_ts


def test_admin_edit_changes_fields_and_moves_updated_at(admin: httpx.Client, client: httpx.Client) -> None:
    """An edit through /_admin shows on the API with a later updated_at (email may change)."""
    before = client.get("/contacts/101").json()["data"]
    edited = admin.patch("/contacts/101", json={"title": "Chair", "email": "new@lev.test"})
    assert edited.status_code == 200
    after = client.get("/contacts/101").json()["data"]
    assert (after["title"], after["email"]) == ("Chair", "new@lev.test")
    assert parse_ts(after["updated_at"]) > parse_ts(before["updated_at"])
    assert admin.patch("/contacts/101", json={"id": 5}).status_code == 400
    assert admin.patch("/contacts/999999", json={"title": "x"}).status_code == 404


def test_disconnect_hides_from_list_and_reconnect_shows(admin: httpx.Client, client: httpx.Client) -> None:
    """A disconnected contact leaves the list but still answers GET; reconnecting lists it again."""

    def listed() -> set[int]:
        rows = client.get("/contacts", params={"limit": 200}).json()["data"]
        return {row["id"] for row in rows}

    assert 101 in listed()
    assert admin.post("/contacts/101/disconnect").json()["data"]["is_connected"] is False
    assert 101 not in listed()
    assert client.get("/contacts/101").json()["data"]["is_connected"] is False
    admin.post("/contacts/101/connect")
    assert 101 in listed()


def test_admin_create_makes_a_connected_contact(admin: httpx.Client, client: httpx.Client) -> None:
    """POST /_admin/contacts creates a connected contact (both types allowed) that is listed."""
    created = admin.post(
        "/contacts",
        json={
            "first_name": "Łukasz",
            "contact_types": ["sponsor", "lender_contact"],
            "company_id": 2,
            "phones": [{"raw": "+48 22 123 45 67"}],
        },
    )
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["is_connected"] is True
    assert data["contact_type"] == "sponsor"
    assert data["company_id"] == 2
    assert data["phones"][0]["e164"] == "+48221234567"
    rows = client.get("/contacts", params={"limit": 200}).json()["data"]
    assert data["id"] in {row["id"] for row in rows}


def test_admin_lists_every_contact_with_company_id(sandbox: SandboxServer, admin: httpx.Client) -> None:
    """GET /_admin/contacts lists connected and unconnected contacts with company_id."""
    rows = admin.get("/contacts").json()["data"]
    assert len(rows) == 40
    assert {row["is_connected"] for row in rows} == {True, False}
    assert all(row["company_id"] in sandbox.state.companies for row in rows)


def test_admin_faults_over_http(admin: httpx.Client, client: httpx.Client) -> None:
    """PUT /_admin/faults replaces the plan (bad specs are 400) and GET shows it."""
    assert admin.put("/faults", json={"spec": "503@1"}).status_code == 200
    assert admin.get("/faults").json()["data"] == {"spec": "503@1"}
    assert client.get("/contacts").status_code == 503
    assert admin.put("/faults", json={"spec": "nonsense"}).status_code == 400
    assert admin.put("/faults", json={"spec": ""}).status_code == 200
    assert client.get("/contacts").status_code == 200


def test_request_log_records_requests_with_redacted_token(
    sandbox: SandboxServer, admin: httpx.Client, client: httpx.Client
) -> None:
    """The log holds method, path with query, headers (token redacted), body, status and fault."""
    client.get("/contacts", params={"limit": 5})
    client.patch("/contacts/101", json={"title": "Logged"})
    admin.get("/contacts")  # admin calls are not logged
    entries = admin.get("/log").json()["data"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/api/external/v2/contacts?limit=5", 200),
        ("PATCH", "/api/external/v2/contacts/101", 200),
    ]
    assert entries[0]["query"] == {"limit": ["5"]}
    assert entries[1]["body"] == '{"title":"Logged"}'
    assert entries[1]["endpoint"] == "PATCH /contacts/{id}"
    assert entries[1]["headers"]["Authorization"] == "Bearer REDACTED"
    assert sandbox.token not in str(entries)
    assert entries[0]["fault"] is None
    assert admin.get("/counters").json()["data"]["api_requests"] == 2
    admin.post("/reset")
    assert admin.get("/log").json()["data"] == []
    assert sandbox.state.counter_values() == {}
