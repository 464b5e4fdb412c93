"""Test helper: a companies sandbox on a free loopback port for the length of a ``with`` block.

    with running_sandbox(contacts_per_company=30, faults="drop-after@1/POST") as sandbox:
        client = httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.token}"})
        company_id = sandbox.state.accounts[0].company_ids[0]
        ...
        sandbox.state.request_log()

Unlike ``serve`` (which has the published limits), rate limits are off here
unless asked for (``post_limit``/``general_limit``), so tests only meet them
when they mean to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sync.apis.companies.sandbox.faults import Faults
from sync.apis.companies.sandbox.server import CompaniesServer
from sync.apis.companies.sandbox.state import CompaniesState
from sync.apis.companies.sandbox.validation import DEFAULT_LIMIT


@contextmanager
def running_sandbox(
    *,
    accounts: int = 2,
    companies: int = 4,
    contacts_per_company: int = 25,
    seed: int = 0,
    tokens: Sequence[str] = (),
    max_limit: int = DEFAULT_LIMIT,
    post_limit: int | None = None,
    general_limit: int | None = None,
    window_seconds: float = 60.0,
    retry_after_header: bool = False,
    latency_ms: int = 0,
    faults: str | Faults | None = None,
    state: CompaniesState | None = None,
) -> Iterator[CompaniesServer]:
    """Start a sandbox (or serve the given ``state``) and stop it on exit."""
    if state is None:
        state = CompaniesState(
            accounts=accounts,
            companies=companies,
            contacts_per_company=contacts_per_company,
            seed=seed,
            tokens=tokens,
            max_limit=max_limit,
            post_limit=post_limit,
            general_limit=general_limit,
            window_seconds=window_seconds,
            retry_after_header=retry_after_header,
            latency_ms=latency_ms,
            faults=faults,
        )
    with CompaniesServer(state, host="127.0.0.1", port=0) as server:
        yield server
