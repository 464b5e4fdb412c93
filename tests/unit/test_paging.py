"""Walking cursor pages: the paginator's guard and the compact set of seen ids."""

from __future__ import annotations

import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import InvalidResponse
from sync.paging import EndlessWalk, IdSet, Paginator
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


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 3 * 4096 + 50), st.sampled_from(["ascending", "shuffled"]), st.randoms())
def test_idset_is_a_set_in_any_order(count: int, order: str, rng: random.Random) -> None:
    """Ids added in ascending order (a cursor walk, appended) or any order (merged) behave as a set."""
    items = [rng.randrange(-(2**62), 2**62) for _ in range(count)]
    items += rng.sample(items, min(len(items), 100))  # some repeats
    if order == "ascending":
        items.sort()
    ids, seen = IdSet(), set()
    for item in items:
        assert ids.add(item) is (item not in seen)
        seen.add(item)
    assert len(ids) == len(seen)
    assert list(ids._sorted) == sorted(ids._sorted)
    assert all(item in ids for item in items)
    assert not any(item + 1 in ids for item in items if item + 1 not in seen)


def contacts_page(
    cursor: str | None, count: int, *, start: int = 0, total: int | None = None, has_more: bool = True
) -> Page:
    contacts = [{"id": start + n} for n in range(count)]
    return Page(contacts, cursor, has_more, "req-7", total)


def test_paginator_stops_a_walk_of_empty_pages_that_say_there_is_more() -> None:
    """Empty pages with has_more and a fresh cursor every time stop the walk after a few, naming the count."""
    walk = Paginator(max_empty_pages=4)
    for n in range(3):
        walk.advance(contacts_page(f"c{n}", 0), what="GET /contacts")
    with pytest.raises(EndlessWalk, match="4 pages and 0 contacts") as caught:
        walk.advance(contacts_page("c3", 0), what="GET /contacts")
    assert "brought no contact" in str(caught.value)
    assert caught.value.request_id == "req-7"


def test_paginator_counts_empty_pages_in_a_row_only() -> None:
    """An empty page now and then (a filtered page) does not stop a walk that keeps bringing contacts."""
    walk = Paginator(max_empty_pages=2)
    for n in range(10):
        walk.advance(contacts_page(f"e{n}", 0), what="GET /contacts")
        walk.advance(contacts_page(f"f{n}", 5, start=n * 5), what="GET /contacts")
    walk.advance(contacts_page(None, 0, has_more=False), what="GET /contacts")
    assert walk.finished and walk.pages == 21


def test_paginator_stops_a_walk_that_outgrows_the_total_it_was_given() -> None:
    """Pages of ever-new contacts stop once the walk passes total * 1.1 plus 20, naming why."""
    walk = Paginator()
    pages = 0
    with pytest.raises(EndlessWalk, match="holds 1000 contacts") as caught:
        while pages < 100:
            walk.advance(contacts_page(f"c{pages}", 100, start=pages * 100, total=1000), what="GET /contacts")
            pages += 1
    # 1000 * 1.1 + 20 = 1120: the 12th page of 100 is one too many.
    assert walk.pages == 12 and walk.contacts == 1200
    assert "12 pages" in str(caught.value)


def test_paginator_refuses_a_first_page_far_larger_than_the_total() -> None:
    """A full page of 200 when the API says it holds 47 is refused before the engine stores it."""
    with pytest.raises(EndlessWalk, match="holds 47 contacts"):
        Paginator().advance(contacts_page("c1", 200, start=0, total=47), what="GET /contacts")


def test_paginator_lets_a_list_that_grows_during_the_walk_finish() -> None:
    """A total that grows page by page (contacts created during the walk) moves the bound with it."""
    walk = Paginator()
    for n in range(30):
        walk.advance(contacts_page(f"c{n}", 100, start=n * 100, total=1000 + n * 100), what="GET /contacts")
    walk.advance(contacts_page(None, 50, start=3000, total=3050, has_more=False), what="GET /contacts")
    assert walk.finished and walk.contacts == 3050


def test_paginator_bounds_a_walk_without_a_total_by_pages() -> None:
    """An API that gives no total still cannot walk past the page limit."""
    walk = Paginator(max_pages_without_total=5)
    for n in range(4):
        walk.advance(contacts_page(f"c{n}", 2, start=n * 2), what="GET /contacts")
    with pytest.raises(EndlessWalk, match="no total"):
        walk.advance(contacts_page("c4", 2, start=8), what="GET /contacts")
