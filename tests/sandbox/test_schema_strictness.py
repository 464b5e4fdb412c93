"""The sandbox accepts exactly what the published request schemas allow, and nothing in HTML."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.apis.lev.sandbox import SandboxServer
from sync.apis.lev.sandbox.contacts import TEXT_FIELDS
from tests.conftest import synced_harness
from tests.openapi_check import validate_request
from tests.sandbox.helpers import error_of

PATCH_PATH = "/api/external/v2/contacts/101"
POST_PATH = "/api/external/v2/contacts"


@pytest.mark.parametrize("name", sorted(TEXT_FIELDS))
def test_null_for_a_text_field_is_422_as_the_schema_says(client: httpx.Client, name: str) -> None:
    """PATCH and POST with a text field set to null answer 422 naming it ("" clears); the document agrees."""
    patched = client.patch("/contacts/101", json={name: None})
    assert patched.status_code == 422
    assert name in error_of(patched)["message"] and '""' in error_of(patched)["message"]
    cleared = client.patch("/contacts/101", json={name: ""} if name != "email" else {"title": ""})
    assert cleared.status_code == 200
    created = client.post("/contacts", json={"contact_type": "sponsor", "company_id": 1, name: None})
    assert created.status_code == 422
    assert name in error_of(created)["message"]
    headers = {"Authorization": "Bearer lev_sk_x", "X-Origin-App": "t", "Content-Type": "application/json"}
    with pytest.raises(AssertionError):
        validate_request("PATCH", PATCH_PATH, headers, f'{{"{name}": null}}'.encode())


@pytest.mark.parametrize("key", ["type", "country", "extension"])
def test_null_inside_a_phone_is_422_naming_the_phone(client: httpx.Client, key: str) -> None:
    """PhoneIn has no null either: a phone with a null member is 422 naming phones[i].key."""
    phones: list[dict[str, Any]] = [{"raw": "2125550100"}, {"raw": "2125550101", key: None}]
    response = client.patch("/contacts/101", json={"phones": phones})
    assert response.status_code == 422
    assert f"phones[1].{key}" in error_of(response)["message"]


def test_a_sync_that_clears_fields_is_accepted_by_the_sandbox(tmp_path: Path) -> None:
    """NULL written locally reaches the API in a form the schema allows: no rejection, the fields cleared."""
    with synced_harness(tmp_path, contacts=30, seed=5) as h:
        row = h.table.execute("SELECT * FROM contacts WHERE title IS NOT NULL AND phones != '[]' LIMIT 1")[0]
        h.table.update(row["local_id"], title=None, city=None, phones=None)
        result = h.sync()
        assert result.outcome == "ok", result.error
        assert result.counts["rejected"] == 0
        remote = h.remote(row["id"])
        assert (remote["title"] or "", remote["city"] or "", remote["phones"]) == ("", "", [])
        patches = [e for e in h.sandbox.state.request_log() if e.method == "PATCH"]
        assert [e.status for e in patches] == [200]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "FOO", "HEAD"])
def test_a_method_no_route_takes_is_405_in_the_json_envelope(client: httpx.Client, method: str) -> None:
    """Any other method on a contacts path is 405 with an Allow header, as JSON (HEAD: no body)."""
    response = client.request(method, "/contacts")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert response.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        error = error_of(response)
        assert error["type"] == "method_not_allowed"
        assert method in error["message"]
    on_one = client.request(method, "/contacts/101")
    assert on_one.status_code == 405
    assert on_one.headers["Allow"] == "GET, PATCH"


def test_an_unknown_path_is_404_whatever_the_method(client: httpx.Client) -> None:
    """A path no route has stays 404 (JSON), also for a method http.server does not know."""
    for method in ("GET", "FOO"):
        response = client.request(method, "/nowhere")
        assert response.status_code == 404
        assert error_of(response)["type"] == "not_found"


def test_a_malformed_request_line_gets_the_json_envelope(sandbox: SandboxServer) -> None:
    """Protocol errors http.server answers itself (here an unsupported HTTP version) are JSON too."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        raw.sendall(b"GET /api/external/v2/contacts HTTP/2.7\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 505 ")
    assert b"Content-Type: application/json" in head
    assert b'"status":505' in body and b"<html" not in body.lower()
