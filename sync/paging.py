"""Walking a cursor-paged list: small pure pieces the engine drives."""

from __future__ import annotations

from array import array
from bisect import bisect_left

from sync.errors import InvalidResponse
from sync.remote import Page


class Paginator:
    """Where a walk stands; refuses a cursor it has already followed (an endless loop)."""

    def __init__(self, cursor: str | None = None) -> None:
        self.cursor = cursor
        self.finished = False
        self.pages = 0
        self._followed: set[str] = set() if cursor is None else {cursor}

    def advance(self, page: Page, *, what: str) -> None:
        self.pages += 1
        if not page.has_more or page.next_cursor is None:
            self.finished = True
            self.cursor = None
            return
        if page.next_cursor in self._followed:
            raise InvalidResponse(
                f"{what}: the API sent a cursor it had already sent; stopping the walk",
                request_id=page.request_id,
            )
        self._followed.add(page.next_cursor)
        self.cursor = page.next_cursor


class IdSet:
    """A set of integer ids in about 8 bytes each, so a 100,000-contact pull stays small."""

    _BATCH = 4096

    def __init__(self) -> None:
        self._sorted: array[int] = array("q")
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, item: int) -> bool:
        if item in self._recent:
            return True
        position = bisect_left(self._sorted, item)
        return position < len(self._sorted) and self._sorted[position] == item

    def add(self, item: int) -> bool:
        """Add `item`; False if it was already there."""
        if item in self:
            return False
        self._recent.add(item)
        if len(self._recent) >= self._BATCH:
            merged = sorted([*self._sorted, *self._recent])
            self._sorted = array("q", merged)
            self._recent.clear()
        return True
