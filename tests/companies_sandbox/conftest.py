"""Fixtures for the companies sandbox suite: a fresh sandbox per test, API and admin clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sync.apis.companies.sandbox import CompaniesServer, running_sandbox
from tests.companies_sandbox.helpers import api_client, first_company


@pytest.fixture
def sandbox() -> Iterator[CompaniesServer]:
    with running_sandbox(accounts=2, companies=4, contacts_per_company=12, seed=5) as server:
        yield server


@pytest.fixture
def client(sandbox: CompaniesServer) -> Iterator[httpx.Client]:
    with api_client(sandbox) as http:
        yield http


@pytest.fixture
def admin(sandbox: CompaniesServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.admin_url, timeout=10.0) as http:
        yield http


@pytest.fixture
def company(sandbox: CompaniesServer) -> str:
    """The first company of the first account (the fixture client's token owns it)."""
    return first_company(sandbox)
