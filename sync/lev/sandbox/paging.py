"""List query parsing and the two pagination styles of GET /contacts.

Cursor (default): rows in ascending ``id`` order; the cursor is base64 of
``{"id": <last id on the page>}`` (the shape the docs' example cursor decodes
to) and the next page starts after that id. Because ids never change and new
contacts get larger ids, paging is stable: no row is repeated or skipped when
rows are edited or created between pages; new ones show up at the end.

Offset (when ``sort`` is given): rows sorted by the field (``-`` prefix for
descending, ties broken by id), sliced at ``offset``; like the real API this
can skip or repeat rows if they change between pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sync.lev.fields import CONTACT_FIELDS, PAGE_LIMIT_MAX, Kind
from sync.lev.sandbox.envelope import Rejected

DEFAULT_LIMIT: Final[int] = 50
CURSOR_WITH_SORT: Final[str] = "cursor and sort cannot be combined; use offset pagination when sorting"
SORTABLE_FIELDS: Final[frozenset[str]] = frozenset(
    name for name, kind in CONTACT_FIELDS.items() if kind is not Kind.JSON
)


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    after_id: int | None = None
    sort: str | None = None
    descending: bool = False
    offset: int = 0
    fields: frozenset[str] | None = None


def encode_cursor(last_id: int) -> str:
    return base64.b64encode(json.dumps({"id": last_id}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        decoded = json.loads(base64.b64decode(cursor.encode(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "invalid cursor") from exc
    last_id = decoded.get("id") if isinstance(decoded, dict) else None
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise Rejected(400, "invalid cursor")
    return last_id


def _integer(name: str, text: str, low: int, high: int | None) -> int:
    stripped = text.strip()
    if not stripped.isdigit() and not (stripped.startswith("-") and stripped[1:].isdigit()):
        raise Rejected(400, f"{name} must be an integer")
    value = int(stripped)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Rejected(400, f"{name} must be {bound}")
    return value


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Read limit/cursor/sort/offset/fields; raises ``Rejected`` (400) on bad values."""
    limit = DEFAULT_LIMIT
    if "limit" in query:
        limit = _integer("limit", query["limit"], 1, PAGE_LIMIT_MAX)
    cursor = query.get("cursor")
    sort = query.get("sort")
    if cursor is not None and sort is not None:
        raise Rejected(400, CURSOR_WITH_SORT)
    fields = None
    if "fields" in query:
        names = frozenset(part.strip() for part in query["fields"].split(",") if part.strip())
        unknown = sorted(names - set(CONTACT_FIELDS))
        if unknown:
            raise Rejected(400, f"Unknown field(s) in fields: {', '.join(unknown)}")
        fields = names | {"id"}
    if sort is not None:
        descending = sort.startswith("-")
        name = sort[1:] if descending else sort
        if name not in SORTABLE_FIELDS:
            raise Rejected(400, f"Cannot sort by {name!r}")
        offset = _integer("offset", query["offset"], 0, None) if "offset" in query else 0
        return ListQuery(limit=limit, sort=name, descending=descending, offset=offset, fields=fields)
    after_id = decode_cursor(cursor) if cursor is not None else None
    return ListQuery(limit=limit, after_id=after_id, fields=fields)


def cursor_page(
    rows: Sequence[Mapping[str, Any]], query: ListQuery
) -> tuple[list[Mapping[str, Any]], dict[str, Any]]:
    """One cursor page of ``rows`` (any order) and its ``pagination`` object."""
    ordered = sorted(rows, key=lambda row: int(row["id"]))
    remaining = [row for row in ordered if query.after_id is None or row["id"] > query.after_id]
    page = remaining[: query.limit]
    has_more = len(remaining) > len(page)
    return page, {
        "total": len(ordered),
        "limit": query.limit,
        "has_more": has_more,
        "next_cursor": encode_cursor(int(page[-1]["id"])) if has_more and page else None,
    }


def offset_page(
    rows: Sequence[Mapping[str, Any]], query: ListQuery
) -> tuple[list[Mapping[str, Any]], dict[str, Any]]:
    """One offset page of ``rows`` sorted by ``query.sort``, and its ``pagination``."""
    assert query.sort is not None
    name = query.sort
    present = [row for row in rows if row.get(name) is not None]
    missing = [row for row in rows if row.get(name) is None]
    present.sort(key=lambda row: int(row["id"]))
    present.sort(key=lambda row: _sort_key(row[name]), reverse=query.descending)
    # Nulls last whichever the direction, ordered by id.
    missing.sort(key=lambda row: int(row["id"]))
    ordered = present + missing
    page = ordered[query.offset : query.offset + query.limit]
    return page, {
        "total": len(ordered),
        "limit": query.limit,
        "offset": query.offset,
        "has_more": query.offset + len(page) < len(ordered),
    }


def _sort_key(value: Any) -> Any:
    # Text sorts case-insensitively, as a database collation would.
    return value.casefold() if isinstance(value, str) else value
