"""Push: send the pending writes, contacts in parallel, and store what the API answered.

Each row's writes go in order; different rows' go side by side, up to
`write_concurrency`. The answers are stored by one settler thread (`sync.settler`),
a batch a transaction, so the API's latency, not the store, sets the pace.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from storage.store import MergedContact, SavedWrite, Store
from sync.apis.adapter import Adapter
from sync.conflict_log import log_conflicts
from sync.digests import record_digest
from sync.errors import (
    ConstraintViolated,
    ContactGone,
    FatalError,
    InvalidResponse,
    RequestRejected,
    StoreError,
)
from sync.links import clash
from sync.merge import POLICIES, merge_contact
from sync.plan import ContactId, PreparedWrite
from sync.progress import RunProgress
from sync.remote import Remote
from sync.settler import Settler, Ticket
from sync.values import unstorable_field

if TYPE_CHECKING:
    from sync.engine import Counts, EngineOptions

log = structlog.get_logger("sync.engine")


@dataclass(frozen=True)
class Answered:
    """A write the API carried out, with the contact it answered (None for a DELETE)."""

    write: SavedWrite
    answer: dict[str, Any] | None


class Pusher:
    """One push of a run: what `Engine.push_pending` delegates to."""

    def __init__(
        self,
        *,
        store: Store,
        remote: Remote,
        adapter: Adapter,
        options: EngineOptions,
        counts: Counts,
        counts_lock: threading.Lock,
        progress: RunProgress,
        check_stop: Callable[[], None],
        on_contact_gone: Callable[[ContactId], None],
        run_id: str | None,
    ) -> None:
        self.store = store
        self.remote = remote
        self.adapter = adapter
        self.options = options
        self.policy = POLICIES[options.policy]
        self.counts = counts
        self._counts_lock = counts_lock
        self.progress = progress
        self._check_stop = check_stop
        self._on_contact_gone = on_contact_gone
        self.run_id = run_id
        self._push_total = self._pushed = 0
        self._store_failed = False

    def push_pending(self) -> None:
        """Send every pending write: contacts in parallel, each contact's writes in order.

        The answers are stored by one settler thread, a batch a transaction, so senders go
        on while earlier answers are committed."""
        with self.store.read() as tx:
            pending = self.store.load_pending_writes(tx)
        by_contact: dict[object, list[SavedWrite]] = {}
        for write in pending:
            by_contact.setdefault(self._queue_of(write), []).append(write)
        queues = list(by_contact.values())
        self._push_total, self._pushed = len(pending), 0
        workers = min(self.options.write_concurrency, len(queues))
        failed = threading.Event()
        errors: list[BaseException] = []

        def push(queue: list[SavedWrite]) -> None:
            try:
                self._push_queue(queue, failed, settler)
            except BaseException as exc:  # handed to the caller's thread below
                errors.append(exc)
                failed.set()

        def unstored(exc: BaseException) -> None:
            failed.set()
            log.error(
                "sync.push.answers_unstored",
                error=str(exc) or type(exc).__name__,
                advice="those writes stay pending and are sent again (same key, or a lookup first)",
            )

        with Settler(self._settle_batch, on_error=unstored) as settler:
            if workers <= 1:
                for queue in queues:
                    self._push_queue(queue, failed, settler)
            else:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
                    # Each task runs in a copy of this context, so its events keep the run_id.
                    for queue in queues:
                        pool.submit(contextvars.copy_context().run, push, queue)
        # Leaving the settler, every answer received is stored, whatever failed meanwhile, or
        # dropped with its write still pending if the store itself failed. That failure says
        # more than a stop or a retryable answer that came with it.
        if settler.error is not None and not (errors and isinstance(errors[0], FatalError)):
            raise settler.error
        if errors:
            raise errors[0]

    def _queue_of(self, write: SavedWrite) -> object:
        """Which queue a write waits in: its row's, so a row's writes keep their order. Where a
        lost create is found by a lookup, creates the lookup cannot tell apart (one email in
        one company, say) share one: sent side by side, each row's lookup could adopt the
        contact the other row's create was making."""
        if self.adapter.retry_safety == "lookup" and write.method == "POST":
            key = self.adapter.lookup_key
            return ("create", key(write.body) if key is not None else write.body)
        return write.local_id

    def _push_queue(
        self, queue: list[SavedWrite], failed: threading.Event, settler: Settler[Answered]
    ) -> None:
        stored: Ticket | None = None
        for write in queue:
            if failed.is_set():
                return
            if stored is not None:
                # The row's previous answer is stored first: this write's lookup (a twin's
                # contact is taken) and its settling both read it.
                settler.wait(stored)
                if failed.is_set():  # it may be the one that could not be stored
                    return
            self._check_stop()
            stored = self._push_one(write, settler)

    def _push_one(self, write: SavedWrite, settler: Settler[Answered]) -> Ticket | None:
        """Send one write; its answer goes to the settler (the ticket says when it is stored)."""
        request = PreparedWrite(write.method, write.path, write.body)
        looked_up = self.adapter.retry_safety == "lookup" and write.method == "POST"

        def taken(contact_id: ContactId) -> bool:  # a twin row's contact, made before: not ours
            return self._held_by_another_row(contact_id, write.local_id)

        try:
            if looked_up and write.attempted:
                # Sent before, its answer lost with the process that sent it: the contact may
                # exist already. Without an idempotency key, only a lookup tells.
                found = self.remote.find_created(request, taken=taken, since=write.attempted_at)
                if found is not None:
                    log.info("sync.write.adopted", local_id=write.local_id, contact_id=found["id"])
                    return settler.submit(Answered(write, found))
            if looked_up:
                with self.store.write() as tx:
                    self.store.save_write_attempted(tx, write.write_id)
            answer = self.remote.send_write(request, write.idempotency_key, taken=taken)
        except ContactGone:
            assert write.contact_id is not None  # only a write naming a contact meets one gone
            log.info("sync.write.contact_gone", local_id=write.local_id, contact_id=write.contact_id)
            self._on_contact_gone(write.contact_id)
            return None
        except RequestRejected as exc:
            with self.store.write() as tx:
                self.store.save_write_rejected(
                    tx,
                    write.write_id,
                    error=str(exc),
                    http_status=exc.status,
                    request_id=exc.request_id,
                )
            with self._counts_lock:
                self.counts.rejected += 1
            log.warning(
                "sync.write.rejected", local_id=write.local_id, error=str(exc), request_id=exc.request_id
            )
            return None
        if write.method != "DELETE" and answer is None:
            raise InvalidResponse(f"{write.method} {write.path}: answered without a contact")
        return settler.submit(Answered(write, answer))

    def _held_by_another_row(self, contact_id: ContactId, local_id: int) -> bool:
        """Whether another row holds the contact, or last synced as it: a row deleted since
        still owns its contact until its delete is settled."""
        with self.store.read() as tx:
            links = self.store.load_links(tx, [contact_id], [])
            base = self.store.load_base(tx, contact_id)
        holder = links.row_of_contact.get(contact_id)
        if holder is None and base is not None:
            holder = base.local_id
        return holder is not None and holder != local_id

    def _settle_batch(self, batch: list[Answered]) -> None:
        """Store a batch of answers in one transaction; what each one tells is logged and
        counted once it is committed."""
        if self._store_failed:
            return  # dropped: each write stays pending, and its resend is safe
        try:
            with self.store.write() as tx:
                reports = [self._settle_in(tx, answered) for answered in batch]
        except Exception as exc:
            if isinstance(exc, StoreError) and not isinstance(exc, ConstraintViolated):
                # The store itself failed (locked past its timeout, disk, connection): trying
                # each answer on its own would wait out the timeout once per answer.
                self._store_failed = True
                raise
            if len(batch) == 1:
                raise
            self._settle_one_by_one(batch)
            return
        for report in reports:
            report()
            with self._counts_lock:
                self._pushed += 1
                self.progress.pushed(self._pushed, self._push_total)

    def _settle_one_by_one(self, batch: list[Answered]) -> None:
        """One answer of the batch could not be stored: the others still are, each on its own."""
        first: Exception | None = None
        for answered in batch:
            try:
                self._settle_batch([answered])
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    def _settle_in(self, tx: Any, answered: Answered) -> Callable[[], None]:
        write, answer = answered.write, answered.answer
        if write.method == "DELETE":
            return self._settle_delete(tx, write)
        assert answer is not None
        return self._settle(tx, write, answer)

    def _settle_delete(self, tx: Any, write: SavedWrite) -> Callable[[], None]:
        """The API deleted (or had already deleted) the contact of a row deleted locally."""
        assert write.contact_id is not None
        rows = self.store.load_synced_rows(tx, [write.contact_id])
        for row in rows:
            self.store.save_contact_forgotten(
                tx, row, where="api", reason="its row was deleted locally", run_id=self.run_id
            )
        self.store.save_write_done(tx, write.write_id)

        def report() -> None:
            with self._counts_lock:
                self.counts.deleted_remote += 1

        return report

    def _settle(self, tx: Any, write: SavedWrite, answer: dict[str, Any]) -> Callable[[], None]:
        """Store a write's answer: the contact it returns is the new agreed state. Returns what
        to log and count once the transaction is committed.

        A value the store cannot hold is left out of what is stored (the write was applied,
        so it must not be sent again). An answer that cannot be linked (a contact another
        row holds, a second contact for one row) still finishes the write, with a
        message naming the rows and the way out: the other rows keep syncing.
        """
        contact_id = answer["id"]
        if write.contact_id is not None and contact_id != write.contact_id:
            raise InvalidResponse(
                f"{write.method} {write.path}: the answer is for contact {contact_id}, not {write.contact_id}"
            )
        what = f"{write.method} {write.path} of row local_id={write.local_id}"
        merged: MergedContact | None = None
        local_ids: dict[ContactId, int] = {}
        refused: str | None = None
        warnings: list[tuple[str, dict[str, Any]]] = []
        local = self.store.load_local_row(tx, write.local_id)
        links = self.store.load_links(tx, [contact_id], [write.local_id])
        found = clash(contact_id, local.local_id if local else None, links)
        # The write was applied: settle it with what the store can hold, or a resend would
        # create the contact again. A field it cannot hold keeps its last agreed (or sent)
        # value, and the next pull looks at the contact afresh.
        storable, dropped = dict(answer), []
        while (unstorable := unstorable_field(storable, nul_allowed=self.store.holds_nul)) is not None:
            field, why = unstorable
            del storable[field]
            dropped.append(f"{field} {why}")
        if dropped:
            warnings.append(
                (
                    "sync.write.answer_unstorable",
                    {
                        "local_id": write.local_id,
                        "contact_id": contact_id,
                        "fields": dropped,
                        "advice": f"the row keeps its value; fix the contact in {self.adapter.title}",
                    },
                )
            )
        answer = storable
        if found is not None and found.other_contact is not None and local is not None:
            # Two writes created two contacts from one row (two syncs that both ran): the
            # row keeps the first; the second is a contact of its own at the API.
            warnings.append(
                (
                    "sync.write.duplicate_contact",
                    {
                        "local_id": write.local_id,
                        "contact_id": found.other_contact,
                        "duplicate_contact_id": contact_id,
                        "advice": (
                            f"the API now holds contact {contact_id} besides {found.other_contact} for this "
                            f"row; delete {contact_id} in {self.adapter.title}, or it is pulled as a row of "
                            "its own"
                        ),
                    },
                )
            )
        elif found is not None and local is not None:
            refused = (
                f"{what} was answered with contact {contact_id}, which row local_id={found.other_row} "
                f"already holds; if row {write.local_id} duplicates it, delete row {write.local_id}, "
                "otherwise edit the row so that it is sent again"
            )
        elif found is not None:
            # The row is gone and another row holds the contact: the next pull settles it there.
            warnings.append(
                (
                    "sync.write.row_gone",
                    {
                        "local_id": write.local_id,
                        "contact_id": contact_id,
                        "holder_local_id": found.other_row,
                    },
                )
            )
        elif local is None and write.method == "POST":
            # The row was deleted while its create was unsettled: the contact exists now, and
            # is synced as a row deleted locally, so the next plan deletes it (or, where the
            # API cannot delete, the next pull brings the row back).
            storable_digest = None if dropped else record_digest(answer)
            self.store.save_synced_without_row(tx, contact_id, write.local_id, answer, storable_digest)
        else:
            previous = self.store.load_base(tx, contact_id)
            # What we sent is what we assumed the API now holds; anything else in the
            # answer (normalised phones, someone else's edit) is a remote change.
            assumed = {**(previous.fields if previous else {}), **write.fields}
            decided = merge_contact(
                base=assumed,
                local=local.record if local else None,
                remote=answer,
                writable=self.remote.rules.writable,
                policy=self.policy,
            )
            digest = None if dropped else record_digest(answer)
            merged = MergedContact(contact_id, local, previous, decided, digest)
            local_ids = self.store.save_merges(tx, [merged], policy=self.options.policy)
        if refused is None:
            self.store.save_write_done(tx, write.write_id)
        else:
            self.store.save_write_rejected(
                tx, write.write_id, error=refused, http_status=None, request_id=None
            )

        def report() -> None:
            for event, fields in warnings:
                log.warning(event, **fields)
            if merged is not None:
                log_conflicts(local_ids[contact_id], merged, policy=self.options.policy)
            if refused is not None:
                log.warning(
                    "sync.write.unsettled", local_id=write.local_id, contact_id=contact_id, error=refused
                )
            with self._counts_lock:
                if refused is not None:
                    self.counts.rejected += 1
                    return
                self.counts.conflicts += len(merged.merge.conflicts) if merged else 0
                if write.method == "POST":
                    self.counts.created += 1
                else:
                    self.counts.updated += 1

        return report
