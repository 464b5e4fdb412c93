"""Check requests and responses against the Lev OpenAPI document (openapi-core).

    validate_request("GET", "/api/external/v2/contacts?limit=200", headers, b"")
    validate_response("GET", "/api/external/v2/contacts?limit=200", 200, headers, body)
    validate_exchange(entry)   # a sandbox LoggedRequest: its request, and its answer if any

Each raises AssertionError with a readable list of what is wrong. The spec is
``tests/data/lev-openapi-2026-03.json`` (a copy of ``shared/lev/``), validated as
if sent to its ``servers`` entry, https://api.lev.com.

Two adjustments, both to honour what the document means rather than what a
strict OpenAPI 3.1 reader does with it:

* The document is 3.1 but marks nullable fields the 3.0 way
  (``"type": "string", "nullable": true``), which 3.1 ignores, so every
  documented ``string|null`` would reject null. Each such schema is rewritten
  to the 3.1 spelling ``"type": ["string", "null"]`` before loading. Request
  schemas, which have no ``nullable``, still reject null.
* Error statuses the document does not enumerate for an operation (429, 500,
  503, 400/409 on create, 422 on update...) but which the error reference
  documents are checked against ``ApiErrorEnvelope`` directly instead of
  failing with "response not found".

On top of the schemas, every error body must carry the documented envelope
(``request_id`` and ``error.{status, type, message, details}``, ``status``
equal to the HTTP status), and every request the headers listed in the
operation's ``x-lev-headers`` (Authorization, X-Origin-App, and
``Content-Type: application/json`` on writes).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS31Validator

from sync.apis.lev.fields import ERROR_TYPES

# A copy of the published document (shared/lev/), so the tests run wherever the checkout is.
SPEC_PATH = Path(__file__).resolve().parent / "data" / "lev-openapi-2026-03.json"
SERVER_URL = "https://api.lev.com"


class LoggedExchange(Protocol):
    """What ``validate_exchange`` reads (``sync.apis.lev.sandbox.requestlog.LoggedRequest``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    response_headers: dict[str, str]
    response_body: bytes


def _nullable_to_31(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_31(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_to_31(value) for key, value in node.items()}
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        del out["nullable"]
    return out


@functools.cache
def spec_document() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        document = json.load(handle)
    converted: dict[str, Any] = _nullable_to_31(document)
    return converted


@functools.cache
def openapi() -> OpenAPI:
    # The document itself is not re-validated on load: it is fixed input, and that
    # check alone takes seconds.
    return OpenAPI.from_dict(spec_document(), config=Config(spec_validator_cls=None))


@functools.cache
def _operation_templates() -> list[tuple[re.Pattern[str], str]]:
    templates = []
    for template in spec_document()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        templates.append((re.compile(f"^{pattern}$"), template))
    # Literal paths before templated ones (".../contacts/{id}" vs a literal sibling).
    templates.sort(key=lambda item: item[1].count("{"))
    return templates


def _operation(method: str, path: str) -> dict[str, Any] | None:
    for pattern, template in _operation_templates():
        if pattern.match(path):
            operation: dict[str, Any] | None = spec_document()["paths"][template].get(method.lower())
            return operation
    return None


def _split(path_with_query: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(path_with_query)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    lines = [text if text.startswith(name) else f"{name}: {text}"]
    cause = error.__cause__
    for schema_error in getattr(cause, "schema_errors", None) or ():
        where = "/".join(str(part) for part in schema_error.absolute_path) or "(body)"
        lines.append(f"    at {where}: {schema_error.message}")
    if cause is not None and not getattr(cause, "schema_errors", None):
        lines.append(f"    caused by {type(cause).__name__}: {cause}")
    return "\n".join(lines)


def _fail(what: str, problems: list[str]) -> None:
    if problems:
        raise AssertionError(f"{what} does not match the Lev OpenAPI document:\n- " + "\n- ".join(problems))


def _request(method: str, path_with_query: str, headers: Mapping[str, str], body: bytes) -> MockRequest:
    path, query = _split(path_with_query)
    content_type = _header(headers, "Content-Type") or "application/json"
    return MockRequest(
        SERVER_URL,
        method,
        path,
        args=query,
        headers=dict(headers),
        data=body,
        content_type=content_type,
    )


def validate_request(
    method: str, path_with_query: str, headers: Mapping[str, str], body_bytes: bytes = b""
) -> None:
    """Raise AssertionError unless the request matches its operation in the spec."""
    path, _ = _split(path_with_query)
    what = f"request {method.upper()} {path_with_query}"
    operation = _operation(method, path)
    if operation is None:
        raise AssertionError(f"{what}: no such operation in the Lev OpenAPI document")
    problems = [
        _describe(error)
        for error in openapi().iter_request_errors(_request(method, path_with_query, headers, body_bytes))
    ]
    for documented in operation.get("x-lev-headers", []):
        name, _, value = documented.partition(":")
        sent = _header(headers, name.strip())
        if not sent:
            problems.append(f"missing header {name.strip()} (documented: {documented})")
        elif name.strip().lower() == "content-type":
            if sent.split(";")[0].strip().lower() != value.strip().lower():
                problems.append(f"Content-Type is {sent!r}, documented {value.strip()!r}")
        elif name.strip().lower() == "authorization" and not sent.lower().startswith("bearer "):
            problems.append("Authorization must use the Bearer scheme")
    _fail(what, problems)


def _error_envelope_problems(status: int, body: Any) -> list[str]:
    components = spec_document()["components"]
    problems = []
    for schema_name, instance in (
        ("ApiErrorEnvelope", body),
        ("ErrorFormat", body.get("error") if isinstance(body, dict) else None),
    ):
        validator = OAS31Validator({"$ref": f"#/components/schemas/{schema_name}", "components": components})
        for error in validator.iter_errors(instance):
            where = "/".join(str(part) for part in error.absolute_path) or "(body)"
            problems.append(f"{schema_name} at {where}: {error.message}")
    if not isinstance(body, dict):
        return [*problems, "error body is not a JSON object"]
    error = body.get("error")
    if not isinstance(body.get("request_id"), str):
        problems.append("error envelope has no request_id")
    if not isinstance(error, dict):
        return [*problems, "error envelope has no error object"]
    for member in ("status", "type", "message", "details"):
        if member not in error:
            problems.append(f"error.{member} is missing")
    if error.get("status") != status:
        problems.append(f"error.status is {error.get('status')!r}, HTTP status is {status}")
    if status in ERROR_TYPES and error.get("type") != ERROR_TYPES[status]:
        problems.append(f"error.type is {error.get('type')!r}, documented {ERROR_TYPES[status]!r}")
    return problems


def validate_response(
    method: str,
    path_with_query: str,
    status: int,
    headers: Mapping[str, str],
    body_bytes: bytes,
) -> None:
    """Raise AssertionError unless the response matches the spec (and the error envelope)."""
    what = f"response {status} to {method.upper()} {path_with_query}"
    content_type = _header(headers, "Content-Type") or ""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise AssertionError(f"{what}: Content-Type is {content_type!r}, not application/json")
    try:
        body = json.loads(body_bytes)
    except ValueError as exc:
        raise AssertionError(f"{what}: body is not JSON ({exc}): {body_bytes[:200]!r}") from None
    request = _request(method, path_with_query, {}, b"")
    response = MockResponse(body_bytes, status_code=status, headers=dict(headers), content_type=content_type)
    problems: list[str] = []
    for error in openapi().iter_response_errors(request, response):
        if isinstance(error, ResponseNotFound) and status >= 400:
            continue  # documented error not enumerated here: the envelope check covers it
        problems.append(_describe(error))
    if status >= 400:
        problems += _error_envelope_problems(status, copy.deepcopy(body))
    elif not isinstance(body, dict) or not {"request_id", "timestamp", "data"} <= set(body):
        problems.append("success body lacks request_id, timestamp or data")
    _fail(what, problems)


def validate_exchange(entry: LoggedExchange) -> None:
    """Validate a logged request, and its answer unless the connection was dropped."""
    validate_request(entry.method, entry.path, entry.headers, entry.body)
    if entry.status is not None:
        validate_response(entry.method, entry.path, entry.status, entry.response_headers, entry.response_body)
