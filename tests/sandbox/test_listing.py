"""GET /contacts: cursor and offset pagination, limits, sparse fieldsets, connection filter."""

from __future__ import annotations

import base64
import json

import httpx

from sync.apis.lev.sandbox import SandboxServer, running_sandbox
from tests.sandbox.helpers import api_client, error_of


def _connected_ids(sandbox: SandboxServer) -> list[int]:
    return [c["id"] for c in sandbox.state.all_contacts() if c["is_connected"]]


def test_cursor_paging_sees_each_connected_contact_once_despite_changes(
    sandbox: SandboxServer, client: httpx.Client, admin: httpx.Client
) -> None:
    """Walking the cursor while contacts are edited and created yields every connected one once."""
    before = _connected_ids(sandbox)
    seen: list[int] = []
    cursor = None
    created_id = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/contacts", params=params).json()
        seen += [row["id"] for row in page["data"]]
        pages += 1
        if pages == 2:
            # Another user edits a contact already seen and one not yet seen...
            admin.patch(f"/contacts/{before[0]}", json={"title": "Edited"})
            admin.patch(f"/contacts/{before[-1]}", json={"title": "Edited too"})
            # ...and adds a connected contact, which must show up at the end.
            created_id = admin.post("/contacts", json={"first_name": "New"}).json()["data"]["id"]
        if not page["pagination"]["has_more"]:
            assert page["pagination"]["next_cursor"] is None
            break
        cursor = page["pagination"]["next_cursor"]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert set(seen) == {*before, created_id}
    assert seen[-1] == created_id


def test_cursor_is_base64_of_last_id(client: httpx.Client) -> None:
    """next_cursor decodes to {"id": <last id on the page>}, like the docs' example cursor."""
    page = client.get("/contacts", params={"limit": 3}).json()
    decoded = json.loads(base64.b64decode(page["pagination"]["next_cursor"]))
    assert decoded == {"id": page["data"][-1]["id"]}
    assert page["pagination"]["limit"] == 3
    assert page["pagination"]["total"] >= len(page["data"])


def test_invalid_cursor_is_400(client: httpx.Client) -> None:
    """A cursor that is not one the server issued is 400 bad_request 'invalid cursor'."""
    for cursor in ("not-base64!", base64.b64encode(b"[1]").decode(), "eyJ4IjogMX0="):
        response = client.get("/contacts", params={"cursor": cursor})
        assert response.status_code == 400
        assert error_of(response)["message"] == "invalid cursor"


def test_limit_defaults_to_50_and_must_be_1_to_200() -> None:
    """limit defaults to 50; 0, 201 and non-integers are 400; 1 and 200 are fine."""
    with running_sandbox(contacts=120) as server, api_client(server) as http:
        default = http.get("/contacts").json()
        assert default["pagination"]["limit"] == 50
        assert len(default["data"]) == 50
        assert len(http.get("/contacts", params={"limit": 200}).json()["data"]) > 100
        assert len(http.get("/contacts", params={"limit": 1}).json()["data"]) == 1
        for bad in ("0", "201", "ten", "1.5", ""):
            response = http.get("/contacts", params={"limit": bad})
            assert response.status_code == 400, bad
            assert error_of(response)["type"] == "bad_request"


def test_cursor_and_sort_together_is_400(client: httpx.Client) -> None:
    """cursor + sort is 400 with the documented message."""
    cursor = client.get("/contacts", params={"limit": 2}).json()["pagination"]["next_cursor"]
    response = client.get("/contacts", params={"cursor": cursor, "sort": "last_name"})
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "cursor and sort cannot be combined; use offset pagination when sorting"
    )


def test_sort_switches_to_offset_pagination(client: httpx.Client) -> None:
    """With sort, pages come by offset in sorted order with {total, limit, offset, has_more}."""
    first = client.get("/contacts", params={"sort": "-updated_at", "limit": 10}).json()
    second = client.get("/contacts", params={"sort": "-updated_at", "limit": 10, "offset": 10}).json()
    assert set(second["pagination"]) == {"total", "limit", "offset", "has_more"}
    assert second["pagination"]["offset"] == 10
    stamps = [row["updated_at"] for row in first["data"] + second["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert not {r["id"] for r in first["data"]} & {r["id"] for r in second["data"]}
    bad = client.get("/contacts", params={"sort": "no_such_field"})
    assert bad.status_code == 400


def test_fields_gives_sparse_rows_with_id(client: httpx.Client) -> None:
    """fields=a,b returns only those fields plus id."""
    rows = client.get("/contacts", params={"fields": "email,updated_at"}).json()["data"]
    assert rows
    assert all(set(row) == {"id", "email", "updated_at"} for row in rows)
    assert client.get("/contacts", params={"fields": "email,nope"}).status_code == 400


def test_unconnected_contacts_are_not_listed(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Only is_connected contacts are listed; the total counts only them."""
    everyone = sandbox.state.all_contacts()
    unconnected = {c["id"] for c in everyone if not c["is_connected"]}
    assert unconnected, "the seed should include unconnected contacts"
    page = client.get("/contacts", params={"limit": 200}).json()
    listed = {row["id"] for row in page["data"]}
    assert not listed & unconnected
    assert page["pagination"]["total"] == len(everyone) - len(unconnected)
    assert all(row["is_connected"] for row in page["data"])
    assert all("company_id" not in row for row in page["data"])
