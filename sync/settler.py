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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")

_CLOSE = object()


@dataclass
class Ticket:
    """Set once the item's batch was settled, or failed: a sender whose next write follows
    from this one waits for it."""

    done: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        self.done.wait()


class Settler(Generic[Item]):
    """Runs `settle_batch` on batches of at most `max_batch` items in a thread of its own.

    The first error `settle_batch` raises is kept (`error`), `on_error` is told at once
    (so senders stop), and later items are still settled: each was answered by the API.
    """

    def __init__(
        self,
        settle_batch: Callable[[list[Item]], None],
        *,
        on_error: Callable[[BaseException], None],
        max_batch: int = 200,
    ) -> None:
        self._settle_batch = settle_batch
        self._on_error = on_error
        self._max_batch = max_batch
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
            while True:
                if entry is _CLOSE:
                    closing = True
                    break
                batch.append(entry)  # type: ignore[arg-type]
                if len(batch) >= self._max_batch:
                    break
                try:
                    entry = self._inbox.get_nowait()
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
