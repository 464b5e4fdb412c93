"""Fixtures for the sandbox suite: a fresh sandbox per test, API and admin clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sync.apis.lev.sandbox import SandboxServer, running_sandbox
from tests.sandbox.helpers import api_client


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(contacts=40, seed=3) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with api_client(sandbox) as http:
        yield http


@pytest.fixture
def admin(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.admin_url, timeout=10.0) as http:
        yield http
