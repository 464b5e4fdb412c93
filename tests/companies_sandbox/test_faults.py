"""Fault injection on the companies endpoints, with the Lev SPEC grammar plus the DELETE scope."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from sync.apis.companies.sandbox import CompaniesServer, Faults, FaultSpecError, running_sandbox
from tests.companies_sandbox.helpers import api_client, listed_ids


def _body(company: str) -> dict[str, object]:
    return {"company_id": company, "first_name": "Faulty", "email": "faulty@acme.com"}


def _faulty_count(sandbox: CompaniesServer) -> int:
    return [row["first_name"] for row in sandbox.state.all_contacts()].count("Faulty")


def test_5xx_faults_answer_before_the_app(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """500 is FastAPI's plain-text error, 503 JSON, html502 a proxy page; none applies a write."""
    sandbox.state.set_faults("500@1,503@2,html502@3")
    first = client.post("/contacts", json=_body(company))
    assert (first.status_code, first.text) == (500, "Internal Server Error")
    second = client.post("/contacts", json=_body(company))
    assert (second.status_code, second.json()) == (503, {"detail": "Service Unavailable"})
    third = client.post("/contacts", json=_body(company))
    assert third.status_code == 502 and third.headers["content-type"].startswith("text/html")
    assert _faulty_count(sandbox) == 0
    assert client.post("/contacts", json=_body(company)).status_code == 201


