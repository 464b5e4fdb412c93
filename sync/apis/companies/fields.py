"""The company-contacts Contact object, field by field (seed 004).

Everything else that needs to know which fields exist, which can be written
and how they look on the wire reads it from here.
"""

from __future__ import annotations

from typing import Final

from sync.apis.kinds import Kind

API: Final[str] = "companies"

# Every field of the Contact object, in the order the API documents them.
CONTACT_FIELDS: Final[dict[str, Kind]] = {
    "id": Kind.TEXT,  # a UUID
    "company_id": Kind.TEXT,  # a UUID
    "first_name": Kind.TEXT,
    "last_name": Kind.TEXT,
    "email": Kind.TEXT,
    "phone": Kind.TEXT,
    "designation": Kind.TEXT,
    "is_primary": Kind.BOOLEAN,
    "created_at": Kind.TEXT,
    "updated_at": Kind.TEXT,
}

# What a PATCH may carry ("all fields optional"). company_id could be patched too, which
# moves the contact to another company: the sync never does that (create_only).
PATCHABLE_FIELDS: Final[frozenset[str]] = frozenset(
    {"first_name", "last_name", "email", "phone", "designation", "is_primary"}
)
CREATE_ONLY_FIELDS: Final[frozenset[str]] = frozenset({"company_id"})
REQUIRED_ON_CREATE: Final[tuple[str, ...]] = ("first_name", "email")
# Text fields the API answers null for and takes null for; first_name and email are required.
NULLABLE_TEXT: Final[frozenset[str]] = frozenset({"last_name", "phone", "designation"})

CONTACTS_PATH: Final[str] = "/contacts"
# The seed documents the list's default limit (100) and no maximum. We ask for this many;
# a 422 on `limit` makes the client ask for what the server says it takes.
DOCUMENTED_DEFAULT_LIMIT: Final[int] = 100
PAGE_LIMIT_ASKED: Final[int] = 1000

# The published rate limits, per minute: POST /contacts, and every other endpoint together.
POST_PER_MINUTE: Final[int] = 60
GENERAL_PER_MINUTE: Final[int] = 120
