"""Fixtures for the sessions sandbox suite: a fresh sandbox per test, API and admin clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sync.apis.sessions.sandbox import SessionsSandboxServer, running_sessions_sandbox
from tests.sessions_sandbox.helpers import session_client


@pytest.fixture
def sandbox() -> Iterator[SessionsSandboxServer]:
    with running_sessions_sandbox(contacts=30, seed=3) as server:
        yield server


@pytest.fixture
def client(sandbox: SessionsSandboxServer) -> Iterator[httpx.Client]:
    with session_client(sandbox) as http:
        yield http


@pytest.fixture
def admin(sandbox: SessionsSandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.admin_url, timeout=10.0) as http:
        yield http
