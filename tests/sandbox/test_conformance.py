"""Every answer the sandbox gives on the contacts endpoints validates against the OpenAPI doc."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sync.apis.lev.sandbox import SandboxServer, running_sandbox
from sync.apis.lev.sandbox.requestlog import LoggedRequest
from tests.openapi_check import validate_request, validate_response
from tests.sandbox.helpers import api_client


def _exercise(http: httpx.Client, unconnected_id: int) -> None:
    """Successes and every kind of error the contacts endpoints produce."""
    page = http.get("/contacts", params={"limit": 200}).json()
    http.get("/contacts", params={"limit": 3, "cursor": "bad"})
    http.get("/contacts", params={"limit": 0})
    http.get("/contacts", params={"sort": "-updated_at", "offset": 5, "limit": 4})
    http.get("/contacts", params={"sort": "last_name", "cursor": "eyJpZCI6IDEwNH0="})
    http.get("/contacts", params={"fields": "email,phones"})
    http.get(f"/contacts/{page['data'][0]['id']}")
    http.get(f"/contacts/{unconnected_id}")
    http.get("/contacts/999999")
    key = str(uuid.uuid4())
    body = {
        "contact_type": "sponsor",
        "company_id": 1,
        "first_name": "José",
        "phones": [{"raw": "212 555 0100 x7", "type": "office"}],
    }
    created = http.post("/contacts", json=body, headers={"Idempotency-Key": key}).json()["data"]
    http.post("/contacts", json=body, headers={"Idempotency-Key": key})
    http.post("/contacts", json={**body, "first_name": "X"}, headers={"Idempotency-Key": key})
    http.post("/contacts", json={"company_id": 1})
    http.post("/contacts", json={"contact_type": "sponsor", "company_id": 1, "phones": [{}]})
    path = f"/contacts/{created['id']}"
    http.patch(path, json={"title": "CFO", "phones": [], "is_primary": True})
    http.patch(path, json={"email": "changed@example.com"})
    http.patch(path, json={"contact_type": "sponsor"})
    http.patch("/contacts/999999", json={"title": "x"})
    http.get("/contacts", headers={"Authorization": "Bearer wrong"})
    http.get("/contacts", headers={"X-Origin-App": ""})


def test_every_contacts_answer_matches_the_openapi_schemas() -> None:
    """Success and error answers (incl. 429, 500, 503) validate against the Lev OpenAPI doc."""
    with (
        running_sandbox(contacts=60, tier="free", window_seconds=30) as server,
        api_client(server) as http,
    ):
        unconnected = next(c for c in server.state.all_contacts() if not c["is_connected"])
        _exercise(http, unconnected["id"])
        server.state.set_faults("500@1,503@2")
        http.get("/contacts/101")
        http.get("/contacts/101")
        server.state.set_faults(None)
        for _ in range(11):
            http.get("/contacts/101")
        entries = _entries(server)
    statuses = {entry.status for entry in entries}
    assert {200, 201, 400, 401, 404, 409, 422, 429, 500, 503} <= statuses
    for entry in entries:
        assert entry.status is not None
        validate_response(entry.method, entry.path, entry.status, entry.response_headers, entry.response_body)
        if entry.status < 300:
            # The requests the sandbox accepted must be valid by the document too.
            validate_request(entry.method, entry.path, entry.headers, entry.body)


def _entries(server: SandboxServer) -> list[LoggedRequest]:
    return [e for e in server.state.request_log() if e.endpoint and "/contacts" in e.endpoint]


def test_openapi_check_catches_a_wrong_response() -> None:
    """The checker itself rejects a contact whose id is a string and an error without a type."""
    headers = {"Content-Type": "application/json"}
    bad_row = b'{"request_id":"r","timestamp":"2026-03-20T15:30:45Z","data":[{"id":"7"}]}'
    with pytest.raises(AssertionError, match="id"):
        validate_response("GET", "/api/external/v2/contacts?limit=5", 200, headers, bad_row)
    bad_error = b'{"request_id":"r","error":{"status":404,"message":"x","details":{}}}'
    with pytest.raises(AssertionError, match="type"):
        validate_response("GET", "/api/external/v2/contacts/7", 404, headers, bad_error)
    with pytest.raises(AssertionError, match="X-Origin-App"):
        validate_request("GET", "/api/external/v2/contacts", {"Authorization": "Bearer lev_sk_x"}, b"")
