"""Test helper: a sandbox on a free loopback port for the length of a ``with`` block.

    with running_sandbox(contacts=20, faults="drop-after@1/POST") as sandbox:
        client = httpx.Client(base_url=sandbox.base_url, ...)
        ...
        sandbox.state.request_log()

Unlike ``serve`` (which mirrors the real standard tier), the default tier here
is ``unlimited`` so tests only meet rate limits when they ask for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sync.apis.lev.sandbox.faults import FaultPlan
from sync.apis.lev.sandbox.seed import DEFAULT_ACCOUNT_ID
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.state import SandboxState


@contextmanager
def running_sandbox(
    *,
    contacts: int = 50,
    seed: int = 0,
    tier: str = "unlimited",
    window_seconds: float = 60.0,
    latency_ms: int = 0,
    faults: str | FaultPlan | None = None,
    token: str | None = None,
    read_only_token: str | None = None,
    retry_after_header: bool = False,
    state: SandboxState | None = None,
    account_id: int = DEFAULT_ACCOUNT_ID,
    account_slug: str = "sandbox",
    account_name: str = "Sandbox Account",
) -> Iterator[SandboxServer]:
    """Start a sandbox (or serve the given ``state``) and stop it on exit."""
    if state is None:
        state = SandboxState(
            contacts=contacts,
            seed=seed,
            tier=tier,
            window_seconds=window_seconds,
            latency_ms=latency_ms,
            faults=faults,
            token=token,
            read_only_token=read_only_token,
            retry_after_header=retry_after_header,
            account_id=account_id,
            account_slug=account_slug,
            account_name=account_name,
        )
    with SandboxServer(state, host="127.0.0.1", port=0) as server:
        yield server