def test_drop_before_closes_without_applying(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """drop-before closes the connection with no answer; the write is not applied; the next works."""
    sandbox.state.set_faults("drop-before@1/POST")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/contacts", json=_body(company))
    assert _faulty_count(sandbox) == 0
    entry = sandbox.state.request_log()[-1]
    assert (entry.status, entry.fault) == (None, "drop-before")
    assert client.post("/contacts", json=_body(company)).status_code == 201


def test_drop_after_applies_a_create_then_loses_the_answer(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """drop-after on POST stores the contact but the client gets no answer; a blind retry duplicates it."""
    sandbox.state.set_faults("drop-after@1/POST")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/contacts", json=_body(company))
    assert _faulty_count(sandbox) == 1
    assert sandbox.state.request_log()[-1].response_body == b""
    # No idempotency keys in this API: the retry is a second contact with the same email.
    assert client.post("/contacts", json=_body(company)).status_code == 201
    assert _faulty_count(sandbox) == 2


def test_drop_after_applies_a_patch(sandbox: CompaniesServer, client: httpx.Client, company: str) -> None:
    """drop-after on PATCH applies the change, then drops the connection."""
    contact_id = sandbox.state.all_contacts(company)[0]["id"]
    sandbox.state.set_faults("drop-after@1/WRITE")
    with pytest.raises(httpx.RemoteProtocolError):
        client.patch(f"/contacts/{contact_id}", json={"designation": "Applied"})
    found = sandbox.state.contact(contact_id)
    assert found is not None and found["designation"] == "Applied"


def test_drop_after_applies_a_delete_so_the_retry_is_404(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """drop-after@1/DELETE deletes the contact and loses the 204; the retry meets 404."""
    contact_id = sandbox.state.all_contacts(company)[0]["id"]
    sandbox.state.set_faults("drop-after@1/DELETE")
    assert client.get(f"/contacts/{contact_id}").status_code == 200  # not counted by /DELETE
    with pytest.raises(httpx.RemoteProtocolError):
        client.delete(f"/contacts/{contact_id}")
    assert sandbox.state.contact(contact_id) is None
    assert client.delete(f"/contacts/{contact_id}").status_code == 404


def test_drop_after_on_a_get_is_a_plain_drop(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """For a GET, drop-after behaves like drop-before and is logged so."""
    sandbox.state.set_faults("drop-after@1")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/contacts", params={"company_id": company})
    assert sandbox.state.request_log()[-1].fault == "drop-before"


def test_malformed_and_empty200_spoil_answers_after_applying(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """malformed cuts the JSON array in half; empty200 answers 200 with no body, even for a DELETE."""
    sandbox.state.set_faults("malformed@1,empty200@2")
    cut = client.get("/contacts", params={"company_id": company})
    assert cut.status_code == 200 and cut.content.startswith(b"[")
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    contact_id = sandbox.state.all_contacts(company)[0]["id"]
    emptied = client.delete(f"/contacts/{contact_id}")
    assert (emptied.status_code, emptied.content) == (200, b"")
    assert sandbox.state.contact(contact_id) is None


def test_forced_429_follows_the_retry_after_switch(sandbox: CompaniesServer, client: httpx.Client) -> None:
    """429=SECONDS answers the rate-limit body; Retry-After (its value, rounded up) only with the switch."""
    contact_id = sandbox.state.all_contacts()[0]["id"]
    sandbox.state.set_faults("429=2.5@1")
    plain = client.get(f"/contacts/{contact_id}")
    assert (plain.status_code, plain.json()) == (429, {"detail": "Rate limit exceeded"})
    assert "retry-after" not in plain.headers
    sandbox.state.update_settings(retry_after_header=True)
    sandbox.state.set_faults("429=2.5@1")
    assert client.get(f"/contacts/{contact_id}").headers["retry-after"] == "3"


def test_slow_fault_and_latency_delay_answers() -> None:
    """slow=MS delays only the chosen request; latency_ms delays every API answer."""
    with running_sandbox(contacts_per_company=2, faults="slow=600@2", latency_ms=100) as server:
        contact_id = server.state.all_contacts()[0]["id"]
        with api_client(server) as http:
            timings = []
            for _ in range(2):
                started = time.monotonic()
                assert http.get(f"/contacts/{contact_id}").status_code == 200
                timings.append(time.monotonic() - started)
        assert timings[0] >= 0.1
        assert timings[1] >= 0.7
        assert server.state.request_log()[-1].fault == "slow=600"


def test_faults_count_only_api_requests_by_scope(
    sandbox: CompaniesServer, client: httpx.Client, admin: httpx.Client, company: str
) -> None:
    """Admin calls and unknown routes are never counted or faulted; /GET counts only GETs."""
    sandbox.state.set_faults("503@2/GET")
    admin.get("/contacts")
    assert client.get("/nowhere").status_code == 404
    assert (sandbox.state.request_log()[-1].endpoint, sandbox.state.request_log()[-1].fault) == (None, None)
    assert client.post("/contacts", json=_body(company)).status_code == 201
    assert client.get("/contacts", params={"company_id": company}).status_code == 200
    assert client.get("/contacts", params={"company_id": company}).status_code == 503
    assert client.get("/contacts", params={"company_id": company}).status_code == 200


def test_probability_faults_are_reproducible_with_a_seed(sandbox: CompaniesServer, company: str) -> None:
    """The same SPEC with seed=N faults the same requests after the counters reset."""

    def pattern() -> list[int]:
        sandbox.state.set_faults("500@p0.5,seed=11")
        with api_client(sandbox) as http:
            return [http.get("/contacts", params={"company_id": company}).status_code for _ in range(16)]

    first = pattern()
    assert first == pattern()
    assert set(first) == {200, 500}


def test_spec_parsing_adds_delete_and_refuses_kinds_not_served() -> None:
    """Lev's grammar parses here, /DELETE is a scope, WRITE includes DELETE; unknown kinds fail."""
    faults = Faults.parse("drop-after@1+3/delete,500@2-4/WRITE,slow=100@p0.5,seed=4")
    assert [(rule.fault.kind, rule.scope) for rule in faults.rules] == [
        ("drop-after", "DELETE"),
        ("500", "WRITE"),
        ("slow", "ALL"),
    ]
    assert faults.rules[0].numbers == frozenset({1, 3})
    assert faults.seed == 4
    assert faults.decide("DELETE").fault is not None  # DELETE #1, WRITE #1
    assert faults.decide("PATCH").fault is not None  # WRITE #2
    for bad in ("500", "boom@1", "500@0", "500@1/PUT", "seed=x", "drop-after@1/DELETE/GET"):
        with pytest.raises(FaultSpecError):
            Faults.parse(bad)


def test_admin_sets_faults_over_http(admin: httpx.Client, client: httpx.Client, company: str) -> None:
    """PUT /_admin/faults replaces the plan (bad specs 400) and GET shows it; "" clears."""
    assert admin.put("/faults", json={"spec": "503@1"}).json() == {"spec": "503@1"}
    assert admin.get("/faults").json() == {"spec": "503@1"}
    assert client.get("/contacts", params={"company_id": company}).status_code == 503
    bad = admin.put("/faults", json={"spec": "nonsense"})
    assert bad.status_code == 400 and "nonsense" in bad.json()["detail"]
    assert admin.put("/faults", json={"spec": ""}).status_code == 200
    assert listed_ids(client, company)


@pytest.mark.parametrize("spec", ["endless@1", "trickle@1", "surrogate@1", "nul@1", "echo-token@1", "huge@1"])
def test_kinds_this_sandbox_does_not_serve_are_refused(spec: str) -> None:
    """Fault kinds outside SUPPORTED_KINDS (e.g. ones added to Lev's grammar later) fail to parse here."""
    with pytest.raises(FaultSpecError):
        Faults.parse(spec)
