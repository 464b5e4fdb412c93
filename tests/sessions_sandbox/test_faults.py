"""The Lev fault grammar applied to the sessions API, as an httpx client sees it."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from sync.apis.lev.sandbox.faults import Fault, FaultPlan, FaultRule, FaultSpecError
from sync.apis.sessions.sandbox import SessionsSandboxServer, SessionsState, running_sessions_sandbox
from tests.sessions_sandbox.helpers import contact_body, session_client


def _count(sandbox: SessionsSandboxServer) -> int:
    return len(sandbox.state.all_contacts())


@pytest.mark.parametrize(
    ("spec", "status", "message"),
    [("500@1", 500, "Internal Server Error"), ("503@1", 503, "Service Unavailable")],
)
def test_server_error_faults(
    sandbox: SessionsSandboxServer, client: httpx.Client, spec: str, status: int, message: str
) -> None:
    """500 and 503 answer {"message": ...} and apply nothing; the next request is normal."""
    sandbox.state.set_faults(spec.replace("@1", "@1/POST"))
    before = _count(sandbox)
    response = client.post("/contacts", json=contact_body())
    assert response.status_code == status
    assert response.json() == {"message": message}
    assert _count(sandbox) == before
    assert client.post("/contacts", json=contact_body()).status_code == 200


def test_503_and_429_carry_retry_after(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """503 carries Retry-After: 1; 429=S carries Retry-After rounded up to whole seconds."""
    sandbox.state.set_faults("503@1,429=2.5@2,429@3")
    answers = [client.get("/contacts") for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 429, 429, 200]
    assert [a.headers.get("retry-after") for a in answers] == ["1", "3", "1", None]
    assert answers[1].json() == {"message": "Too many requests, please try again later."}


def test_error_faults_follow_the_text_switch() -> None:
    """With error_body="text", fault answers are plain text too."""
    with (
        running_sessions_sandbox(contacts=1, faults="500@1", error_body="text") as server,
        session_client(server) as http,
    ):
        response = http.get("/contacts")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_html502_is_a_proxy_page(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """html502 answers 502 with an nginx HTML page."""
    sandbox.state.set_faults("html502@1")
    response = client.get("/contacts")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content


def test_drop_before_applies_nothing(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """drop-before closes the connection with no answer and creates nothing; the client recovers."""
    sandbox.state.set_faults("drop-before@1/POST")
    before = _count(sandbox)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/contacts", json=contact_body())
    assert _count(sandbox) == before
    entry = sandbox.state.request_log()[-1]
    assert (entry.status, entry.fault) == (None, "drop-before")
    assert client.post("/contacts", json=contact_body()).status_code == 200


def test_drop_after_applies_then_loses_the_answer(
    sandbox: SessionsSandboxServer, client: httpx.Client
) -> None:
    """drop-after creates the contact but sends nothing; a blind resend then meets the duplicate email."""
    sandbox.state.set_faults("drop-after@1/POST")
    before = _count(sandbox)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/contacts", json=contact_body(email="lost@example.net"))
    assert _count(sandbox) == before + 1
    assert sandbox.state.all_contacts()[-1]["email"] == "lost@example.net"
    retry = client.post("/contacts", json=contact_body(email="lost@example.net"))
    assert retry.status_code == 409
    assert _count(sandbox) == before + 1


def test_drop_after_on_the_list_is_a_plain_drop(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """For GET /contacts, drop-after behaves like drop-before."""
    sandbox.state.set_faults("drop-after@1")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/contacts")
    assert sandbox.state.request_log()[-1].fault == "drop-before"


@pytest.mark.parametrize("chunked", [False, True])
def test_malformed_list_is_cut_in_half(
    sandbox: SessionsSandboxServer, client: httpx.Client, chunked: bool
) -> None:
    """malformed sends a complete HTTP answer whose JSON array stops half-way, with either framing."""
    sandbox.state.settings({"chunked": chunked})
    whole = client.get("/contacts").content
    sandbox.state.set_faults("malformed@1")
    response = client.get("/contacts")
    assert response.status_code == 200
    assert response.content == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_malformed_create_is_applied(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """malformed on a POST applies the write and garbles its 200 answer."""
    sandbox.state.set_faults("malformed@1/POST")
    before = _count(sandbox)
    response = client.post("/contacts", json=contact_body())
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert _count(sandbox) == before + 1


def test_empty200(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """empty200 answers 200 with no body, to a list or a create (which is applied)."""
    sandbox.state.set_faults("empty200@1-2")
    before = _count(sandbox)
    assert client.get("/contacts").content == b""
    created = client.post("/contacts", json=contact_body())
    assert (created.status_code, created.content) == (200, b"")
    assert _count(sandbox) == before + 1


def test_slow_delays_only_the_chosen_request(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """slow=MS delays the chosen answer by at least MS milliseconds."""
    sandbox.state.set_faults("slow=1200@1")
    started = time.monotonic()
    assert client.get("/contacts").status_code == 200
    assert time.monotonic() - started >= 1.2
    assert sandbox.state.request_log()[-1].fault == "slow=1200"


def test_fault_numbers_count_api_requests_only(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """Unknown routes and admin calls are never counted nor faulted; the three endpoints are."""
    sandbox.state.set_faults("500@2")
    assert client.get("/nowhere").status_code == 404
    httpx.get(sandbox.admin_url + "/contacts")
    assert client.get("/contacts/mentions").status_code == 200
    assert client.get("/contacts").status_code == 500


def test_probability_faults_are_reproducible() -> None:
    """The same SPEC with a seed faults the same requests."""

    def pattern() -> list[int]:
        with (
            running_sessions_sandbox(contacts=2, faults="503@p0.5,seed=4") as server,
            session_client(server) as http,
        ):
            return [http.get("/contacts").status_code for _ in range(16)]

    first = pattern()
    assert first == pattern()
    assert set(first) == {200, 503}


def test_faults_set_over_admin(
    sandbox: SessionsSandboxServer, client: httpx.Client, admin: httpx.Client
) -> None:
    """PUT /_admin/faults sets the plan; a bad SPEC is 400 naming the problem and keeps the old plan."""
    assert admin.put("/faults", json={"spec": "503@1"}).json() == {"spec": "503@1"}
    refused = admin.put("/faults", json={"spec": "boom@1"})
    assert refused.status_code == 400
    assert "boom" in refused.json()["message"]
    assert admin.get("/faults").json() == {"spec": "503@1"}
    assert client.get("/contacts").status_code == 503


def test_kinds_this_api_does_not_serve_are_refused() -> None:
    """Every kind this sandbox serves is accepted; a plan with another kind is refused naming it."""
    state = SessionsState(contacts=0)
    for kind in ("500", "503", "html502", "drop-before", "drop-after", "malformed", "empty200"):
        assert state.set_faults(f"{kind}@1").rules[0].fault.kind == kind
    state.set_faults("429=2@1,slow=5@1")
    foreign = FaultPlan((FaultRule(Fault("endless"), numbers=frozenset({1})),))
    with pytest.raises(FaultSpecError, match="'endless' is not served by the sessions sandbox"):
        state.set_faults(foreign)
    with pytest.raises(FaultSpecError):
        SessionsState(contacts=0, faults=foreign)
    assert state.faults.spec == "429=2@1,slow=5@1"
