"""Idempotency-Key on POST and PATCH."""

from __future__ import annotations

import json
import uuid

import httpx

from sync.apis.lev.sandbox import SandboxServer
from tests.sandbox.helpers import error_of


def _all_ids(sandbox: SandboxServer) -> set[int]:
    return {c["id"] for c in sandbox.state.all_contacts()}


def test_same_key_same_body_replays_without_applying_again(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """A retried create with the same key and body replays the first answer and creates once."""
    key = str(uuid.uuid4())
    before = _all_ids(sandbox)
    body = {"contact_type": "sponsor", "company_id": 1, "first_name": "Once"}
    first = client.post("/contacts", json=body, headers={"Idempotency-Key": key})
    # Same JSON, different whitespace and key order.
    spaced = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    again = client.post(
        "/contacts",
        content=spaced,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(_all_ids(sandbox) - before) == 1


def test_patch_replay_does_not_move_updated_at(client: httpx.Client) -> None:
    """A replayed PATCH returns the first answer, request_id included, and changes nothing."""
    key = str(uuid.uuid4())
    first = client.patch("/contacts/101", json={"title": "A"}, headers={"Idempotency-Key": key})
    client.patch("/contacts/101", json={"title": "B"})
    again = client.patch("/contacts/101", json={"title": "A"}, headers={"Idempotency-Key": key})
    assert again.json() == first.json()
    assert client.get("/contacts/101").json()["data"]["title"] == "B"


def test_same_key_different_body_is_409(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Reusing a key with another body is 409 conflict and applies nothing."""
    key = str(uuid.uuid4())
    body = {"contact_type": "sponsor", "company_id": 1, "first_name": "A"}
    assert client.post("/contacts", json=body, headers={"Idempotency-Key": key}).status_code == 201
    before = _all_ids(sandbox)
    other = client.post("/contacts", json={**body, "first_name": "B"}, headers={"Idempotency-Key": key})
    assert other.status_code == 409
    assert error_of(other)["type"] == "conflict"
    assert _all_ids(sandbox) == before


def test_writes_without_a_key_apply_each_time(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Two identical creates without a key create two contacts."""
    before = _all_ids(sandbox)
    body = {"contact_type": "sponsor", "company_id": 1}
    client.post("/contacts", json=body)
    client.post("/contacts", json=body)
    assert len(_all_ids(sandbox) - before) == 2
