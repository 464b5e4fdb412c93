"""Edges of the HTTP layer itself."""

from __future__ import annotations

import json
import socket

import httpx

from sync.apis.lev.sandbox.testing import running_sandbox


def test_a_request_cut_off_mid_body_is_neither_applied_nor_remembered_under_its_key() -> None:
    """A client killed after its headers leaves nothing behind; its resend then succeeds."""
    with running_sandbox(contacts=5) as sandbox:
        body = json.dumps({"contact_type": "sponsor", "company_id": 1, "first_name": "Cut"}).encode()
        head = (
            "POST /api/external/v2/contacts HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {sandbox.token}\r\nX-Origin-App: t\r\nIdempotency-Key: k-1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", sandbox.port)) as raw:
            raw.sendall(head + body[:10])
        headers = {
            "Authorization": f"Bearer {sandbox.token}",
            "X-Origin-App": "t",
            "Idempotency-Key": "k-1",
            "Content-Type": "application/json",
        }
        with httpx.Client(base_url=sandbox.base_url) as client:
            answer = client.post("/contacts", content=body, headers=headers)
        assert answer.status_code == 201
        assert [c["first_name"] for c in sandbox.state.all_contacts()].count("Cut") == 1
