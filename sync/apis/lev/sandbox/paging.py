"""List query parsing and the two pagination styles of GET /contacts.

Cursor (default): rows in ascending ``id`` order; the cursor is base64 of
``{"id": <last id on the page>}`` (the shape the docs' example cursor decodes
to) and the next page starts after that id. Because ids never change and new
contacts get larger ids, paging is stable: no row is repeated or skipped when
rows are edited or created between pages; new ones show up at the end.

Offset (when ``sort`` is given): rows sorted by the field (``-`` prefix for
descending, ties broken by id), sliced at ``offset``; like the real API this
can skip or repeat rows if they change between pages.

Filtered (``filter[updated_at][gte|lte]``, see ``filters``): the cursor walk
orders by ``(updated_at, id)`` instead, and its cursor also carries the last
row's ``updated_at`` and the filter it was made with. The docs do not say
whether a cursor keeps its filter, so both client styles work: a request with
a cursor may repeat the same filter or leave it out (the cursor's applies); a
different filter, or a filter with an unfiltered walk's cursor, is 400. A row
changed during a filtered walk moves to its end and is listed again, so a
walk never misses a change that happened while it ran.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sync.apis.lev.fields import CONTACT_FIELDS, PAGE_LIMIT_MAX, Kind
from sync.apis.lev.sandbox.envelope import Rejected
from sync.apis.lev.sandbox.filters import FilterMode, UpdatedRange, instant, parse_filters

DEFAULT_LIMIT: Final[int] = 50
CURSOR_WITH_SORT: Final[str] = "cursor and sort cannot be combined; use offset pagination when sorting"
CURSOR_FILTER_MISMATCH: Final[str] = (
    "this cursor was made with another filter: send the filter it was made with (or none), "
    "or start a new walk without a cursor"
)
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
    updated: UpdatedRange | None = None
    # The filtered walk's position: the last row's updated_at (None: from the start).
    after_updated_at: str | None = None


@dataclass(frozen=True)
class CursorPosition:
    after_id: int
    after_updated_at: str | None = None
    updated: UpdatedRange | None = None


def encode_cursor(
    last_id: int,
    *,
    updated_at: str | None = None,
    updated: UpdatedRange | None = None,
    nonce: int | None = None,
) -> str:
    """``{"id": N}`` for a plain walk; a filtered one adds its position and filter."""
    body: dict[str, Any] = {"id": last_id}
    if updated is not None:
        body["updated_at"] = updated_at
        body["filter"] = updated.to_json()
    if nonce is not None:
        body["n"] = nonce
    return base64.b64encode(json.dumps(body).encode()).decode()


def decode_cursor(cursor: str) -> CursorPosition:
    try:
        decoded = json.loads(base64.b64decode(cursor.encode(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "invalid cursor") from exc
    last_id = decoded.get("id") if isinstance(decoded, dict) else None
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise Rejected(400, "invalid cursor")
    assert isinstance(decoded, dict)
    if "filter" not in decoded:
        return CursorPosition(last_id)
    bounds, stamp = decoded["filter"], decoded.get("updated_at")
    if not isinstance(bounds, dict) or not (stamp is None or isinstance(stamp, str)):
        raise Rejected(400, "invalid cursor")
    try:
        updated = UpdatedRange(gte=bounds.get("gte"), lte=bounds.get("lte"))
        for text in (stamp, updated.gte, updated.lte):
            if text is not None:
                instant(text)
    except (TypeError, ValueError, AttributeError):
        raise Rejected(400, "invalid cursor") from None
    return CursorPosition(last_id, stamp, updated)


def resume_cursor(query: ListQuery, nonce: int) -> str:
    """A fresh cursor (``nonce``) for the position ``query`` asked for: the walk goes nowhere."""
    return encode_cursor(
        query.after_id or 0, updated_at=query.after_updated_at, updated=query.updated, nonce=nonce
    )


def _integer(name: str, text: str, low: int, high: int | None) -> int:
    stripped = text.strip()
    if not stripped.isdigit() and not (stripped.startswith("-") and stripped[1:].isdigit()):
        raise Rejected(400, f"{name} must be an integer")
    value = int(stripped)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Rejected(400, f"{name} must be {bound}")
    return value


def parse_list_query(query: Mapping[str, str], filter_mode: FilterMode = "apply") -> ListQuery:
    """Read limit/cursor/sort/offset/fields/filter; raises ``Rejected`` (400) on bad values."""
    updated = parse_filters(query, filter_mode)
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
        return ListQuery(
            limit=limit, sort=name, descending=descending, offset=offset, fields=fields, updated=updated
        )
    if cursor is None:
        return ListQuery(limit=limit, fields=fields, updated=updated)
    position = decode_cursor(cursor)
    if filter_mode == "ignore":
        return ListQuery(limit=limit, after_id=position.after_id, fields=fields)
    if updated is not None and (position.updated is None or not updated.same_as(position.updated)):
        raise Rejected(400, CURSOR_FILTER_MISMATCH)
    if position.updated is not None and filter_mode == "reject":
        raise Rejected(400, "invalid cursor: this server does not filter contacts")
    return ListQuery(
        limit=limit,
        after_id=position.after_id,
        fields=fields,
        updated=position.updated,
        after_updated_at=position.after_updated_at,
    )


def cursor_page(
    rows: Sequence[Mapping[str, Any]], query: ListQuery
) -> tuple[list[Mapping[str, Any]], dict[str, Any]]:
    """One cursor page of ``rows`` (any order, already filtered) and its ``pagination`` object."""
    if query.updated is not None:
        return _updated_order_page(rows, query)
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


def _updated_order_page(
    rows: Sequence[Mapping[str, Any]], query: ListQuery
) -> tuple[list[Mapping[str, Any]], dict[str, Any]]:
    def key(row: Mapping[str, Any]) -> tuple[Any, int]:
        return instant(row["updated_at"]), int(row["id"])

    ordered = sorted(rows, key=key)
    if query.after_updated_at is None:
        remaining = ordered
    else:
        position = (instant(query.after_updated_at), query.after_id or 0)
        remaining = [row for row in ordered if key(row) > position]
    page = remaining[: query.limit]
    has_more = len(remaining) > len(page)
    last = page[-1] if has_more and page else None
    return page, {
        "total": len(ordered),
        "limit": query.limit,
        "has_more": has_more,
        "next_cursor": None
        if last is None
        else encode_cursor(int(last["id"]), updated_at=last["updated_at"], updated=query.updated),
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
