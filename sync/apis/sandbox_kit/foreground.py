"""Run a started sandbox in the foreground until SIGINT/SIGTERM or a stop event."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def wait_for_stop(stop_event: threading.Event) -> None:
    """Block until ``stop_event`` is set, or (in the main thread) SIGINT/SIGTERM arrives."""
    restore = stop_on_signals(stop_event)
    try:
        # A timed wait so signal handlers get to run promptly.
        while not stop_event.wait(0.2):
            pass
    finally:
        restore()


def stop_on_signals(stop_event: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set ``stop_event``; returns what puts the old handlers back.

    Signal handlers can only be set from the main thread: elsewhere (a test
    serving on a thread) nothing changes and only the event stops the wait.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
