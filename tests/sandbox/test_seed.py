"""Seeded data: deterministic, realistic and varied."""

from __future__ import annotations

from collections import Counter

from sync.apis.lev.fields import CONTACT_FIELDS, CONTACT_TYPES, PHONE_TYPES
from sync.apis.lev.sandbox.phones import normalise_phone
from sync.apis.lev.sandbox.seed import company_count, seed_contacts


def test_same_seed_same_data_other_seed_other_data() -> None:
    """seed_contacts(n, seed) is deterministic and the seed changes the data."""
    assert seed_contacts(50, 1) == seed_contacts(50, 1)
    assert seed_contacts(50, 1) != seed_contacts(50, 2)


def test_seed_is_varied_like_real_accounts() -> None:
    """Non-ASCII names, nulls, foreign numbers, extensions, both types, ~10% unconnected."""
    records = seed_contacts(500, 0)
    names = {r["first_name"] for r in records} | {r["last_name"] for r in records}
    assert {"Zoë", "José", "Núñez", "Łukasz", "山田"} <= names
    assert any(r["email"] is None for r in records)
    assert any(r["address2"] for r in records) and any(r["photo_url"] for r in records)
    assert any(len(r["contact_types"]) == 2 for r in records)
    assert {len(r["phones"]) for r in records} == {0, 1, 2, 3}
    phones = [p for r in records for p in r["phones"]]
    assert any(p["extension"] for p in phones)
    assert {p["country"] for p in phones} > {"US", "GB"}
    assert {p["type"] for p in phones} == PHONE_TYPES
    unconnected = sum(not r["is_connected"] for r in records)
    assert 25 <= unconnected <= 75
    assert [r["id"] for r in records] == sorted({r["id"] for r in records})


def test_seeded_records_are_well_formed() -> None:
    """Every record has every Contact field, valid types, one primary per company at most."""
    records = seed_contacts(200, 5)
    for record in records:
        assert set(record) == set(CONTACT_FIELDS) | {"company_id"}
        assert set(record["contact_types"]) <= CONTACT_TYPES
        assert record["contact_type"] == record["contact_types"][0]
        assert 1 <= record["company_id"] <= company_count(200)
        assert record["updated_at"] >= record["created_at"]
        for phone in record["phones"]:
            again = normalise_phone({"raw": phone["raw"], "country": phone["country"]}, 0, new_id=lambda: "x")
            assert again["e164"] == phone["e164"]
    primaries = Counter(r["company_id"] for r in records if r["is_primary"])
    assert primaries and max(primaries.values()) == 1
    emails = [r["email"] for r in records if r["email"]]
    assert len(emails) == len(set(emails))
