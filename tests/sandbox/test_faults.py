"""Fault injection as an httpx client sees it, the SPEC grammar, and latency."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from sync.apis.lev.sandbox import FaultPlan, FaultSpecError, SandboxServer, running_sandbox
from sync.apis.lev.sandbox.faults import Fault
from tests.sandbox.helpers import api_client, error_of

CREATE = {"contact_type": "sponsor", "company_id": 1}


def _count(sandbox: SandboxServer) -> int:
    return len(sandbox.state.all_contacts())


@pytest.mark.parametrize(
    ("spec", "status", "error_type"),
    [("500@1", 500, "internal_error"), ("503@1", 503, "service_unavailable")],
)
def test_json_error_faults(
    sandbox: SandboxServer, client: httpx.Client, spec: str, status: int, error_type: str
) -> None:
    """500 and 503 faults answer the JSON error envelope, and the next request is normal."""
    sandbox.state.set_faults(spec)
    response = client.get("/contacts")
    assert response.status_code == status
    assert error_of(response)["type"] == error_type
    assert client.get("/contacts").status_code == 200


def test_html502_fault_is_a_proxy_page(sandbox: SandboxServer, client: httpx.Client) -> None:
    """html502 answers 502 with a text/html body, not JSON."""
    sandbox.state.set_faults("html502@1")
    response = client.get("/contacts")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content


def test_malformed_fault_is_200_with_broken_json(sandbox: SandboxServer, client: httpx.Client) -> None:
    """malformed answers 200 whose body does not parse; a write behind it is applied."""
    sandbox.state.set_faults("malformed@1-2")
    response = client.get("/contacts")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    before = _count(sandbox)
    assert client.post("/contacts", json=CREATE).status_code == 200
    assert _count(sandbox) == before + 1


def test_empty200_fault_has_no_body(sandbox: SandboxServer, client: httpx.Client) -> None:
    """empty200 answers 200 with an empty body."""
    sandbox.state.set_faults("empty200@1")
    response = client.get("/contacts/101")
    assert response.status_code == 200
    assert response.content == b""


def test_drop_before_closes_without_applying(sandbox: SandboxServer, client: httpx.Client) -> None:
    """drop-before closes the connection with no answer and the write is not applied."""
    sandbox.state.set_faults("drop-before@1/POST")
    before = _count(sandbox)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/contacts", json=CREATE)
    assert _count(sandbox) == before
    entry = sandbox.state.request_log()[-1]
    assert (entry.status, entry.fault) == (None, "drop-before")
    # The client recovers on a new connection.
    assert client.post("/contacts", json=CREATE).status_code == 201


def test_drop_after_applies_then_key_replays(sandbox: SandboxServer, client: httpx.Client) -> None:
    """drop-after applies the write but loses the answer; a retry with the same key replays it."""
    sandbox.state.set_faults("drop-after@1/POST")
    key = str(uuid.uuid4())
    before = _count(sandbox)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/contacts", json=CREATE, headers={"Idempotency-Key": key})
    assert _count(sandbox) == before + 1
    retry = client.post("/contacts", json=CREATE, headers={"Idempotency-Key": key})
    assert retry.status_code == 201
    assert _count(sandbox) == before + 1
    assert retry.json()["data"]["id"] == max(c["id"] for c in sandbox.state.all_contacts())


def test_drop_after_on_a_get_is_a_plain_drop(sandbox: SandboxServer, client: httpx.Client) -> None:
    """For a GET, drop-after behaves like drop-before: no answer."""
    sandbox.state.set_faults("drop-after@1")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/contacts")
    assert sandbox.state.request_log()[-1].fault == "drop-before"


def test_forced_429_fault(sandbox: SandboxServer, client: httpx.Client) -> None:
    """429=SECONDS forces a rate-limit answer with that retry_after_seconds."""
    sandbox.state.set_faults("429=0.25@2")
    assert client.get("/contacts").status_code == 200
    limited = client.get("/contacts")
    assert limited.status_code == 429
    error = error_of(limited)
    assert (error["type"], error["retry_after_seconds"]) == ("rate_limit_exceeded", 0.25)


def test_slow_fault_delays_the_answer(sandbox: SandboxServer, client: httpx.Client) -> None:
    """slow=MS delays the answer by at least MS milliseconds, and only the chosen request."""
    sandbox.state.set_faults("slow=1500@1")
    started = time.monotonic()
    assert client.get("/contacts").status_code == 200
    assert time.monotonic() - started >= 1.5
    started = time.monotonic()
    client.get("/contacts")
    assert time.monotonic() - started < 1.5  # wide: a loaded CI machine is slow, not 1.5 s slow


def test_latency_is_added_to_every_answer() -> None:
    """latency_ms delays every API answer."""
    with running_sandbox(contacts=3, latency_ms=150) as server, api_client(server) as http:
        for path in ("/contacts", "/me"):
            started = time.monotonic()
            http.get(path)
            assert time.monotonic() - started >= 0.15


def test_fault_numbers_count_only_contacts_requests(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Request numbers count /contacts requests only; /me and /health never fault."""
    sandbox.state.set_faults("500@2")
    assert client.get("/me").status_code == 200
    assert client.get("/contacts").status_code == 200
    assert client.get("/me").status_code == 200
    assert client.get("/contacts/101").status_code == 500


def test_probability_faults_are_reproducible_with_a_seed() -> None:
    """The same SPEC with seed=N faults the same requests; p0 never and p1 always fault."""

    def pattern(spec: str) -> list[int]:
        with running_sandbox(contacts=3, faults=spec) as server, api_client(server) as http:
            return [http.get("/contacts").status_code for _ in range(20)]

    first = pattern("500@p0.5,seed=7")
    assert first == pattern("500@p0.5,seed=7")
    assert {200, 500} == set(first)
    assert set(pattern("500@p0")) == {200}
    assert set(pattern("503@p1")) == {503}


def test_spec_grammar() -> None:
    """The documented SPEC example parses; malformed specs raise FaultSpecError."""
    plan = FaultPlan.parse(
        "500@3,drop-after@5-7,html502@p0.05,slow=1500@p0.1,429@4,drop-after@1+9/WRITE,seed=7"
    )
    assert plan.seed == 7
    assert [rule.fault for rule in plan.rules] == [
        Fault("500"),
        Fault("drop-after"),
        Fault("html502"),
        Fault("slow", 1500),
        Fault("429", 1.0),
        Fault("drop-after"),
    ]
    assert plan.rules[1].numbers == frozenset({5, 6, 7})
    assert plan.rules[5].numbers == frozenset({1, 9})
    assert plan.rules[5].scope == "WRITE"
    assert FaultPlan.parse("").rules == ()
    for bad in ("500", "boom@1", "500@0", "500@3-1", "500@p2", "slow@1", "500@1/DELETE", "seed=x"):
        with pytest.raises(FaultSpecError):
            FaultPlan.parse(bad)
