"""``serve``: run a companies sandbox in the foreground, as ``contacts-sync sandbox --api companies`` will."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Final, TextIO

from sync.apis.companies.sandbox.server import CompaniesServer
from sync.apis.companies.sandbox.state import CompaniesState
from sync.apis.companies.sandbox.validation import DEFAULT_LIMIT
from sync.apis.sandbox_kit.foreground import wait_for_stop

DEFAULT_PORT: Final[int] = 8766


def serve(
    port: int = DEFAULT_PORT,
    *,
    accounts: int = 2,
    companies: int = 4,
    contacts_per_company: int = 25,
    seed: int = 0,
    tokens: Sequence[str] = (),
    max_limit: int = DEFAULT_LIMIT,
    window_seconds: float = 60.0,
    latency_ms: int = 0,
    faults: str | None = None,
    retry_after_header: bool = False,
    host: str = "127.0.0.1",
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Run a sandbox with the published rate limits until SIGINT/SIGTERM (or ``stop`` is set).

    Prints, one line each, ``CONTACTS_SYNC_API_URL=...``, the first account's
    ``CONTACTS_SYNC_API_TOKEN=...`` and ``CONTACTS_SYNC_COMPANY_IDS=...`` (its
    companies, comma-separated), so a shell can ``eval`` them; then one
    ``# account N: ...`` comment line for each other account.
    """
    state = CompaniesState(
        accounts=accounts,
        companies=companies,
        contacts_per_company=contacts_per_company,
        seed=seed,
        tokens=tokens,
        max_limit=max_limit,
        window_seconds=window_seconds,
        latency_ms=latency_ms,
        faults=faults,
        retry_after_header=retry_after_header,
    )
    stop_event = stop or threading.Event()
    stream = out or sys.stdout
    with CompaniesServer(state, host=host, port=port) as server:
        first, *others = state.accounts
        print(f"CONTACTS_SYNC_API_URL={server.base_url}", file=stream)
        print(f"CONTACTS_SYNC_API_TOKEN={first.token}", file=stream)
        print(f"CONTACTS_SYNC_COMPANY_IDS={','.join(first.company_ids)}", file=stream)
        for account in others:
            print(
                f"# account {account.number}: CONTACTS_SYNC_API_TOKEN={account.token} "
                f"CONTACTS_SYNC_COMPANY_IDS={','.join(account.company_ids)}",
                file=stream,
            )
        stream.flush()
        wait_for_stop(stop_event)
