"""GET one, POST and PATCH /contacts: the write rules of the Lev API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.apis.lev.fields import CONTACT_FIELDS
from sync.apis.lev.sandbox import SandboxServer
from tests.sandbox.helpers import error_of, new_contact, parse_ts


def test_get_one_returns_any_contact_including_unconnected(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """GET /contacts/{id} returns connected and unconnected contacts, every documented field."""
    unconnected = next(c for c in sandbox.state.all_contacts() if not c["is_connected"])
    response = client.get(f"/contacts/{unconnected['id']}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["is_connected"] is False
    assert set(data) == set(CONTACT_FIELDS)


def test_get_unknown_or_non_integer_id_is_404(client: httpx.Client) -> None:
    """Unknown ids and ids that are not integers are 404 'Contact not found'."""
    for contact_id in ("999999", "abc", "-5", "1.0"):
        response = client.get(f"/contacts/{contact_id}")
        assert response.status_code == 404, contact_id
        assert error_of(response)["message"] == "Contact not found"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"company_id": 1}, 422, "contact_type is required"),
        ({"contact_type": "lender", "company_id": 1}, 422, "lender_contact, sponsor"),
        ({"contact_type": "sponsor"}, 422, "company_id is required"),
        ({"contact_type": "sponsor", "company_id": "1"}, 422, "company_id must be an integer"),
        ({"contact_type": "sponsor", "company_id": 4242}, 422, "company_id 4242 not found"),
        ({"contact_type": "sponsor", "company_id": 1, "nickname": "x"}, 422, "nickname"),
        ({"contact_type": "sponsor", "company_id": 1, "first_name": 7}, 422, "first_name"),
        ({"contact_type": "sponsor", "company_id": 1, "is_primary": "yes"}, 422, "is_primary"),
        ([{"contact_type": "sponsor"}], 400, "JSON object"),
    ],
)
def test_create_validation_messages(client: httpx.Client, body: Any, status: int, message: str) -> None:
    """Invalid create bodies get the documented status and a message naming the problem."""
    response = client.post("/contacts", json=body)
    assert response.status_code == status
    error = error_of(response)
    assert message in error["message"]
    assert error["type"] == ("validation_error" if status == 422 else "bad_request")


def test_created_contact_is_not_connected_and_not_listed(client: httpx.Client) -> None:
    """A created contact comes back 201, is_connected false, owned by the account, not listed."""
    created = client.post(
        "/contacts",
        json={"contact_type": "sponsor", "company_id": 2, "first_name": "Zoë", "email": "z@x.io"},
    )
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["is_connected"] is False
    assert data["contact_type"] == "sponsor"
    assert data["contact_types"] == ["sponsor"]
    assert data["owner_account_id"] == 56
    assert data["created_at"] == data["updated_at"]
    assert "company_id" not in data
    assert client.get(f"/contacts/{data['id']}").json()["data"] == data
    listed = client.get("/contacts", params={"limit": 200}).json()["data"]
    assert data["id"] not in {row["id"] for row in listed}


def test_phones_are_normalised_to_e164(client: httpx.Client) -> None:
    """Phones get an id, type default mobile, country default US, E.164 and extension."""
    data = new_contact(
        client,
        phones=[
            {"raw": "(212) 555-0143 x204"},
            {"raw": "020 7946 0958", "country": "GB", "type": "office"},
            {"raw": "+81 3-1234-5678", "type": "fax", "extension": "9", "e164": "+1999"},
        ],
    )
    phones = data["phones"]
    assert [p["e164"] for p in phones] == ["+12125550143", "+442079460958", "+81312345678"]
    assert [p["type"] for p in phones] == ["mobile", "office", "fax"]
    assert [p["country"] for p in phones] == ["US", "GB", "JP"]
    assert [p["extension"] for p in phones] == ["204", None, "9"]
    assert phones[0]["raw"] == "(212) 555-0143 x204"
    assert all(isinstance(p["id"], str) for p in phones)
    assert len({p["id"] for p in phones}) == 3


@pytest.mark.parametrize(
    "phone",
    [{"raw": "not a number"}, {"raw": "12"}, {"raw": "2125550143", "type": "pager"}, {}],
)
def test_bad_phone_is_422_naming_it(client: httpx.Client, phone: dict[str, str]) -> None:
    """An unparseable number, unknown type or missing raw is 422 naming phones[i]."""
    response = client.post(
        "/contacts",
        json={"contact_type": "sponsor", "company_id": 1, "phones": [{"raw": "2125550100"}, phone]},
    )
    assert response.status_code == 422
    assert "phones[1]" in error_of(response)["message"]


def test_patch_accepts_only_documented_fields(client: httpx.Client) -> None:
    """PATCH rejects contact_type, company_id and unknown fields with 422; others apply."""
    for body, word in (
        ({"contact_type": "sponsor"}, "contact_type"),
        ({"company_id": 2}, "company_id"),
        ({"is_connected": True}, "is_connected"),
        ({"title": 5}, "title"),
    ):
        response = client.patch("/contacts/101", json=body)
        assert response.status_code == 422, body
        assert word in error_of(response)["message"]
    response = client.patch("/contacts/101", json={"title": "CFO", "address2": ""})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["title"], data["address2"]) == ("CFO", "")
    assert client.patch("/contacts/999999", json={"title": "x"}).status_code == 404


def test_patch_phones_replaces_the_list_and_empty_clears(client: httpx.Client) -> None:
    """phones in a PATCH replaces the whole list; [] clears it; omitting it keeps it."""
    contact = new_contact(client, phones=[{"raw": "2125550100"}, {"raw": "2125550101"}])
    path = f"/contacts/{contact['id']}"
    replaced = client.patch(path, json={"phones": [{"raw": "+44 20 7946 0958"}]}).json()["data"]
    assert [p["e164"] for p in replaced["phones"]] == ["+442079460958"]
    kept = client.patch(path, json={"title": "x"}).json()["data"]
    assert kept["phones"] == replaced["phones"]
    cleared = client.patch(path, json={"phones": []}).json()["data"]
    assert cleared["phones"] == []


def test_is_primary_demotes_the_previous_primary(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Setting is_primary on one contact demotes the company's previous primary (updated_at moves)."""
    first = new_contact(client, company_id=3, is_primary=True)
    second = new_contact(client, company_id=3)
    promoted = client.patch(f"/contacts/{second['id']}", json={"is_primary": True})
    assert promoted.json()["data"]["is_primary"] is True
    demoted = client.get(f"/contacts/{first['id']}").json()["data"]
    assert demoted["is_primary"] is False
    assert parse_ts(demoted["updated_at"]) > parse_ts(first["updated_at"])
    primaries = [c for c in sandbox.state.all_contacts() if c["company_id"] == 3 and c["is_primary"]]
    assert [c["id"] for c in primaries] == [second["id"]]


def test_changing_email_is_409_but_same_email_is_fine(client: httpx.Client) -> None:
    """A different email is 409 conflict 'not supported yet'; resending the same one is 200."""
    contact = new_contact(client, email="same@example.com")
    path = f"/contacts/{contact['id']}"
    response = client.patch(path, json={"email": "other@example.com"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["type"] == "conflict"
    assert error["message"] == "Changing a contact's email is not supported yet"
    assert client.patch(path, json={"email": "same@example.com"}).status_code == 200
    assert client.get(path).json()["data"]["email"] == "same@example.com"


def test_updated_at_strictly_increases_on_every_change(client: httpx.Client) -> None:
    """Each changing PATCH moves updated_at forward, even several within one second."""
    contact = new_contact(client)
    stamps = [parse_ts(contact["updated_at"])]
    for index in range(5):
        data = client.patch(f"/contacts/{contact['id']}", json={"title": f"T{index}"}).json()
        stamps.append(parse_ts(data["data"]["updated_at"]))
    assert stamps == sorted(set(stamps))
    assert len(stamps) == 6
