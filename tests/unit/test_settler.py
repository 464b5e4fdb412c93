"""The settler stores answers in batches, in the order they were handed in, and never drops one."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sync.settler import Settler


class Recorder:
    def __init__(self, *, gate_first: bool = False, fail_on: object = None) -> None:
        self.batches: list[list[Any]] = []
        self.errors: list[BaseException] = []
        self.gate = threading.Event()
        self.first_started = threading.Event()
        self._gate_first = gate_first
        self._fail_on = fail_on

    def settle(self, batch: list[Any]) -> None:
        if not self.batches and self._gate_first:
            self.first_started.set()
            assert self.gate.wait(10)
        self.batches.append(list(batch))
        if self._fail_on in batch:
            raise RuntimeError(f"cannot store {self._fail_on}")


def test_answers_arriving_during_a_commit_are_stored_together_in_order() -> None:
    recorder = Recorder(gate_first=True)
    with Settler(recorder.settle, on_error=recorder.errors.append) as settler:
        first = settler.submit(0)
        assert recorder.first_started.wait(10)
        tickets = [settler.submit(n) for n in range(1, 6)]
        assert not first.done.is_set()
        recorder.gate.set()
        for ticket in tickets:
            settler.wait(ticket)
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]
    assert recorder.errors == []


def test_a_batch_is_never_larger_than_asked() -> None:
    recorder = Recorder(gate_first=True)
    with Settler(recorder.settle, on_error=recorder.errors.append, max_batch=2) as settler:
        settler.submit("a")
        assert recorder.first_started.wait(10)
        for item in "bcde":
            settler.submit(item)
        recorder.gate.set()
    assert recorder.batches == [["a"], ["b", "c"], ["d", "e"]]


def test_closing_stores_everything_handed_in_from_many_threads() -> None:
    recorder = Recorder()
    settler = Settler(recorder.settle, on_error=recorder.errors.append)
    with settler:

        def send(base: int) -> None:
            for n in range(50):
                settler.submit(base + n)

        threads = [threading.Thread(target=send, args=(1000 * k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stored = [item for batch in recorder.batches for item in batch]
    assert sorted(stored) == sorted(1000 * k + n for k in range(4) for n in range(50))
    for k in range(4):  # each sender's answers keep their order
        mine = [item for item in stored if 1000 * k <= item < 1000 * (k + 1)]
        assert mine == sorted(mine)


def test_every_error_is_reported_the_first_kept_and_later_answers_still_stored() -> None:
    recorder = Recorder(gate_first=True, fail_on="bad")
    with Settler(recorder.settle, on_error=recorder.errors.append) as settler:
        settler.submit("bad")
        assert recorder.first_started.wait(10)
        recorder.gate.set()
        failed = settler.submit("bad")
        later = settler.submit("good")
        settler.wait(failed)
        settler.wait(later)
    assert recorder.batches[0] == ["bad"]
    assert [item for batch in recorder.batches for item in batch].count("good") == 1
    assert len(recorder.errors) == 2  # each failed batch: no later failure goes unsaid
    assert settler.error is recorder.errors[0]
    assert isinstance(settler.error, RuntimeError)
    with pytest.raises(RuntimeError, match="cannot store bad"):
        raise settler.error


def test_answers_handed_in_within_the_linger_share_one_transaction() -> None:
    recorder = Recorder()
    with Settler(recorder.settle, on_error=recorder.errors.append, linger=60) as settler:
        for n in range(5):
            settler.submit(n)
    # Closing ends the linger: one batch, not five, and nothing waited the minute out.
    assert recorder.batches == [[0, 1, 2, 3, 4]]


def test_a_sender_waiting_for_its_answer_cuts_the_linger_short() -> None:
    recorder = Recorder()
    with Settler(recorder.settle, on_error=recorder.errors.append, linger=60) as settler:
        settler.submit("a")
        ticket = settler.submit("b")
        waiter = threading.Thread(target=settler.wait, args=(ticket,))
        waiter.start()
        waiter.join(10)
        assert not waiter.is_alive(), "the wait should end the linger, not sit it out"
        settler.submit("c")
    assert recorder.batches == [["a", "b"], ["c"]]
