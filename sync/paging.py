"""Walking a cursor-paged list: small pure pieces the engine drives."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left

from sync.errors import InvalidResponse
from sync.remote import Page

# A list may grow while it is walked: the walk may run this much past what the API said it
# holds before it is taken for a list that never ends. No whole page of slack: each page is
# stored as it comes, and a page of junk past the total would stay in the table.
TOTAL_SLACK = 1.1
SLACK_CONTACTS = 20
# Pages in a row that bring no contact before a walk is taken for one that never ends.
MAX_EMPTY_PAGES = 10
# Without a `total` only this bounds a walk of ever-new contacts: 10 million at 200 a page.
MAX_PAGES_WITHOUT_TOTAL = 50_000


class EndlessWalk(InvalidResponse):
    """A list that outgrew what the API said it holds, or stopped bringing contacts."""


class Paginator:
    """Where a walk stands; refuses a cursor it has already followed (an endless loop), and a
    walk that outgrows what the API said it holds or stops bringing contacts (a list that never ends).
    """

    def __init__(
        self,
        cursor: str | None = None,
        *,
        max_empty_pages: int = MAX_EMPTY_PAGES,
        max_pages_without_total: int = MAX_PAGES_WITHOUT_TOTAL,
    ) -> None:
        self.cursor = cursor
        self.finished = False
        self.pages = 0
        self.contacts = 0
        self._followed: set[str] = set() if cursor is None else {cursor}
        self._total: int | None = None  # the largest the API said, as a list may grow
        self._empty_in_a_row = 0
        self._max_empty_pages = max_empty_pages
        self._max_pages_without_total = max_pages_without_total

    def advance(self, page: Page, *, what: str) -> None:
        self.pages += 1
        self.contacts += len(page.contacts)
        self._empty_in_a_row = 0 if page.contacts else self._empty_in_a_row + 1
        if page.total is not None:
            self._total = max(page.total, self._total or 0)
        if not page.has_more or page.next_cursor is None:
            self.finished = True
            self.cursor = None
            return
        if page.next_cursor in self._followed:
            raise InvalidResponse(
                f"{what}: the API sent a cursor it had already sent; stopping the walk",
                request_id=page.request_id,
            )
        endless = self._endless()
        if endless:
            raise EndlessWalk(
                f"{what}: stopping the walk after {self.pages} pages and {self.contacts} contacts: "
                f"{endless}; the list looks like it never ends (a fault at the API). "
                "Nothing more is pulled; the next run starts the walk again",
                request_id=page.request_id,
            )
        self._followed.add(page.next_cursor)
        self.cursor = page.next_cursor

    def _endless(self) -> str | None:
        """Why the walk so far cannot be a list that ends, or None."""
        if self._empty_in_a_row >= self._max_empty_pages:
            return f"the last {self._empty_in_a_row} pages brought no contact but said there was more"
        if self._total is not None:
            allowed = math.ceil(self._total * TOTAL_SLACK) + SLACK_CONTACTS
            if self.contacts > allowed:
                return f"the API said the list holds {self._total} contacts, and still says there is more"
        elif self.pages >= self._max_pages_without_total:
            limit = self._max_pages_without_total
            return f"the API gives no total, and {limit} pages is the most a walk may take"
        return None


class IdSet:
    """A set of contact ids: integers in about 8 bytes each, so a 100,000-contact pull stays
    small; other ids (UUID text) in a plain set."""

    _BATCH = 4096

    def __init__(self) -> None:
        self._sorted: array[int] = array("q")
        self._recent: set[int] = set()
        self._other: set[object] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent) + len(self._other)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int):
            return item in self._other
        if item in self._recent:
            return True
        position = bisect_left(self._sorted, item)
        return position < len(self._sorted) and self._sorted[position] == item

    def add(self, item: object) -> bool:
        """Add `item`; False if it was already there."""
        if item in self:
            return False
        if not isinstance(item, int):
            self._other.add(item)
            return True
        self._recent.add(item)
        if len(self._recent) >= self._BATCH:
            batch = sorted(self._recent)
            if not self._sorted or batch[0] > self._sorted[-1]:
                # A cursor walk lists ids in ascending order: append, no re-sort. Re-sorting
                # every batch cost 20 s of CPU and a 60 MB list of ints at a million ids.
                self._sorted.extend(batch)
            else:
                self._sorted = array("q", sorted([*self._sorted, *batch]))
            self._recent.clear()
        return True
