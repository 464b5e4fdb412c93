"""Walking cursor pages: the paginator's guard and the compact set of seen ids."""

from __future__ import annotations

from array import array

import pytest

from sync.errors import InvalidResponse
from sync.paging import IdSet, Paginator
from sync.remote import Page


def page(next_cursor: str | None, *, has_more: bool = True, request_id: str | None = "req-1") -> Page:
    return Page(contacts=[], next_cursor=next_cursor, has_more=has_more, request_id=request_id)


def test_paginator_follows_cursors_until_has_more_is_false() -> None:
    """The paginator follows each new cursor and finishes (cursor None) on has_more false."""
    walk = Paginator()
    assert (walk.cursor, walk.finished) == (None, False)
    walk.advance(page("c1"), what="GET /contacts")
    assert (walk.cursor, walk.finished, walk.pages) == ("c1", False, 1)
    walk.advance(page("c2"), what="GET /contacts")
    walk.advance(page(None, has_more=False), what="GET /contacts")
    assert (walk.cursor, walk.finished, walk.pages) == (None, True, 3)


def test_paginator_finishes_when_has_more_is_false_even_with_a_cursor() -> None:
    """A last page that still carries a cursor ends the walk."""
    walk = Paginator()
    walk.advance(page("c1", has_more=False), what="GET /contacts")
    assert walk.finished
    assert walk.cursor is None


def test_paginator_refuses_a_repeated_cursor() -> None:
    """A cursor the API already sent stops the walk with InvalidResponse naming the request."""
    walk = Paginator()
    walk.advance(page("c1"), what="GET /contacts")
    walk.advance(page("c2"), what="GET /contacts")
    with pytest.raises(InvalidResponse, match="GET /contacts") as caught:
        walk.advance(page("c1", request_id="req-9"), what="GET /contacts")
    assert caught.value.request_id == "req-9"


def test_paginator_refuses_the_cursor_it_resumed_from() -> None:
    """A resumed walk counts its starting cursor as already followed."""
    walk = Paginator("saved")
    with pytest.raises(InvalidResponse):
        walk.advance(page("saved"), what="GET /contacts")


def test_idset_membership_and_duplicates_across_the_batch_boundary() -> None:
    """add() is False for an id already present, whether it sits in the sorted array or the recent batch."""
    ids = IdSet()
    count = IdSet._BATCH * 2 + 100
    added = [ids.add(n * 7) for n in range(count)]
    assert all(added)
    assert len(ids) == count
    # Early ids were folded into the sorted array; the latest are still in the recent batch.
    assert ids.add(0) is False
    assert ids.add(7 * (IdSet._BATCH - 1)) is False
    assert ids.add(7 * IdSet._BATCH) is False
    assert ids.add(7 * (count - 1)) is False
    assert len(ids) == count
    assert 7 * 5 in ids
    assert 3 not in ids
    assert -7 not in ids
    assert 7 * count not in ids
    assert ids.add(3) is True
    assert 3 in ids


def test_idset_keeps_ids_in_an_eight_byte_array() -> None:
    """Ids live in a sorted array of 8-byte integers once a batch fills, not in a set of int objects."""
    ids = IdSet()
    for n in range(IdSet._BATCH - 1):
        ids.add(n)
    assert len(ids._sorted) == 0
    ids.add(10**12)
    assert isinstance(ids._sorted, array)
    assert ids._sorted.itemsize == 8
    assert len(ids._sorted) == IdSet._BATCH
    for n in range(IdSet._BATCH, 2 * IdSet._BATCH):
        ids.add(n)
    assert len(ids._sorted) == 2 * IdSet._BATCH
    assert list(ids._sorted) == sorted(ids._sorted)
    assert len(ids._recent) == 0
