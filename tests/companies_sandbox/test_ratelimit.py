"""Rate limits per client: POST /contacts and the general bucket, short windows, the Retry-After switch."""

from __future__ import annotations

import time

import httpx

from sync.apis.companies.sandbox import CompaniesState, running_sandbox
from tests.companies_sandbox.helpers import api_client, first_company

LIMITED = {"detail": "Rate limit exceeded"}


def _create(http: httpx.Client, company: str) -> httpx.Response:
    return http.post("/contacts", json={"company_id": company, "first_name": "R", "email": "r@acme.com"})


def test_post_bucket_is_separate_and_a_refused_post_is_not_applied() -> None:
    """With post_limit 3 the 4th POST is 429 (no Retry-After by default) and not stored; GETs still pass."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=2, post_limit=3, general_limit=50,
                        window_seconds=1.0) as server,
        api_client(server) as http,
    ):  # fmt: skip
        company = first_company(server)
        assert [_create(http, company).status_code for _ in range(3)] == [201] * 3
        refused = _create(http, company)
        assert (refused.status_code, refused.json()) == (429, LIMITED)
        assert "retry-after" not in refused.headers
        assert len(server.state.all_contacts()) == 5
        assert http.get("/contacts", params={"company_id": company}).status_code == 200
        time.sleep(1.2)
        assert _create(http, company).status_code == 201


def test_general_bucket_spans_every_other_route() -> None:
    """List, get, patch and delete share one general budget; the next of any of them is 429."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=3, post_limit=50, general_limit=4,
                        window_seconds=30.0) as server,
        api_client(server) as http,
    ):  # fmt: skip
        company = first_company(server)
        ids = [row["id"] for row in server.state.all_contacts(company)]
        assert http.get("/contacts", params={"company_id": company}).status_code == 200
        assert http.get(f"/contacts/{ids[0]}").status_code == 200
        assert http.patch(f"/contacts/{ids[0]}", json={"designation": "CEO"}).status_code == 200
        assert http.delete(f"/contacts/{ids[1]}").status_code == 204
        for response in (http.get(f"/contacts/{ids[0]}"), http.delete(f"/contacts/{ids[2]}")):
            assert (response.status_code, response.json()) == (429, LIMITED)
        assert server.state.contact(ids[2]) is not None
        # POST has its own bucket.
        assert _create(http, company).status_code == 201
        assert server.state.counter_values()["rate_limited"] == 2


def test_limits_are_per_client_token_or_address() -> None:
    """Each token has its own budget; requests without a token share their address's budget."""
    with running_sandbox(
        accounts=2, companies=2, contacts_per_company=1, general_limit=2, window_seconds=30.0
    ) as server:
        one, two = server.state.accounts
        contact_id = server.state.all_contacts()[0]["id"]
        with (
            api_client(server, token=one.token) as first,
            api_client(server, token=two.token) as second,
            api_client(server, auth=False) as anonymous,
            api_client(server, auth=False) as anonymous_again,
        ):
            assert [first.get(f"/contacts/{contact_id}").status_code for _ in range(3)] == [200, 200, 429]
            assert [second.get(f"/contacts/{contact_id}").status_code for _ in range(2)] == [200, 200]
            assert anonymous.get(f"/contacts/{contact_id}").status_code == 200
            assert anonymous_again.get(f"/contacts/{contact_id}").status_code == 200
            assert anonymous.get(f"/contacts/{contact_id}").status_code == 429


def test_retry_after_header_switch_and_refusals_use_no_budget() -> None:
    """With retry_after_header a 429 carries Retry-After in whole seconds; refusals do not extend the wait."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=1, general_limit=2, window_seconds=1.0,
                        retry_after_header=True) as server,
        api_client(server) as http,
    ):  # fmt: skip
        contact_id = server.state.all_contacts()[0]["id"]
        assert [http.get(f"/contacts/{contact_id}").status_code for _ in range(2)] == [200, 200]
        refused = [http.get(f"/contacts/{contact_id}") for _ in range(5)]
        assert {r.status_code for r in refused} == {429}
        assert refused[0].headers["retry-after"] == "1"
        time.sleep(1.2)
        assert http.get(f"/contacts/{contact_id}").status_code == 200


def test_published_limits_are_the_default() -> None:
    """A default state admits 60 POSTs and 120 other requests a minute per client, then 429s."""
    state = CompaniesState(accounts=1, companies=1, contacts_per_company=1)
    assert (state.settings()["post_limit"], state.settings()["general_limit"]) == (60, 120)
    with running_sandbox(state=state) as server, api_client(server) as http:
        company = first_company(server)
        posts = [_create(http, company).status_code for _ in range(61)]
        assert posts == [201] * 60 + [429]
        contact_id = server.state.all_contacts()[0]["id"]
        gets = [http.get(f"/contacts/{contact_id}").status_code for _ in range(121)]
        assert gets == [200] * 120 + [429]


def test_admin_resets_the_windows() -> None:
    """POST /_admin/limits/reset empties every window at once."""
    with (
        running_sandbox(
            accounts=1, companies=1, contacts_per_company=1, general_limit=1, window_seconds=60.0
        ) as server,
        api_client(server) as http,
    ):
        contact_id = server.state.all_contacts()[0]["id"]
        assert [http.get(f"/contacts/{contact_id}").status_code for _ in range(2)] == [200, 429]
        assert httpx.post(server.admin_url + "/limits/reset").status_code == 200
        assert http.get(f"/contacts/{contact_id}").status_code == 200
