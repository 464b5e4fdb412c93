"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from sync.apis.lev.sandbox import SandboxServer

ORIGIN_APP = "contacts-sync-tests"


def api_client(server: SandboxServer, *, token: str | None = None) -> httpx.Client:
    """An httpx client sending the documented headers to the sandbox API."""
    return httpx.Client(
        base_url=server.base_url,
        headers={
            "Authorization": f"Bearer {token or server.token}",
            "X-Origin-App": ORIGIN_APP,
        },
        timeout=10.0,
    )


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of an error envelope, checking its status mirrors HTTP's."""
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == response.status_code
    return error


def new_contact(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"contact_type": "lender_contact", "company_id": 1, **fields}
    response = client.post("/contacts", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
