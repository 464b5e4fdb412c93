"""Several Lev accounts behind one sandbox server, one per token.

The first account is the server's own state (what a sandbox always served); more
are added by name, each with its own token, contacts, limits, faults and request
log. A request reaches the account whose token it carries; an unknown token
reaches the first account, which answers 401 as before.
"""

from __future__ import annotations

import threading
from typing import Any

from sync.apis.lev.sandbox.envelope import Rejected
from sync.apis.lev.sandbox.seed import DEFAULT_ACCOUNT_ID
from sync.apis.lev.sandbox.state import SandboxState

FIRST_ACCOUNT = "default"
# Options of SandboxState an admin may set for a new account.
ACCOUNT_OPTIONS = frozenset(
    {"contacts", "seed", "tier", "window_seconds", "latency_ms", "faults", "token", "retry_after_header"}
)


class SandboxAccounts:
    """The accounts of one server by name and by token; thread-safe."""

    def __init__(self, first: SandboxState) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, SandboxState] = {FIRST_ACCOUNT: first}
        self.first = first

    def add(self, name: str, **options: Any) -> SandboxState:
        """A new account called `name` (its Lev account id and slug differ from every other's)."""
        unknown = sorted(set(options) - ACCOUNT_OPTIONS)
        if unknown:
            raise Rejected(400, f"Unknown account options: {', '.join(unknown)}")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise Rejected(400, "name must be letters, digits, - and _")
        with self._lock:
            if name in self._by_name:
                raise Rejected(409, f"Account {name!r} exists")
            tokens = {state.token for state in self._by_name.values()}
            if options.get("token") in tokens:
                raise Rejected(409, "That token already belongs to another account")
            state = SandboxState(
                account_id=DEFAULT_ACCOUNT_ID + len(self._by_name),
                account_slug=name,
                account_name=f"Sandbox {name}",
                **{"tier": self.first.tier, **options},
            )
            self._by_name[name] = state
            return state

    def named(self, name: str) -> SandboxState:
        with self._lock:
            if name not in self._by_name:
                raise Rejected(404, f"No account {name!r}")
            return self._by_name[name]

    def names(self) -> list[str]:
        with self._lock:
            return list(self._by_name)

    def for_authorization(self, authorization: str | None) -> SandboxState:
        """The account whose token (or read-only token) the Authorization header carries."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        with self._lock:
            if scheme.lower() == "bearer" and token:
                for state in self._by_name.values():
                    if token in (state.token, state.read_only_token):
                        return state
            return self.first

    def described(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"name": name, "token": state.token, "account_id": state.account_id, "tier": state.tier}
                for name, state in self._by_name.items()
            ]
