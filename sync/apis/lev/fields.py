"""The Lev Contact object, field by field (OpenAPI 2026-03, seeds 000-002).

Everything else in the product that needs to know which fields exist, which
can be written and how they look on the wire reads it from here.
"""

from __future__ import annotations

from typing import Final

from sync.apis.kinds import Kind as Kind  # the Lev modules read it from here

# Every field of the Contact object, in the order the API documents them.
CONTACT_FIELDS: Final[dict[str, Kind]] = {
    "id": Kind.INTEGER,
    "contact_type": Kind.TEXT,
    "contact_types": Kind.JSON,
    "first_name": Kind.TEXT,
    "last_name": Kind.TEXT,
    "email": Kind.TEXT,
    "title": Kind.TEXT,
    "department": Kind.TEXT,
    "address": Kind.TEXT,
    "address2": Kind.TEXT,
    "city": Kind.TEXT,
    "state": Kind.TEXT,
    "zip": Kind.TEXT,
    "linkedin_url": Kind.TEXT,
    "photo_url": Kind.TEXT,
    "phones": Kind.JSON,
    "is_primary": Kind.BOOLEAN,
    "owner_account_id": Kind.INTEGER,
    "is_connected": Kind.BOOLEAN,
    "created_at": Kind.TEXT,
    "updated_at": Kind.TEXT,
}

# Fields a PATCH may carry (the PATCH request schema).
PATCHABLE_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "title",
        "department",
        "address",
        "address2",
        "city",
        "state",
        "zip",
        "linkedin_url",
        "photo_url",
        "phones",
        "is_primary",
    }
)

# Fields a POST may carry besides the patchable ones; company_id is write-only.
CREATE_ONLY_FIELDS: Final[frozenset[str]] = frozenset({"contact_type", "company_id"})

CONTACT_TYPES: Final[frozenset[str]] = frozenset({"lender_contact", "sponsor"})
PHONE_TYPES: Final[frozenset[str]] = frozenset({"mobile", "office", "fax"})
PHONE_INPUT_KEYS: Final[tuple[str, ...]] = ("raw", "type", "country", "extension")

# The documented error types, by HTTP status (errors.yml).
ERROR_TYPES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_error",
    503: "service_unavailable",
}

API_PATH_PREFIX: Final[str] = "/api/external/v2"
CONTACTS_PATH: Final[str] = "/contacts"
PAGE_LIMIT_MAX: Final[int] = 200

# The documented range filter (conventions.yml), on the contacts' own updated_at: an
# incremental pull lists only what changed since its high-water mark.
UPDATED_SINCE: Final = "filter[updated_at][gte]"
