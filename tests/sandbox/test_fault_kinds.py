"""Fault kinds that poison a client slowly: endless lists, trickled answers, bad strings, echoed tokens."""

from __future__ import annotations

import base64
import json
import socket
import time

import httpx
import pytest

from sync.apis.lev.sandbox import FaultPlan, FaultSpecError, SandboxServer
from sync.apis.lev.sandbox.faults import DEFAULT_TRICKLE_MS, HUGE_LENGTH, Fault
from tests.sandbox.helpers import error_of

CREATE = {"contact_type": "sponsor", "company_id": 1}
FILTER = "filter[updated_at][gte]"


def test_the_new_kinds_parse_with_their_values_and_scopes() -> None:
    """trickle takes milliseconds (default 100), echo-token a documented error status (default 400)."""
    plan = FaultPlan.parse(
        "endless@1,endless-junk@p0.5/GET,trickle@2,trickle=5@3,surrogate@4,nul@5,huge@6/PATCH"
    )
    assert [rule.fault for rule in plan.rules] == [
        Fault("endless"),
        Fault("endless-junk"),
        Fault("trickle", DEFAULT_TRICKLE_MS),
        Fault("trickle", 5),
        Fault("surrogate"),
        Fault("nul"),
        Fault("huge"),
    ]
    assert plan.rules[1].scope == "GET" and plan.rules[1].probability == 0.5
    assert FaultPlan.parse("echo-token@1,echo-token=422@2").rules[1].fault == Fault("echo-token", 422)
    for spec in ("echo-token=418@1", "trickle=0@1", "endless=3@1", "surrogate=1@1"):
        with pytest.raises(FaultSpecError):
            FaultPlan.parse(spec)


