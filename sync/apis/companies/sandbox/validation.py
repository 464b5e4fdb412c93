"""Request checks as FastAPI and pydantic v2 make them, with their 422 error items.

Every refused request is a 422 whose ``detail`` lists one item per problem,
``{"type", "loc", "msg", "input"[, "ctx"]}``, e.g. ``{"type": "missing",
"loc": ["body", "email"], "msg": "Field required", "input": null}``. All the
problems of a request are reported at once, as pydantic collects them.

Parsing is lax where pydantic's is: a query integer may carry spaces and a
sign, a boolean may be ``1``/``0`` or ``"true"``/``"no"``..., a UUID may be in
any form ``uuid.UUID`` reads and is answered in canonical lowercase. Strings
are never coerced from numbers. Emails are checked for shape and their domain
lowercased, as ``EmailStr`` (email-validator) does; duplicates are allowed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sync.apis.companies.sandbox.answers import Refused

DEFAULT_LIMIT: Final[int] = 100
# (name, kind, required on create, nullable); PATCH makes every field optional.
WRITABLE_FIELDS: Final[tuple[tuple[str, str, bool, bool], ...]] = (
    ("company_id", "uuid", False, True),
    ("first_name", "str", True, False),
    ("last_name", "str", False, True),
    ("email", "email", True, False),
    ("phone", "str", False, True),
    ("designation", "str", False, True),
    ("is_primary", "bool", False, False),
)
_TRUE: Final[frozenset[str]] = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE: Final[frozenset[str]] = frozenset({"0", "off", "f", "false", "n", "no"})
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


def error(
    kind: str, loc: list[str | int], msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        item["ctx"] = ctx
    return item


def missing(loc: list[str | int]) -> dict[str, Any]:
    return error("missing", loc, "Field required", None)


@dataclass(frozen=True)
class ListQuery:
    company_id: str
    skip: int
    limit: int


def canonical_uuid(value: Any) -> str | None:
    """The lowercase hyphenated form of a UUID given as text, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def uuid_error(loc: list[str | int], value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        return error("uuid_type", loc, "UUID input should be a string, bytes or UUID object", value)
    reason = "invalid character or length"
    return error("uuid_parsing", loc, f"Input should be a valid UUID, {reason}", value, {"error": reason})


def path_uuid(value: str, name: str = "contact_id") -> str:
    """A UUID path parameter, canonical; raises ``Refused`` (422) otherwise."""
    parsed = canonical_uuid(value)
    if parsed is None:
        raise Refused(422, [uuid_error(["path", name], value)])
    return parsed


def _query_int(
    query: Mapping[str, str],
    name: str,
    default: int,
    low: int,
    high: int | None,
    errors: list[dict[str, Any]],
) -> int:
    if name not in query:
        return default
    text = query[name]
    loc: list[str | int] = ["query", name]
    if not _INTEGER.match(text):
        errors.append(
            error(
                "int_parsing",
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
                text,
            )
        )
        return default
    value = int(text)
    if value < low:
        errors.append(
            error(
                "greater_than_equal",
                loc,
                f"Input should be greater than or equal to {low}",
                text,
                {"ge": low},
            )
        )
    elif high is not None and value > high:
        errors.append(
            error("less_than_equal", loc, f"Input should be less than or equal to {high}", text, {"le": high})
        )
    return value


def list_query(query: Mapping[str, str], *, max_limit: int) -> ListQuery:
    """``company_id`` (required UUID), ``skip`` >= 0, 0 <= ``limit`` <= ``max_limit``; else 422."""
    errors: list[dict[str, Any]] = []
    company_id = None
    if "company_id" not in query:
        errors.append(missing(["query", "company_id"]))
    else:
        company_id = canonical_uuid(query["company_id"])
        if company_id is None:
            errors.append(uuid_error(["query", "company_id"], query["company_id"]))
    skip = _query_int(query, "skip", 0, 0, None, errors)
    # A lowered maximum lowers the default too, so a bare request stays valid.
    limit = _query_int(query, "limit", min(DEFAULT_LIMIT, max_limit), 0, max_limit, errors)
    if errors or company_id is None:
        raise Refused(422, errors)
    return ListQuery(company_id=company_id, skip=skip, limit=limit)


def json_body(body: bytes, content_type: str | None) -> Any:
    """The request body as JSON; raises ``Refused`` (422) as FastAPI does for a body model."""
    if not body.strip():
        raise Refused(422, [missing(["body"])])
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if not _JSON_TYPE.match(media_type):
        text = body.decode("utf-8", errors="replace")
        raise Refused(422, [_not_an_object(text)])
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise Refused(
            422, [error("json_invalid", ["body", exc.pos], "JSON decode error", {}, {"error": exc.msg})]
        ) from None
    except UnicodeDecodeError:
        raise Refused(
            422, [error("json_invalid", ["body", 0], "JSON decode error", {}, {"error": "Invalid UTF-8"})]
        ) from None


def _not_an_object(value: Any) -> dict[str, Any]:
    return error(
        "model_attributes_type",
        ["body"],
        "Input should be a valid dictionary or object to extract fields from",
        value,
    )


def contact_fields(body: Any, *, partial: bool) -> dict[str, Any]:
    """The writable fields of a POST (``partial`` False) or PATCH body, checked and cleaned.

    Unknown members are ignored, as pydantic does by default. On create the
    optional fields absent from the body are filled (null, ``is_primary``
    false); on PATCH only the members sent are returned.
    """
    if not isinstance(body, dict):
        raise Refused(422, [_not_an_object(body)])
    errors: list[dict[str, Any]] = []
    cleaned: dict[str, Any] = {}
    for name, kind, required, nullable in WRITABLE_FIELDS:
        loc: list[str | int] = ["body", name]
        if name not in body:
            if required and not partial:
                errors.append(missing(loc))
            elif not partial:
                cleaned[name] = False if kind == "bool" else None
            continue
        value = body[name]
        if value is None and nullable:
            cleaned[name] = None
            continue
        problem, clean = _checked(kind, loc, value)
        if problem is not None:
            errors.append(problem)
        else:
            cleaned[name] = clean
    if errors:
        raise Refused(422, errors)
    return cleaned


def _checked(kind: str, loc: list[str | int], value: Any) -> tuple[dict[str, Any] | None, Any]:
    if kind == "uuid":
        parsed = canonical_uuid(value)
        return (uuid_error(loc, value), None) if parsed is None else (None, parsed)
    if kind == "bool":
        return _boolean(loc, value)
    if not isinstance(value, str):
        return error("string_type", loc, "Input should be a valid string", value), None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800") parses as JSON but is no valid string for pydantic.
        msg = "Input should be a valid string, unable to parse raw data as a unicode string"
        return error("string_unicode", loc, msg, value.encode("utf-8", "replace").decode()), None
    if kind == "email":
        return email_problem(loc, value)
    return None, value


def _boolean(loc: list[str | int], value: Any) -> tuple[dict[str, Any] | None, Any]:
    if isinstance(value, bool):
        return None, value
    if isinstance(value, int) and value in (0, 1):
        return None, bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return None, value.strip().lower() in _TRUE
    if isinstance(value, str):
        return error(
            "bool_parsing", loc, "Input should be a valid boolean, unable to interpret input", value
        ), None
    return error("bool_type", loc, "Input should be a valid boolean", value), None


def email_problem(loc: list[str | int], value: str) -> tuple[dict[str, Any] | None, Any]:
    """(error, None) for an address email-validator refuses, else (None, normalised address)."""
    reason = _email_reason(value)
    if reason is not None:
        msg = f"value is not a valid email address: {reason}"
        return error("value_error", loc, msg, value, {"reason": reason}), None
    local, _, domain = value.rpartition("@")
    return None, f"{local}@{domain.lower()}"


def _email_reason(value: str) -> str | None:
    if "@" not in value:
        return "An email address must have an @-sign."
    local, _, domain = value.rpartition("@")
    if any(ch.isspace() for ch in value):
        return "The email address contains invalid whitespace."
    if not local:
        return "There must be something before the @-sign."
    if "@" in local:
        return "The email address contains invalid characters before the @-sign: '@'."
    if not domain:
        return "There must be something after the @-sign."
    if "." not in domain.strip(".") or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return "The part after the @-sign is not valid. It should have a period."
    return None
