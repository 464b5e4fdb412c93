"""Small helpers shared by the companies sandbox tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from sync.apis.companies.sandbox import CompaniesServer


def api_client(server: CompaniesServer, *, token: str | None = None, auth: bool = True) -> httpx.Client:
    """An httpx client for the sandbox API, with the first account's token unless told otherwise."""
    headers = {"Authorization": f"Bearer {token or server.token}"} if auth else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=10.0)


def first_company(server: CompaniesServer, account: int = 1) -> str:
    return server.state.accounts[account - 1].company_ids[0]


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_contact(client: httpx.Client, company_id: str | None, **fields: Any) -> dict[str, Any]:
    body = {"company_id": company_id, "first_name": "Test", "email": "test@example.com", **fields}
    response = client.post("/contacts", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def listed_ids(client: httpx.Client, company_id: str, **params: Any) -> list[str]:
    response = client.get("/contacts", params={"company_id": company_id, **params})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def error_types(response: httpx.Response) -> list[tuple[str, tuple[str | int, ...]]]:
    """(type, loc) of each item of a FastAPI 422 answer."""
    assert response.status_code == 422, response.text
    return [(item["type"], tuple(item["loc"])) for item in response.json()["detail"]]
