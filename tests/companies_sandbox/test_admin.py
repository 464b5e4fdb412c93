"""The /_admin surface: other users' changes, companies, the request log, counters, switches, resets."""

from __future__ import annotations

import uuid

import httpx

from sync.apis.companies.sandbox import CompaniesServer, CompaniesState, running_sandbox
from tests.companies_sandbox.helpers import api_client, listed_ids, parse_ts


def test_admin_create_edit_delete_show_on_the_api(
    sandbox: CompaniesServer, admin: httpx.Client, client: httpx.Client, company: str
) -> None:
    """Another user's create, edit and delete are what the API then answers."""
    created = admin.post(
        "/contacts", json={"company_id": company, "first_name": "Other", "email": "o@acme.com"}
    )
    assert created.status_code == 201
    contact = created.json()
    assert listed_ids(client, company)[-1] == contact["id"]
    edited = admin.patch(f"/contacts/{contact['id']}", json={"designation": "Director"})
    assert edited.json()["designation"] == "Director"
    assert parse_ts(edited.json()["updated_at"]) > parse_ts(contact["updated_at"])
    assert client.get(f"/contacts/{contact['id']}").json() == edited.json()
    assert admin.get(f"/contacts/{contact['id']}").json() == edited.json()
    assert admin.delete(f"/contacts/{contact['id']}").status_code == 204
    assert client.get(f"/contacts/{contact['id']}").status_code == 404
    assert admin.get(f"/contacts/{contact['id']}").status_code == 404
    # Admin changes are not API requests: nothing logged, nothing counted.
    assert sandbox.state.request_log()[-1].method == "GET"
    assert "contacts_created" not in sandbox.state.counter_values()


def test_admin_create_defaults_and_validation(sandbox: CompaniesServer, admin: httpx.Client) -> None:
    """company_id defaults to the first company; bad fields are the API's 422; bad created_at is 400."""
    created = admin.post("/contacts", json={"first_name": "Default", "email": "d@acme.com"}).json()
    assert created["company_id"] == next(iter(sandbox.state.companies))
    assert admin.post("/contacts", json={"first_name": "NoEmail"}).status_code == 422
    bad_date = admin.post("/contacts", json={"first_name": "A", "email": "a@b.co", "created_at": "yesterday"})
    assert bad_date.status_code == 400 and "created_at" in bad_date.json()["detail"]
    unknown_company = admin.post(
        "/contacts", json={"first_name": "A", "email": "a@b.co", "company_id": str(uuid.uuid4())}
    )
    assert unknown_company.status_code == 400
    assert admin.patch(f"/contacts/{uuid.uuid4()}", json={"first_name": "x"}).status_code == 404
    assert admin.delete("/contacts/not-a-uuid").status_code == 404


def test_admin_lists_contacts_and_companies(
    sandbox: CompaniesServer, admin: httpx.Client, company: str
) -> None:
    """GET /_admin/contacts lists all (or one company's) in created order; /companies names owners."""
    assert len(admin.get("/contacts").json()) == 48
    assert admin.get("/contacts", params={"company_id": company}).json() == sandbox.state.all_contacts(
        company
    )
    companies = admin.get("/companies").json()
    assert [c["account"] for c in companies] == [1, 2, 1, 2]
    assert {c["id"] for c in companies if c["account"] == 1} == set(sandbox.state.accounts[0].company_ids)
    assert all(c["contacts"] == 12 and c["name"] for c in companies)


def test_request_log_records_requests_with_the_token_redacted(
    sandbox: CompaniesServer, admin: httpx.Client, client: httpx.Client, company: str
) -> None:
    """The log holds method, path and query, headers (token redacted), body, status, answer and fault."""
    client.get("/contacts", params={"company_id": company, "limit": 2})
    contact_id = sandbox.state.all_contacts(company)[0]["id"]
    client.patch(f"/contacts/{contact_id}", json={"designation": "Logged"})
    admin.get("/contacts")
    entries = admin.get("/log").json()
    assert [(e["method"], e["endpoint"], e["status"]) for e in entries] == [
        ("GET", "GET /contacts", 200),
        ("PATCH", "PATCH /contacts/{id}", 200),
    ]
    assert entries[0]["path"] == f"/contacts?company_id={company}&limit=2"
    assert entries[0]["query"] == {"company_id": [company], "limit": ["2"]}
    assert entries[1]["body"] == '{"designation":"Logged"}'
    assert entries[1]["headers"]["Authorization"] == "Bearer REDACTED"
    assert '"designation":"Logged"' in entries[1]["response_body"]
    assert entries[0]["fault"] is None
    assert sandbox.token not in str(entries)


def test_counters_and_reset(
    sandbox: CompaniesServer, admin: httpx.Client, client: httpx.Client, company: str
) -> None:
    """Counters track API requests and writes; POST /_admin/reset clears log, counters and fault numbering."""
    sandbox.state.set_faults("503@2")
    client.post("/contacts", json={"company_id": company, "first_name": "C", "email": "c@acme.com"})
    client.get("/contacts", params={"company_id": company})
    assert admin.get("/counters").json() == {"api_requests": 2, "contacts_created": 1, "faults_injected": 1}
    assert admin.post("/reset").status_code == 200
    assert admin.get("/log").json() == []
    assert admin.get("/counters").json() == {}
    assert client.get("/contacts", params={"company_id": company}).status_code == 200
    assert client.get("/contacts", params={"company_id": company}).status_code == 503


def test_settings_switches(admin: httpx.Client, client: httpx.Client, company: str) -> None:
    """PATCH /_admin/settings changes max_limit and retry_after_header live; bad values are 400."""
    assert admin.get("/settings").json() == {
        "max_limit": 100,
        "retry_after_header": False,
        "latency_ms": 0,
        "post_limit": None,
        "general_limit": None,
        "window_seconds": 60.0,
    }
    changed = admin.patch("/settings", json={"max_limit": 5, "retry_after_header": True})
    assert changed.json()["max_limit"] == 5 and changed.json()["retry_after_header"] is True
    assert client.get("/contacts", params={"company_id": company, "limit": 6}).status_code == 422
    assert len(listed_ids(client, company)) == 5
    for bad in (
        {"max_limit": 0},
        {"max_limit": True},
        {"latency_ms": -1},
        {"retry_after_header": "yes"},
        {"x": 1},
    ):
        assert admin.patch("/settings", json=bad).status_code == 400, bad
    assert admin.get("/settings").json()["max_limit"] == 5


def test_unknown_admin_routes_are_404(admin: httpx.Client) -> None:
    """An admin path that does not exist answers 404 naming it; a non-object body is 400."""
    response = admin.get("/nothing")
    assert response.status_code == 404 and "/_admin/nothing" in response.json()["detail"]
    assert admin.put("/faults", content=b"[1]").status_code == 400


def test_request_log_keeps_the_last_log_limit_requests() -> None:
    """With log_limit=3 the log holds the three newest requests, unknown routes included."""
    state = CompaniesState(companies=1, contacts_per_company=1, log_limit=3)
    with running_sandbox(state=state) as server, api_client(server) as http:
        for path in ("/contacts/a", "/contacts/b", "/nowhere", "/contacts/c", "/contacts/d"):
            http.get(path)
        assert [(e.seq, e.path) for e in state.request_log()] == [
            (3, "/nowhere"),
            (4, "/contacts/c"),
            (5, "/contacts/d"),
        ]
