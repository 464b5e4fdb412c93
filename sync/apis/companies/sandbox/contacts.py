"""A stored contact, its public JSON, and the account/company records it belongs to.

Each contact renders its JSON once, on first read, and again only after a
change (``changed``), so a page of a list is a join of bytes: serving stays
cheap however often the same contacts are read, and seeding 100,000 contacts
does not pay for rendering them up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sync.apis.companies.sandbox.answers import encoded

PUBLIC_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "company_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "designation",
    "is_primary",
    "created_at",
    "updated_at",
)


# eq=False: contacts are compared by identity (list removal), never field by field.
@dataclass(slots=True, eq=False)
class Contact:
    id: str
    company_id: str | None
    first_name: str
    last_name: str | None
    email: str
    phone: str | None
    designation: str | None
    is_primary: bool
    created_at: str
    updated_at: str
    # Created order is (created, seq): seq breaks ties between equal instants.
    created: datetime
    seq: int
    # The rendered JSON; empty until first read and after each change.
    cached: bytes = b""

    def view(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    @property
    def rendered(self) -> bytes:
        if not self.cached:
            self.cached = encoded(self.view())
        return self.cached

    def changed(self) -> Contact:
        self.cached = b""
        return self

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.created, self.seq)


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    domain: str
    # 1-based number of the account (token) that owns it.
    account: int


@dataclass(frozen=True)
class Account:
    number: int
    token: str
    company_ids: tuple[str, ...] = field(default_factory=tuple)
