"""Stopping on SIGTERM or SIGINT: the first lets the run stop at its next step, a second exits.

Python runs signal handlers only in the main thread, and only when it runs
bytecode. The kernel may hand the signal to any thread, so a main thread parked
in one long wait (a thread join, a scheduler's wait for its next slot) would not
see it until that wait ended. The work runs elsewhere and the main thread sleeps
in short steps instead. The handler takes no lock, not even an Event's: it may
run in the main thread while that thread holds the very lock it would wait for.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

POLL_SECONDS = 0.2
EXIT_SECOND_SIGNAL = 130

T = TypeVar("T")


def install_stop_signals() -> list[str]:
    """Note the first SIGTERM/SIGINT in the list returned; exit 130 at once on a second."""
    received: list[str] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        if received:
            os._exit(EXIT_SECOND_SIGNAL)
        received.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return received


def wait_for_signal(received: list[str]) -> str:
    while not received:
        time.sleep(POLL_SECONDS)
    return received[0]


def run_until_done(work: Callable[[threading.Event], T], *, on_stop: Callable[[str], None]) -> T:
    """Run `work(stop)` in a thread; a signal sets `stop`; return its result or raise its error."""
    stop = threading.Event()
    received = install_stop_signals()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work(stop))
        except BaseException as exc:  # handed to the main thread below
            failure.append(exc)

    worker = threading.Thread(target=target, name="run", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        if received and not stop.is_set():
            on_stop(received[0])
            stop.set()
    if failure:
        raise failure[0]
    return outcome[0]
