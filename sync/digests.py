"""Fingerprints of remote records: an unchanged contact is told without merging it."""

from __future__ import annotations

import hashlib
from typing import Any

from sync.plan import canonical_json


def record_digest(record: dict[str, Any]) -> str:
    """A short fingerprint of a remote record, to tell an unchanged contact without merging it."""
    return digest_of(canonical_json(record))


def digest_of(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
