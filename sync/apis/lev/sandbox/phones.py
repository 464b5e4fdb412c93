"""Phone input (PhoneIn) to stored phone objects (Phone), as the Lev server does it.

Input:  ``{raw, type?, country?, extension?}``; type defaults to ``mobile``,
country (2-letter region used when ``raw`` has no ``+``) to ``US``.
Stored: ``{id, type, raw, country, e164, extension}``; ``e164`` is always
computed here from ``raw`` (a caller's ``e164`` is ignored, per the PhoneIn
schema), unparseable numbers are 422. PhoneIn has no null: ``"type": null``
is 422 on the API, as a schema-enforcing server answers; the admin routes
(another user in the Lev UI) pass ``nulls_allowed`` and read null as unset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import phonenumbers

from sync.apis.lev.fields import PHONE_INPUT_KEYS, PHONE_TYPES
from sync.apis.lev.sandbox.envelope import Rejected

DEFAULT_PHONE_TYPE = "mobile"
DEFAULT_COUNTRY = "US"
# Keys a client may send that the server drops without complaint: PhoneIn says a
# caller-supplied e164 is ignored so normalisation cannot be bypassed.
IGNORED_PHONE_KEYS = frozenset({"e164"})


def normalise_phones(
    value: Any, *, new_id: Callable[[], str], nulls_allowed: bool = False
) -> list[dict[str, Any]]:
    """Validate a ``phones`` list and return the stored objects, or raise 422."""
    if not isinstance(value, list):
        raise Rejected(422, "phones must be an array of phone objects")
    return [
        normalise_phone(item, index, new_id=new_id, nulls_allowed=nulls_allowed)
        for index, item in enumerate(value)
    ]


def normalise_phone(
    item: Any, index: int, *, new_id: Callable[[], str], nulls_allowed: bool = False
) -> dict[str, Any]:
    where = f"phones[{index}]"
    if not isinstance(item, dict):
        raise Rejected(422, f"{where} must be an object with a raw number")
    unknown = sorted(set(item) - set(PHONE_INPUT_KEYS) - IGNORED_PHONE_KEYS)
    if unknown:
        raise Rejected(422, f"{where} has unknown field(s): {', '.join(unknown)}")
    nulls = sorted(name for name in PHONE_INPUT_KEYS if name in item and item[name] is None)
    if nulls and not nulls_allowed:
        raise Rejected(422, f"{where}.{nulls[0]} must be a string, not null (leave it out instead)")
    raw = item.get("raw")
    if not isinstance(raw, str) or not raw.strip():
        raise Rejected(422, f"{where}.raw is required and must be a non-empty string")
    phone_type = item.get("type", DEFAULT_PHONE_TYPE)
    if phone_type is None:
        phone_type = DEFAULT_PHONE_TYPE
    if phone_type not in PHONE_TYPES:
        allowed = ", ".join(sorted(PHONE_TYPES))
        raise Rejected(422, f"{where}.type must be one of: {allowed}")
    country = item.get("country", DEFAULT_COUNTRY)
    if country is None:
        country = DEFAULT_COUNTRY
    if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
        raise Rejected(422, f"{where}.country must be a 2-letter ISO region code")
    extension = item.get("extension")
    if extension is not None and not isinstance(extension, str):
        raise Rejected(422, f"{where}.extension must be a string")

    try:
        parsed = phonenumbers.parse(raw, country.upper())
    except phonenumbers.NumberParseException as exc:
        raise Rejected(422, f"{where}.raw {raw!r} is not a valid phone number") from exc
    # "Possible" rather than "valid": the real server accepts any common format,
    # and fictional ranges like 555-01xx must still pass.
    if not phonenumbers.is_possible_number(parsed):
        raise Rejected(422, f"{where}.raw {raw!r} is not a valid phone number")

    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    region = phonenumbers.region_code_for_number(parsed) or country.upper()
    # An extension typed into raw ("x204") counts when none is given separately.
    if not extension and parsed.extension:
        extension = parsed.extension
    return {
        "id": new_id(),
        "type": phone_type,
        "raw": raw,
        "country": region,
        "e164": e164,
        "extension": extension or None,
    }
