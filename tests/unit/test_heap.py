"""A long step runs with the process's earlier objects out of the collector's passes, and only then."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sync.heap import frozen_heap


@pytest.fixture(autouse=True)
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_are_frozen_during_the_step_and_handed_back_after() -> None:
    """Inside the step the earlier objects are frozen; after it, none are."""
    seen: list[int] = []

    @frozen_heap
    def step(value: int) -> int:
        seen.append(gc.get_freeze_count())
        return value * 2

    assert step(21) == 42
    assert seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_a_failing_step_still_hands_them_back() -> None:
    """An exception leaves nothing frozen behind."""

    @frozen_heap
    def step() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        step()
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_before_is_left_as_it_is() -> None:
    """A process that froze its own objects keeps them frozen after the step."""
    gc.freeze()
    before = gc.get_freeze_count()

    @frozen_heap
    def step() -> int:
        return gc.get_freeze_count()

    assert step() == before
    assert gc.get_freeze_count() == before
