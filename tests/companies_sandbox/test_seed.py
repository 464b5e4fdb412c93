"""Seeded data: deterministic, N companies x M contacts shared among accounts, realistic values."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest

from sync.apis.companies.sandbox import CompaniesState
from sync.apis.companies.sandbox.seed import seed_data


def test_same_seed_same_data_other_seed_other_data() -> None:
    """Two states with one seed hold identical companies and contacts; another seed differs."""

    def snapshot(seed: int) -> tuple[object, ...]:
        state = CompaniesState(accounts=2, companies=3, contacts_per_company=10, seed=seed)
        return (state.company_list(), state.all_contacts())

    assert snapshot(7) == snapshot(7)
    assert snapshot(7) != snapshot(8)


def test_counts_and_round_robin_ownership() -> None:
    """N companies x M contacts; company k belongs to account k mod accounts + 1; ids are uuid4."""
    state = CompaniesState(accounts=3, companies=7, contacts_per_company=4)
    assert len(state.all_contacts()) == 28
    assert [len(account.company_ids) for account in state.accounts] == [3, 2, 2]
    assert [c["account"] for c in state.company_list()] == [1, 2, 3, 1, 2, 3, 1]
    assert all(uuid.UUID(row["id"]).version == 4 for row in state.all_contacts())
    assert all(uuid.UUID(company).version == 4 for company in state.companies)


def test_values_look_real() -> None:
    """Phones are mostly +91-XXXXXXXXXX, emails on the company's domain, at most one primary per company."""
    state = CompaniesState(accounts=2, companies=6, contacts_per_company=40, seed=3)
    rows = state.all_contacts()
    phones = [row["phone"] for row in rows]
    indian = [p for p in phones if p and re.fullmatch(r"\+91-[6-9]\d{9}", p)]
    assert len(indian) > len(rows) / 2
    assert None in phones
    assert any(not row["first_name"].isascii() for row in rows)
    names = {c["id"]: c["name"] for c in state.company_list()}
    assert state.all_contacts(next(iter(names)))[0]["email"].endswith("@acme.com")
    primaries = Counter(row["company_id"] for row in rows if row["is_primary"])
    assert max(primaries.values()) == 1
    assert all(row["updated_at"] >= row["created_at"] for row in rows)


def test_curated_awkward_cases() -> None:
    """Two contacts of the first company share sales@; the second company reuses the first's email."""
    state = CompaniesState(accounts=2, companies=2, contacts_per_company=6)
    first, second = (state.all_contacts(company) for company in state.companies)
    emails = Counter(row["email"] for row in first)
    assert emails["sales@acme.com"] == 2
    nulls = [row for row in first if row["last_name"] is None and row["phone"] is None]
    assert nulls and nulls[0]["designation"] is None
    assert {row["email"] for row in second} & {row["email"] for row in first} == {"priya.sharma@acme.com"}


def test_bad_sizes_are_refused() -> None:
    """Zero accounts or negative counts raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="account"):
        seed_data(accounts=0, companies=1, contacts_per_company=1, seed=0)
    with pytest.raises(ValueError, match="negative"):
        seed_data(accounts=1, companies=1, contacts_per_company=-1, seed=0)
