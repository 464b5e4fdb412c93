"""Group commit for the answers of writes sent in parallel.

Several threads send writes and hand in the answers; one settler thread stores
whatever has arrived since its last commit, in one transaction. A sender never
waits for the store, so the API's latency, not the store's commits, sets the
pace of a push. An answer handed in but not yet committed when the process dies
is safe to lose: the write is still pending in the store and its resend is
safe (same idempotency key, or a lookup before it).
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")

_CLOSE = object()
_HURRY = object()  # a sender waits on an answer: settle what has gathered now


@dataclass
class Ticket:
    """Set once the item's batch was settled, or failed (`Settler.wait` waits for it)."""

    done: threading.Event = field(default_factory=threading.Event)


class Settler(Generic[Item]):
    """Runs `settle_batch` on batches of at most `max_batch` items in a thread of its own.

    A batch gathers what arrives within `linger` seconds of its first item: answers come
    one per latency per sender, so without it most batches would hold one answer and pay
    a transaction each. Nobody waits for that but a sender whose next write follows from
    the answer (`Settler.wait`), and closing settles at once.

    `on_error` is told of every error `settle_batch` raises, at once (so senders stop), and
    the first is kept (`error`); later items are still handed to `settle_batch`: each was
    answered by the API.
    """

    def __init__(
        self,
        settle_batch: Callable[[list[Item]], None],
        *,
        on_error: Callable[[BaseException], None],
        max_batch: int = 200,
        linger: float = 0.05,
    ) -> None:
        self._settle_batch = settle_batch
        self._on_error = on_error
        self._max_batch = max_batch
        self._linger = linger
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.error: BaseException | None = None
        # The thread runs in a copy of the caller's context, so its events keep the run_id.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._loop,), name="settle", daemon=True
        )

    def __enter__(self) -> Settler[Item]:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, item: Item) -> Ticket:
        ticket = Ticket()
        self._inbox.put((item, ticket))
        return ticket

    def wait(self, ticket: Ticket) -> None:
        """Until the ticket's item is settled: for a sender whose next write follows from it."""
        if not ticket.done.is_set():
            self._inbox.put(_HURRY)
            ticket.done.wait()

    def close(self) -> None:
        """Settle everything handed in, then stop the thread."""
        if self._thread.is_alive():
            self._inbox.put(_CLOSE)
            self._thread.join()

    def _loop(self) -> None:
        closing = False
        while not closing:
            batch: list[tuple[Item, Ticket]] = []
            entry = self._inbox.get()
            until = time.monotonic() + self._linger
            while True:
                if entry is _CLOSE:
                    closing = True
                    break
                if entry is _HURRY:
                    break
                batch.append(entry)  # type: ignore[arg-type]
                if len(batch) >= self._max_batch:
                    break
                try:
                    entry = self._inbox.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._run(batch)

    def _run(self, batch: list[tuple[Item, Ticket]]) -> None:
        try:
            self._settle_batch([item for item, _ in batch])
        except BaseException as exc:  # kept for the caller's thread; the loop goes on
            if self.error is None:
                self.error = exc
            self._on_error(exc)
        finally:
            for _, ticket in batch:
                ticket.done.set()