def test_endless_pages_never_end_and_every_cursor_is_new(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """endless: no contacts, has_more true, the real total and a fresh cursor that resumes in place."""
    first = client.get("/contacts", params={"limit": 5}).json()
    sandbox.state.set_faults("endless@p1")
    cursors = set()
    page = client.get("/contacts", params={"limit": 5}).json()
    for _ in range(6):
        assert page["data"] == []
        assert page["pagination"]["has_more"] is True
        assert page["pagination"]["total"] == first["pagination"]["total"]
        cursors.add(page["pagination"]["next_cursor"])
        page = client.get(
            "/contacts", params={"limit": 5, "cursor": page["pagination"]["next_cursor"]}
        ).json()
    assert len(cursors) == 6
    one = client.get("/contacts/101")
    assert one.status_code == 200 and one.json()["data"]["id"] == 101  # only lists are endless
    sandbox.state.set_faults(None)
    resumed = client.get("/contacts", params={"limit": 5, "cursor": page["pagination"]["next_cursor"]})
    assert resumed.json()["data"] == first["data"]


def test_endless_junk_pages_are_full_of_ever_new_contacts(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """endless-junk: full pages of valid-looking contacts with ids never seen before, never stored."""
    sandbox.state.set_faults("endless-junk@p1/GET")
    since = "2000-01-01T00:00:00Z"
    page = client.get("/contacts", params={"limit": 4, FILTER: since}).json()
    seen: list[int] = []
    for _ in range(5):
        assert len(page["data"]) == 4 and page["pagination"]["has_more"] is True
        seen += [row["id"] for row in page["data"]]
        assert all(row["first_name"] == "Junk" and row["is_connected"] for row in page["data"])
        cursor = page["pagination"]["next_cursor"]
        assert json.loads(base64.b64decode(cursor))["filter"] == {"gte": since}  # the walk's filter kept
        page = client.get("/contacts", params={"limit": 4, "cursor": cursor}).json()
    assert len(set(seen)) == len(seen) == 20
    assert not set(seen) & {c["id"] for c in sandbox.state.all_contacts()}
    assert client.get(f"/contacts/{seen[0]}").status_code == 404


def test_endless_counts_only_list_requests_as_eligible(sandbox: SandboxServer, client: httpx.Client) -> None:
    """endless@1 skips a first request that is not a list: request 1 answers normally, no fault logged."""
    sandbox.state.set_faults("endless@1")
    assert client.get("/contacts/101").status_code == 200
    assert client.get("/contacts").json()["data"] != []
    assert [entry.fault for entry in sandbox.state.request_log()] == [None, None]


def test_trickle_writes_the_answer_one_byte_at_a_time(sandbox: SandboxServer) -> None:
    """trickle=MS: status line, headers and body arrive in many pieces, at least MS apart per byte."""
    sandbox.state.set_faults("trickle=4@1")
    request = (
        f"GET /api/external/v2/contacts?limit=1&fields=id HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {sandbox.token}\r\nX-Origin-App: t\r\n\r\n"
    ).encode()
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=60) as raw:
        raw.sendall(request)
        started = time.monotonic()
        while chunk := raw.recv(65536):
            chunks.append(chunk)
        elapsed = time.monotonic() - started
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in head
    assert json.loads(body)["data"][0]["id"] == 101
    assert len(chunks) >= 10
    assert elapsed >= len(answer) * 0.004 * 0.9  # the pauses are sleeps: a lower bound holds
    assert sandbox.state.request_log()[-1].fault == "trickle=4"


@pytest.mark.parametrize("target", ["/contacts/101", "/contacts?limit=3"])
def test_surrogate_puts_a_lone_surrogate_escape_in_the_first_contact(
    sandbox: SandboxServer, client: httpx.Client, target: str
) -> None:
    """surrogate: valid UTF-8 JSON whose first contact's title decodes to a str UTF-8 cannot encode."""
    stored = sandbox.state.contact(101)
    assert stored is not None
    sandbox.state.set_faults("surrogate@1")
    response = client.get(target)
    assert response.status_code == 200
    assert b"\\ud800" in response.content
    data = response.json()["data"]
    first = data[0] if isinstance(data, list) else data
    assert first["title"] == (stored["title"] or "") + "\ud800"
    with pytest.raises(UnicodeEncodeError):
        first["title"].encode()
    if isinstance(data, list):
        assert all("\ud800" not in (row["title"] or "") for row in data[1:])
    assert sandbox.state.contact(101) == stored  # the wire only


def test_nul_and_huge_poison_the_title(sandbox: SandboxServer, client: httpx.Client) -> None:
    """nul ends the title in U+0000 (JSON \\u0000); huge makes it 70,000 characters; per request number."""
    sandbox.state.set_faults("nul@1,huge@3")
    nul = client.get("/contacts/101")
    assert b"\\u0000" in nul.content and nul.json()["data"]["title"].endswith("\x00")
    assert "\x00" not in (client.get("/contacts/101").json()["data"]["title"] or "")
    huge = client.get("/contacts/101").json()["data"]["title"]
    assert len(huge) == HUGE_LENGTH == 70_000


def test_a_poisoned_write_answer_is_applied_and_replayed_clean(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """surrogate on a POST spoils only the answer: the contact is created, a replay of the key is clean."""
    sandbox.state.set_faults("surrogate@1/POST")
    headers = {"Idempotency-Key": "k-surrogate"}
    first = client.post("/contacts", json={**CREATE, "title": "CFO"}, headers=headers)
    assert first.status_code == 201 and first.json()["data"]["title"] == "CFO\ud800"
    again = client.post("/contacts", json={**CREATE, "title": "CFO"}, headers=headers)
    assert again.json()["data"] == {**first.json()["data"], "title": "CFO"}


@pytest.mark.parametrize(("spec", "status"), [("echo-token@1", 400), ("echo-token=422@1/POST", 422)])
def test_echo_token_answers_an_error_quoting_the_authorization_header(
    sandbox: SandboxServer, client: httpx.Client, spec: str, status: int
) -> None:
    """echo-token: an error envelope whose message carries the bearer token; nothing is applied."""
    sandbox.state.set_faults(spec)
    before = len(sandbox.state.all_contacts())
    response = client.post("/contacts", json=CREATE)
    assert response.status_code == status
    assert f"Bearer {sandbox.token}" in error_of(response)["message"]
    assert len(sandbox.state.all_contacts()) == before
    assert client.post("/contacts", json=CREATE).status_code == 201


def test_trickle_adds_to_another_fault(sandbox: SandboxServer) -> None:
    """trickle is a modifier like slow: with 503 on the same request both apply and both are logged."""
    sandbox.state.set_faults("trickle=1@1,503@1")
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as http:
        response = http.get(
            "/contacts", headers={"Authorization": f"Bearer {sandbox.token}", "X-Origin-App": "t"}
        )
    assert response.status_code == 503
    assert sandbox.state.request_log()[-1].fault == "trickle=1,503"
