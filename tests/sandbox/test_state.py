"""SandboxState and the request pipeline without sockets, and under concurrent use."""

from __future__ import annotations

import threading
import uuid

from sync.apis.lev.sandbox import SandboxServer, SandboxState
from sync.apis.lev.sandbox.api import IncomingRequest, handle_api
from tests.sandbox.helpers import api_client


def test_state_operations_return_replies_without_a_server() -> None:
    """list/create/patch on SandboxState return (status, envelope) directly."""
    state = SandboxState(contacts=10, seed=1, tier="unlimited")
    listed = state.list_contacts({"limit": "3"})
    assert listed.status == 200
    assert listed.body is not None and len(listed.body["data"]) == 3
    created = state.create_contact({"contact_type": "sponsor", "company_id": 1})
    assert created.status == 201 and created.body is not None
    contact_id = created.body["data"]["id"]
    assert state.patch_contact(str(contact_id), {"email": "x@y.z"}).status == 409
    assert state.patch_contact(str(contact_id), {"title": "T"}).status == 200
    assert state.get_contact("nope").status == 404


def test_pipeline_handles_a_request_without_a_socket() -> None:
    """handle_api answers and logs an IncomingRequest; a drop fault yields no reply."""
    state = SandboxState(contacts=5, tier="unlimited", faults="drop-before@2")
    headers = {"Authorization": f"Bearer {state.token}", "X-Origin-App": "t"}
    first = handle_api(state, IncomingRequest("GET", "/api/external/v2/contacts?limit=2", headers))
    assert first.reply is not None and first.reply.status == 200
    second = handle_api(state, IncomingRequest("GET", "/api/external/v2/contacts", headers))
    assert second.reply is None
    assert [e.status for e in state.request_log()] == [200, None]
    assert state.request_log()[0].header("authorization") == "Bearer REDACTED"


def test_concurrent_retries_with_one_key_create_one_contact(sandbox: SandboxServer) -> None:
    """Eight threads sending the same keyed create at once produce exactly one contact."""
    key = str(uuid.uuid4())
    statuses: list[int] = []
    body = {"contact_type": "sponsor", "company_id": 1, "first_name": "Raced"}

    def send() -> None:
        with api_client(sandbox) as http:
            for _ in range(5):
                statuses.append(
                    http.post("/contacts", json=body, headers={"Idempotency-Key": key}).status_code
                )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 40
    assert sum(c["first_name"] == "Raced" for c in sandbox.state.all_contacts()) == 1
