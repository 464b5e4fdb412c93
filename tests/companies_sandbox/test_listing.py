"""GET /contacts?company_id=&skip=&limit=: created order, offsets that shift live, limits and 422s."""

from __future__ import annotations

import httpx
import pytest

from sync.apis.companies.sandbox import CompaniesServer, running_sandbox
from tests.companies_sandbox.helpers import api_client, error_types, first_company, listed_ids, parse_ts

OWN = "<the client's own company>"


def test_list_is_a_bare_array_in_created_order(
    sandbox: CompaniesServer, client: httpx.Client, company: str
) -> None:
    """The answer is a JSON array of the company's contacts only, oldest created first."""
    response = client.get("/contacts", params={"company_id": company})
    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list) and len(rows) == 12
    assert {row["company_id"] for row in rows} == {company}
    created = [parse_ts(row["created_at"]) for row in rows]
    assert created == sorted(created)
    assert rows == sandbox.state.all_contacts(company)


def test_skip_and_limit_walk_every_contact_once(client: httpx.Client, company: str) -> None:
    """Pages of limit 5 at skip 0, 5, 10 cover the company exactly once; a short page ends the walk."""
    everything = listed_ids(client, company)
    walked: list[str] = []
    skip = 0
    while True:
        page = listed_ids(client, company, skip=skip, limit=5)
        walked += page
        if len(page) < 5:
            break
        skip += 5
    assert walked == everything
    assert listed_ids(client, company, skip=100) == []
    assert listed_ids(client, company, limit=0) == []


def test_default_limit_is_100() -> None:
    """Without limit, a page holds 100 contacts; skip defaults to 0."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=130) as server,
        api_client(server) as http,
    ):
        company = first_company(server)
        page = listed_ids(http, company)
        assert len(page) == 100
        assert page == [row["id"] for row in server.state.all_contacts(company)[:100]]
        assert len(listed_ids(http, company, skip=100)) == 30


def test_new_contacts_join_the_end_of_the_order(client: httpx.Client, company: str) -> None:
    """A contact created through the API is listed last."""
    before = listed_ids(client, company)
    created = client.post(
        "/contacts", json={"company_id": company, "first_name": "Late", "email": "l@acme.com"}
    )
    assert listed_ids(client, company) == [*before, created.json()["id"]]


def test_a_delete_during_a_walk_makes_the_next_page_skip_a_contact(
    client: httpx.Client, admin: httpx.Client, company: str
) -> None:
    """Offsets are live: deleting a contact already seen shifts the rest back, so one is never seen."""
    everything = listed_ids(client, company)
    first_page = listed_ids(client, company, skip=0, limit=5)
    assert admin.delete(f"/contacts/{first_page[0]}").status_code == 204
    second_page = listed_ids(client, company, skip=5, limit=5)
    assert second_page == everything[6:11]
    missed = everything[5]
    assert missed not in first_page + second_page
    assert client.get(f"/contacts/{missed}").status_code == 200


def test_a_backdated_create_during_a_walk_repeats_a_contact(
    client: httpx.Client, admin: httpx.Client, company: str
) -> None:
    """A contact created earlier in the order (an import with an old created_at) shifts the rest on."""
    everything = listed_ids(client, company)
    first_page = listed_ids(client, company, skip=0, limit=5)
    imported = admin.post(
        "/contacts",
        json={
            "company_id": company,
            "first_name": "Old",
            "email": "old@acme.com",
            "created_at": "2020-01-01T00:00:00Z",
        },
    )
    assert imported.status_code == 201
    assert imported.json()["created_at"] == "2020-01-01T00:00:00Z"
    second_page = listed_ids(client, company, skip=5, limit=5)
    assert second_page[0] == first_page[-1]
    assert listed_ids(client, company)[0] == imported.json()["id"]
    assert len(listed_ids(client, company)) == len(everything) + 1


def test_an_edit_during_a_walk_moves_nothing(client: httpx.Client, admin: httpx.Client, company: str) -> None:
    """Editing a contact (updated_at moves) keeps its place: the order is by creation, not update."""
    everything = listed_ids(client, company)
    admin.patch(f"/contacts/{everything[0]}", json={"first_name": "Edited"})
    assert listed_ids(client, company) == everything


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"skip": "0"}, [("missing", ("query", "company_id"))]),
        ({"company_id": "acme"}, [("uuid_parsing", ("query", "company_id"))]),
        ({"company_id": OWN, "limit": "101"}, [("less_than_equal", ("query", "limit"))]),
        ({"company_id": OWN, "limit": "-1"}, [("greater_than_equal", ("query", "limit"))]),
        ({"company_id": OWN, "skip": "-5"}, [("greater_than_equal", ("query", "skip"))]),
        ({"company_id": OWN, "skip": "ten"}, [("int_parsing", ("query", "skip"))]),
        (
            {"company_id": "", "limit": "1000", "skip": "x"},
            [
                ("uuid_parsing", ("query", "company_id")),
                ("int_parsing", ("query", "skip")),
                ("less_than_equal", ("query", "limit")),
            ],
        ),
    ],
)
def test_bad_queries_are_422(
    client: httpx.Client, company: str, params: dict[str, str], expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    """A missing or bad company_id, a limit above 100 or negative, a bad skip: 422, all problems listed."""
    query = {name: company if value == OWN else value for name, value in params.items()}
    response = client.get("/contacts", params=query)
    assert error_types(response) == expected
    if ("less_than_equal", ("query", "limit")) in expected:
        item = next(i for i in response.json()["detail"] if i["type"] == "less_than_equal")
        assert item["ctx"] == {"le": 100}


def test_max_limit_is_a_constructor_switch() -> None:
    """max_limit=20 makes limit=21 a 422 (ctx le 20), limit=20 fine, and the default page 20 long."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=30, max_limit=20) as server,
        api_client(server) as http,
    ):
        company = first_company(server)
        refused = http.get("/contacts", params={"company_id": company, "limit": 21})
        assert refused.json()["detail"][0]["ctx"] == {"le": 20}
        assert len(listed_ids(http, company, limit=20)) == 20
        assert len(listed_ids(http, company)) == 20
