"""The Idempotency-Key store of one account.

A write carrying a key is remembered with a fingerprint of the request
(method, path and the *parsed* JSON body, so whitespace and key order do not
matter). The same key with the same fingerprint replays the first answer,
request_id included, without applying the write again; the same key with a
different request is ``409 conflict``. Keys never expire in the sandbox (the
real retention is not published).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sync.apis.lev.sandbox.envelope import Rejected, Reply

KEY_REUSED = "Idempotency-Key was already used with a different request"


@dataclass(frozen=True)
class Fingerprint:
    method: str
    path: str
    body: str


def fingerprint(method: str, path: str, body: bytes) -> Fingerprint:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        # Not JSON: only byte-identical bodies count as the same request.
        canonical = "raw:" + body.hex()
    return Fingerprint(method.upper(), path, canonical)


class IdempotencyStore:
    """Not thread-safe on its own: ``SandboxState`` calls it under its lock."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[Fingerprint, Reply]] = {}

    def replay(self, key: str, request: Fingerprint) -> Reply | None:
        """The stored answer for ``key``, None if unseen; ``Rejected`` 409 on a mismatch."""
        stored = self._answers.get(key)
        if stored is None:
            return None
        if stored[0] != request:
            raise Rejected(409, KEY_REUSED)
        return stored[1]

    def remember(self, key: str, request: Fingerprint, answer: Reply) -> None:
        self._answers.setdefault(key, (request, answer))

    def __len__(self) -> int:
        return len(self._answers)
