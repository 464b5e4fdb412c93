"""The /_admin surface: other users' edits, seeding, sessions, settings, the request log."""

from __future__ import annotations

import httpx

from sync.apis.sessions.sandbox import SessionsSandboxServer
from tests.sessions_sandbox.helpers import contact_body, new_contact


def test_other_user_creates_and_edits(client: httpx.Client, admin: httpx.Client) -> None:
    """An admin-created contact is listed; an edit changes fields, moves updatedAt and shows in the list."""
    created = admin.post("/contacts", json=contact_body(email="other@example.net", canLogin=True))
    assert created.status_code == 201
    contact = created.json()
    assert (contact["hidden"], contact["canLogin"]) == (False, True)
    edited = admin.patch(f"/contacts/{contact['id']}", json={"title": "CFO", "email": "Other2@example.net"})
    assert edited.status_code == 200
    after = edited.json()
    assert (after["title"], after["email"]) == ("CFO", "Other2@example.net")
    assert after["updatedAt"] > contact["updatedAt"]
    assert after["createdAt"] == contact["createdAt"]
    listed = {c["id"]: c for c in client.get("/contacts").json()}
    assert listed[contact["id"]]["title"] == "CFO"
    # The old email is free again, the new one taken.
    assert client.post("/contacts", json=contact_body(email="other@example.net")).status_code == 200
    assert client.post("/contacts", json=contact_body(email="other2@example.net")).status_code == 409


def test_edit_that_changes_nothing_keeps_updated_at(admin: httpx.Client) -> None:
    """An edit to the same values does not move updatedAt."""
    contact = admin.get("/contacts/1").json()
    same = admin.patch("/contacts/1", json={"fullName": contact["fullName"]}).json()
    assert same["updatedAt"] == contact["updatedAt"]


def test_admin_refusals(sandbox: SessionsSandboxServer, admin: httpx.Client) -> None:
    """Bad admin requests are refused with a message naming the problem; nothing changes."""
    taken = admin.get("/contacts/2").json()["email"]
    before = admin.get("/contacts").json()
    cases = [
        (admin.patch("/contacts/1", json={"email": taken}), 409, "taken by contact 2"),
        (admin.patch("/contacts/1", json={"id": 5}), 400, "id cannot be edited"),
        (admin.patch("/contacts/1", json={"fullName": None}), 400, "fullName is required"),
        (admin.patch("/contacts/1", json={"type": "boss"}), 400, "type must be one of"),
        (admin.get("/contacts/99999"), 404, "Contact not found"),
        (admin.post("/contacts", json={"fullName": "x"}), 400, "email is required"),
        (admin.post("/seed", json={"count": -1}), 400, "count"),
        (admin.post("/sessions", json={}), 400, "role is required"),
        (admin.post("/sessions/42/expire"), 404, "No session 42"),
        (admin.put("/settings", json={"error_body": "xml"}), 400, "error_body must be one of json, text"),
        (admin.put("/settings", json={"colour": 1}), 400, "unknown setting(s): colour"),
        (admin.get("/nothing"), 404, "No admin route for GET /nothing"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert message in response.json()["message"]
    assert admin.get("/contacts").json() == before


def test_seed_appends_deterministically(sandbox: SessionsSandboxServer, admin: httpx.Client) -> None:
    """POST /_admin/seed appends N contacts after the last id; the same seed gives the same contacts."""
    last = admin.get("/contacts").json()[-1]["id"]
    ids = admin.post("/seed", json={"count": 5, "seed": 42}).json()["ids"]
    assert len(ids) == 5 and ids[0] > last and ids == sorted(ids)
    added = [admin.get(f"/contacts/{cid}").json() for cid in ids]
    assert all(c["email"].split("@")[0].endswith(f".{c['id']}") for c in added)
    assert len(sandbox.state.all_contacts()) == 35


def test_settings_switch_answers(client: httpx.Client, admin: httpx.Client) -> None:
    """PUT /_admin/settings switches the error form and the duplicate answer at once."""
    assert admin.get("/settings").json() == {"error_body": "json", "duplicate_email": "409", "chunked": False}
    changed = admin.put("/settings", json={"error_body": "text", "duplicate_email": 400}).json()
    assert changed == {"error_body": "text", "duplicate_email": "400", "chunked": False}
    new_contact(client)
    response = client.post("/contacts", json=contact_body())
    assert (response.status_code, response.text) == (400, "Email already exists")


def test_request_log_masks_cookies(
    sandbox: SessionsSandboxServer, client: httpx.Client, admin: httpx.Client
) -> None:
    """The log has method, path, status and body of each API call, with every cookie value masked."""
    client.cookies.set("theme", "dark")
    client.get("/contacts")
    client.post("/contacts", json=contact_body())
    log = admin.get("/log").json()
    assert [(e["method"], e["endpoint"], e["status"]) for e in log] == [
        ("GET", "GET /contacts", 200),
        ("POST", "POST /contacts", 200),
    ]
    text = admin.get("/log").text
    session_id = sandbox.state.session.sid
    assert sandbox.cookie not in text and session_id not in text and "dark" not in text
    cookie_header = {k.lower(): v for k, v in log[0]["headers"].items()}["cookie"]
    assert sorted(cookie_header.split("; ")) == ["connect.sid=REDACTED", "theme=REDACTED"]
    assert '"email":"pat.doe@example.net"' in log[1]["body"]


def test_counters_and_reset(client: httpx.Client, admin: httpx.Client) -> None:
    """Counters count API requests, faults and creates; reset clears them and the log."""
    admin.put("/faults", json={"spec": "500@1"})
    client.get("/contacts")
    new_contact(client)
    assert admin.get("/counters").json() == {"api_requests": 2, "faults_injected": 1, "contacts_created": 1}
    assert admin.post("/reset").json() == {"reset": True}
    assert admin.get("/counters").json() == {}
    assert admin.get("/log").json() == []
