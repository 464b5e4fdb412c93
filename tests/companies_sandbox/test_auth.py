"""Bearer tokens, accounts and company ownership: who may list and delete."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sync.apis.companies.sandbox import CompaniesServer, CompaniesState, running_sandbox
from tests.companies_sandbox.helpers import api_client, first_company, listed_ids

FORBIDDEN = {"detail": "Not enough permissions to access this company's contacts"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Not authenticated"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Not authenticated"),
        ({"Authorization": "Bearer"}, "Not authenticated"),
        ({"Authorization": "Bearer cmp_sk_sandbox_wrong"}, "Could not validate credentials"),
    ],
)
def test_list_and_delete_need_a_known_bearer_token(
    sandbox: CompaniesServer, company: str, headers: dict[str, str], message: str
) -> None:
    """Without a valid Bearer token, list and delete are 401 with WWW-Authenticate and delete nothing."""
    contact_id = sandbox.state.all_contacts(company)[0]["id"]
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as http:
        for response in (
            http.get("/contacts", params={"company_id": company}),
            http.delete(f"/contacts/{contact_id}"),
        ):
            assert (response.status_code, response.json()) == (401, {"detail": message})
            assert response.headers["www-authenticate"] == "Bearer"
    assert sandbox.state.contact(contact_id) is not None


def test_auth_is_checked_before_the_query(sandbox: CompaniesServer) -> None:
    """A request with no token and no company_id is 401, not 422 (the security dependency runs first)."""
    with api_client(sandbox, auth=False) as anonymous:
        assert anonymous.get("/contacts").status_code == 401


def test_each_token_lists_only_its_own_companies(sandbox: CompaniesServer) -> None:
    """Account 1 is refused account 2's company and vice versa (403); each lists its own."""
    one, two = sandbox.state.accounts
    with api_client(sandbox, token=one.token) as first, api_client(sandbox, token=two.token) as second:
        for company in one.company_ids:
            assert len(listed_ids(first, company)) == 12
            refused = second.get("/contacts", params={"company_id": company})
            assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
        for company in two.company_ids:
            assert len(listed_ids(second, company)) == 12
            assert first.get("/contacts", params={"company_id": company}).status_code == 403


def test_an_unknown_company_is_403_like_someone_elses(client: httpx.Client) -> None:
    """Listing a company that does not exist is the same 403, so ids cannot be probed."""
    response = client.get("/contacts", params={"company_id": str(uuid.uuid4())})
    assert (response.status_code, response.json()) == (403, FORBIDDEN)


def test_validation_comes_before_ownership(client: httpx.Client, sandbox: CompaniesServer) -> None:
    """Someone else's company with limit=500 is 422: validation comes before the ownership check."""
    other = first_company(sandbox, account=2)
    assert client.get("/contacts", params={"company_id": other, "limit": 500}).status_code == 422


def test_public_routes_need_no_token(sandbox: CompaniesServer, company: str) -> None:
    """GET one, POST and PATCH work without any Authorization header, as documented."""
    with api_client(sandbox, auth=False) as anonymous:
        created = anonymous.post(
            "/contacts", json={"company_id": company, "first_name": "P", "email": "p@acme.com"}
        )
        assert created.status_code == 201
        contact_id = created.json()["id"]
        assert anonymous.get(f"/contacts/{contact_id}").status_code == 200
        assert anonymous.patch(f"/contacts/{contact_id}", json={"last_name": "Q"}).status_code == 200


def test_any_account_may_delete(sandbox: CompaniesServer) -> None:
    """DELETE needs a valid token but (the docs name no 403) not ownership of the contact's company."""
    other_company_contact = sandbox.state.all_contacts(first_company(sandbox, account=2))[0]["id"]
    with api_client(sandbox) as first:
        assert first.delete(f"/contacts/{other_company_contact}").status_code == 204


def test_given_tokens_are_used_in_order_and_checked() -> None:
    """tokens= names the first accounts' tokens; the rest are generated; bad token lists are refused."""
    with running_sandbox(
        accounts=3, companies=3, contacts_per_company=1, tokens=["tok-a", "tok-b"]
    ) as server:
        tokens = [account.token for account in server.state.accounts]
        assert tokens[:2] == ["tok-a", "tok-b"]
        assert tokens[2].startswith("cmp_sk_sandbox_") and len(tokens[2]) > 30
        with api_client(server, token="tok-b") as http:
            assert len(listed_ids(http, first_company(server, account=2))) == 1
    for bad in (["a", "a"], ["a", "b", "c", "d"], [""]):
        with pytest.raises(ValueError, match="tokens"):
            CompaniesState(accounts=3, tokens=bad)
