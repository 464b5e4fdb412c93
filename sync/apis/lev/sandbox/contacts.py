"""Contact records: the write rules of POST/PATCH and the public view of a record.

A stored record is the public Contact object plus ``company_id``, which the
API accepts on create but never returns. Validation raises ``Rejected`` with
the status and message the sandbox answers with.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final

from sync.apis.lev.fields import (
    CONTACT_FIELDS,
    CONTACT_TYPES,
    CREATE_ONLY_FIELDS,
    PATCHABLE_FIELDS,
    Kind,
)
from sync.apis.lev.sandbox.envelope import Rejected
from sync.apis.lev.sandbox.phones import normalise_phones

# Fields kept on the record but never shown on the wire.
INTERNAL_FIELDS: Final[frozenset[str]] = frozenset({"company_id"})
TEXT_FIELDS: Final[frozenset[str]] = frozenset(
    name for name in PATCHABLE_FIELDS if CONTACT_FIELDS[name] is Kind.TEXT
)
CREATE_FIELDS: Final[frozenset[str]] = PATCHABLE_FIELDS | CREATE_ONLY_FIELDS


def _allowed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Rejected(400, "Request body must be a JSON object")
    return body


def validated_create(
    body: Any,
    *,
    company_exists: Callable[[int], bool],
    new_phone_id: Callable[[], str],
) -> dict[str, Any]:
    """The fields of a POST /contacts body, checked; raises ``Rejected``."""
    fields = require_object(body)
    unknown = sorted(set(fields) - CREATE_FIELDS)
    if unknown:
        raise Rejected(422, f"Unknown field(s): {', '.join(unknown)}")
    contact_type = fields.get("contact_type")
    if contact_type is None:
        raise Rejected(422, "contact_type is required")
    if contact_type not in CONTACT_TYPES:
        raise Rejected(422, f"contact_type must be one of: {_allowed(CONTACT_TYPES)}")
    company_id = fields.get("company_id")
    if company_id is None:
        raise Rejected(422, "company_id is required")
    if not isinstance(company_id, int) or isinstance(company_id, bool):
        raise Rejected(422, "company_id must be an integer")
    if not company_exists(company_id):
        raise Rejected(422, f"company_id {company_id} not found")
    cleaned = _validated_common(fields, new_phone_id=new_phone_id)
    cleaned["contact_type"] = contact_type
    cleaned["company_id"] = company_id
    return cleaned


def validated_patch(body: Any, *, new_phone_id: Callable[[], str]) -> dict[str, Any]:
    """The fields of a PATCH /contacts/{id} body, checked; raises ``Rejected``."""
    fields = require_object(body)
    not_patchable = sorted(CREATE_ONLY_FIELDS & set(fields))
    if not_patchable:
        raise Rejected(422, f"{', '.join(not_patchable)} is not patchable")
    unknown = sorted(set(fields) - PATCHABLE_FIELDS)
    if unknown:
        raise Rejected(422, f"Unknown field(s): {', '.join(unknown)}")
    return _validated_common(fields, new_phone_id=new_phone_id)


def _validated_common(fields: Mapping[str, Any], *, new_phone_id: Callable[[], str]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name in sorted(TEXT_FIELDS & set(fields)):
        value = fields[name]
        # The request schemas have no null (only the Contact answer does): a server that
        # enforces them answers 422, so a client clears a field with "".
        if value is None:
            raise Rejected(422, f'{name} must be a string, not null (send "" to clear it)')
        if not isinstance(value, str):
            raise Rejected(422, f"{name} must be a string")
        cleaned[name] = value
    if "is_primary" in fields:
        if not isinstance(fields["is_primary"], bool):
            raise Rejected(422, "is_primary must be a boolean")
        cleaned["is_primary"] = fields["is_primary"]
    if "phones" in fields:
        cleaned["phones"] = normalise_phones(fields["phones"], new_id=new_phone_id)
    return cleaned


def new_record(
    contact_id: int,
    *,
    contact_types: list[str],
    company_id: int,
    owner_account_id: int,
    stamp: str,
    connected: bool,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """A full stored record: every Contact field present, nulls where unset."""
    record: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
    record.update(
        id=contact_id,
        contact_type=contact_types[0] if contact_types else None,
        contact_types=list(contact_types),
        phones=[],
        is_primary=False,
        owner_account_id=owner_account_id,
        is_connected=connected,
        created_at=stamp,
        updated_at=stamp,
        company_id=company_id,
    )
    for name, value in fields.items():
        if name not in {"contact_type", "company_id"}:
            record[name] = copy.deepcopy(value)
    return record


def public_view(record: Mapping[str, Any], only: frozenset[str] | None = None) -> dict[str, Any]:
    """The Contact object as the API shows it; ``only`` is a sparse fieldset."""
    view = {
        name: copy.deepcopy(value)
        for name, value in record.items()
        if name not in INTERNAL_FIELDS and (only is None or name in only or name == "id")
    }
    return view


def changed_fields(record: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``changes`` that differs from the record (phones compare by content)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        current = record.get(name)
        if name == "phones":
            if _phone_content(current) != _phone_content(value):
                out[name] = value
        elif current != value or type(current) is not type(value):
            out[name] = value
    return out


def _phone_content(phones: Any) -> list[tuple[Any, ...]]:
    # New phone ids are minted on every write, so compare what the phones say.
    if not isinstance(phones, list):
        return []
    keys = ("type", "raw", "country", "e164", "extension")
    return [tuple(p.get(k) for k in keys) for p in phones if isinstance(p, dict)]
