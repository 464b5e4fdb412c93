"""Walking every synced company's list with `skip`/`limit`: positions and page-size decisions.

Pure. A walk goes company after company (in sorted id order) and, within one,
from offset 0 until a page ends it. The engine stores the position between
pages as an opaque cursor `"<company uuid>:<skip>"`, so a killed run resumes in
the same company at the same offset.

When does a page end a company's list? A page shorter than asked for, unless
its length may be a cap the server applies silently instead of answering 422
(the documented default, 100, or a cap learned earlier): then the next page is
asked too, and if it has rows the server did cap, and that cap is used from
then on. An empty page always ends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync.apis.companies.fields import DOCUMENTED_DEFAULT_LIMIT
from sync.apis.companies.wire import canonical_uuid


class BadPosition(ValueError):
    """A saved cursor this walk cannot resume from."""


@dataclass(frozen=True)
class Position:
    company_id: str
    skip: int

    @property
    def cursor(self) -> str:
        return f"{self.company_id}:{self.skip}"


def first_position(companies: Sequence[str]) -> Position | None:
    return Position(companies[0], 0) if companies else None


def position_of(cursor: str, companies: Sequence[str]) -> Position:
    """The position a cursor names; BadPosition when it is garbled or names a company no
    longer synced (the walk then starts over)."""
    company, _, skip_text = cursor.rpartition(":")
    company_id = canonical_uuid(company)
    if company_id is None or not skip_text.isdigit():
        raise BadPosition(f"the saved list position {cursor!r:.80} is not one this client makes")
    if company_id not in companies:
        raise BadPosition(f"the saved list position is in company {company_id}, which is not synced any more")
    return Position(company_id, int(skip_text))


@dataclass(frozen=True)
class PageSize:
    """What the walk knows of the server's page size: what to ask, what may be a silent cap."""

    asked: int
    known_cap: int | None = None  # a cap learned this run (from a 422, or from a capped page)

    def maybe_capped(self, rows: int) -> bool:
        """A page of `rows` (fewer than asked) may have been cut by the server, not the list."""
        return rows in {DOCUMENTED_DEFAULT_LIMIT, self.known_cap} and rows < self.asked

    def learned(self, cap: int) -> PageSize:
        return PageSize(asked=min(self.asked, cap), known_cap=cap)


@dataclass(frozen=True)
class Step:
    """After a page: where the walk goes next (None: the end) and what it learned."""

    next: Position | None
    size: PageSize
    # Set while checking whether a short page was a cap: the length of that page.
    probing: int | None = None


def next_step(
    at: Position, rows: int, size: PageSize, companies: Sequence[str], *, probing: int | None = None
) -> Step:
    """Where to go after a page of `rows` contacts read at `at` with `size.asked`.

    `probing` is the length of the previous page when that one may have been capped:
    rows now prove it was (the list went on), and its length is the server's cap.
    """
    if probing is not None and rows > 0:
        size = size.learned(probing)
    if rows > 0 and (rows >= size.asked or size.maybe_capped(rows)):
        short = rows if rows < size.asked else None
        return Step(Position(at.company_id, at.skip + rows), size, probing=short)
    index = companies.index(at.company_id)
    following = Position(companies[index + 1], 0) if index + 1 < len(companies) else None
    return Step(following, size)
