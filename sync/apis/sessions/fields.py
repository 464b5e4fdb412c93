"""The session-contacts Contact object, field by field (seed 003), and its local columns.

The API speaks camelCase; the local `contacts` table and everything above the
client speak snake_case. This module holds both spellings and the few numbers
the client needs; `wire.py` and `client.py` read them from here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from sync.apis.kinds import Kind

API: Final = "sessions"

# Every field of the Contact object, snake_case, in the order the seed documents them.
CONTACT_FIELDS: Final = MappingProxyType(
    {
        "id": Kind.INTEGER,
        "full_name": Kind.TEXT,
        "mention_name": Kind.TEXT,
        "email": Kind.TEXT,
        "phone": Kind.TEXT,
        "company": Kind.TEXT,
        "title": Kind.TEXT,
        "department": Kind.TEXT,
        "type": Kind.TEXT,
        "is_active": Kind.BOOLEAN,
        "metadata": Kind.JSON,
        "created_at": Kind.TEXT,
        "updated_at": Kind.TEXT,
    }
)

# The wire name of each field.
WIRE_NAMES: Final = MappingProxyType(
    {
        "id": "id",
        "full_name": "fullName",
        "mention_name": "mentionName",
        "email": "email",
        "phone": "phone",
        "company": "company",
        "title": "title",
        "department": "department",
        "type": "type",
        "is_active": "isActive",
        "metadata": "metadata",
        "created_at": "createdAt",
        "updated_at": "updatedAt",
        "can_login": "canLogin",
    }
)
LOCAL_NAMES: Final = MappingProxyType({wire: local for local, wire in WIRE_NAMES.items()})

# What a create may carry (the POST body schema, canLogin aside). The API has no update,
# so this is also what a local edit touches without being sent.
WRITABLE: Final[frozenset[str]] = frozenset(
    {
        "full_name",
        "mention_name",
        "email",
        "phone",
        "company",
        "title",
        "department",
        "type",
        "is_active",
        "metadata",
    }
)
# The POST body requires these (non-blank).
REQUIRED_ON_CREATE: Final[tuple[str, ...]] = ("full_name", "email", "type")
# `canLogin` makes a user account for the contact: a create sends it only when the row
# says true, never by default. The API never answers it.
CAN_LOGIN: Final = "can_login"
CREATE_ONLY: Final[frozenset[str]] = frozenset({CAN_LOGIN})
# Set true on every contact the list shows; the store sets it false when one leaves the list.
FLAG_COLUMN: Final = "is_listed"

# The local `contacts` columns besides the store's own, in order.
COLUMNS: Final = MappingProxyType({**CONTACT_FIELDS, CAN_LOGIN: Kind.BOOLEAN, FLAG_COLUMN: Kind.BOOLEAN})

# Required in every contact the API answers, with their kind; the rest may be null.
REQUIRED_IN_ANSWER: Final[frozenset[str]] = frozenset(
    {"id", "full_name", "email", "type", "is_active", "created_at", "updated_at"}
)

CONTACTS_PATH: Final = "/contacts"
COOKIE_NAME: Final = "connect.sid"
COOKIE_VARIABLE: Final = "CONTACTS_SYNC_SESSION_COOKIE"
# Contacts handed to the engine per "page" of the one streamed list answer.
CHUNK_CONTACTS: Final = 1000
# The longest error body quoted in a message, in characters.
QUOTED_ERROR_CHARS: Final = 300
