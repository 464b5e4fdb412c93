"""Envelope, authentication, required headers, /health and /me."""

from __future__ import annotations

import uuid

import httpx

from sync.apis.lev.sandbox import SandboxServer, running_sandbox
from tests.sandbox.helpers import api_client, error_of, parse_ts


def test_success_envelope_has_fresh_uuid4_request_id_and_timestamp(client: httpx.Client) -> None:
    """Every success answer is {request_id (uuid4), timestamp (ISO Z), data} as JSON."""
    first = client.get("/contacts/101")
    second = client.get("/contacts/101")
    assert first.headers["content-type"] == "application/json"
    body = first.json()
    assert set(body) == {"request_id", "timestamp", "data"}
    assert uuid.UUID(body["request_id"]).version == 4
    assert body["timestamp"].endswith("Z")
    parse_ts(body["timestamp"])
    assert body["request_id"] != second.json()["request_id"]


def test_error_envelope_shape(client: httpx.Client) -> None:
    """Errors carry {request_id, error: {status, type, message, details}} and no data."""
    response = client.get("/contacts/999999")
    body = response.json()
    assert set(body) == {"request_id", "error"}
    assert uuid.UUID(body["request_id"]).version == 4
    assert body["error"] == {
        "status": 404,
        "type": "not_found",
        "message": "Contact not found",
        "details": {},
    }


def test_missing_or_wrong_token_is_401(sandbox: SandboxServer) -> None:
    """No Authorization, a wrong token or a non-Bearer scheme all get 401 Authentication required."""
    with httpx.Client(base_url=sandbox.base_url, headers={"X-Origin-App": "t"}) as http:
        for headers in (
            {},
            {"Authorization": "Bearer lev_sk_wrong"},
            {"Authorization": f"Basic {sandbox.token}"},
        ):
            response = http.get("/contacts", headers=headers)
            assert response.status_code == 401
            error = error_of(response)
            assert (error["type"], error["message"]) == ("unauthorized", "Authentication required")


def test_default_token_looks_like_a_lev_api_key(sandbox: SandboxServer) -> None:
    """Without a configured token the sandbox generates one with the lev_sk_ prefix."""
    assert sandbox.token.startswith("lev_sk_sandbox_")
    with running_sandbox(contacts=1, token="lev_sk_fixed") as other:
        assert other.token == "lev_sk_fixed"


def test_missing_x_origin_app_is_400_naming_the_header(sandbox: SandboxServer) -> None:
    """A request without X-Origin-App is 400 bad_request whose message names the header."""
    with httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.token}"}
    ) as http:
        response = http.get("/contacts")
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "bad_request"
    assert "X-Origin-App" in error["message"]


def test_read_only_token_reads_but_cannot_write() -> None:
    """The read_only key can list, but POST is 403 'User not authorized to create contact'."""
    with (
        running_sandbox(contacts=5, read_only_token="lev_sk_ro") as server,
        api_client(server, token="lev_sk_ro") as http,
    ):
        assert http.get("/contacts").status_code == 200
        created = http.post("/contacts", json={"contact_type": "sponsor", "company_id": 1})
        assert created.status_code == 403
        assert error_of(created)["message"] == "User not authorized to create contact"
        patched = http.patch("/contacts/101", json={"title": "x"})
        assert patched.status_code == 403
        assert error_of(patched)["type"] == "forbidden"


def test_health_needs_no_auth(sandbox: SandboxServer) -> None:
    """GET /health answers {"status": "ok"} in the envelope without any headers."""
    response = httpx.get(sandbox.base_url + "/health")
    assert response.status_code == 200
    assert response.json()["data"] == {"status": "ok"}


def test_me_reports_tier_and_rate_limits() -> None:
    """GET /me gives platform.api_tier and platform.rate_limits for the configured tier."""
    with (
        running_sandbox(contacts=1, tier="free", window_seconds=7) as server,
        api_client(server) as http,
    ):
        platform = http.get("/me").json()["data"]["platform"]
    assert platform["api_tier"] == "free"
    assert platform["rate_limits"] == {
        "account_per_window": 30,
        "endpoint_per_window": 10,
        "window_seconds": 7,
    }


def test_unknown_route_is_404_envelope(client: httpx.Client) -> None:
    """Paths the API does not have (e.g. the docs' /build/contacts) are 404 not_found."""
    response = client.get("/build/contacts")
    assert response.status_code == 404
    assert error_of(response)["type"] == "not_found"
