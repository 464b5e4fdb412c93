"""One request as the server read it, handed to a sandbox's pure ``handle_api``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IncomingRequest:
    """Method, target, headers and body; a sandbox subclasses it for what else it routes on."""

    method: str
    # The request target as sent: path plus query string.
    target: str
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None
