"""One sync run: finish leftover writes, pull, plan, push.

The engine drives the pure core (`merge`, `plan`, `paging`) with the store and
the remote; it decides nothing itself.  Each step commits on its own, so a run
killed anywhere resumes: a pulled page is committed with its cursor, a write is
saved with its key and exact body before its first attempt, and its answer is
committed together with the write's removal.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from storage.store import MergedContact, SavedWrite, Store
from sync.errors import FatalError, Interrupted, InvalidResponse, RequestRejected, SafetyStop
from sync.merge import POLICIES, merge_contact
from sync.paging import EndlessWalk, IdSet, Paginator
from sync.plan import PreparedWrite, Rejection, Write, canonical_json, plan_row
from sync.progress import NoProgress, RunProgress
from sync.remote import Page, Remote

log = structlog.get_logger("sync.engine")

PULL_CURSOR = "pull.cursor"


def record_digest(record: dict[str, Any]) -> str:
    """A short fingerprint of a remote record, to tell an unchanged contact without merging it."""
    return hashlib.blake2b(canonical_json(record), digest_size=16).hexdigest()


@dataclass
class Counts:
    pulled: int = 0
    inserted: int = 0  # local rows created from new remote contacts
    local_updated: int = 0  # local rows changed by remote edits
    disconnected: int = 0
    created: int = 0  # POSTs the API accepted
    updated: int = 0  # PATCHes the API accepted
    conflicts: int = 0
    rejected: int = 0  # writes refused by the API or, before sending, by us

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class EngineOptions:
    policy: str = "remote-wins"
    max_disconnect_share: float = 0.25
    # Below this many, flagging is never refused: a small account legitimately loses a few.
    disconnect_floor: int = 5
    write_concurrency: int = 4


class Engine:
    def __init__(
        self,
        store: Store,
        remote: Remote,
        options: EngineOptions,
        *,
        stop: threading.Event | None = None,
        progress: RunProgress | None = None,
    ) -> None:
        self.store = store
        self.progress = progress or NoProgress()
        self.remote = remote
        self.options = options
        self.policy = POLICIES[options.policy]
        self.counts = Counts()
        self._counts_lock = threading.Lock()
        self._push_total = self._pushed = 0
        self._stop = stop or threading.Event()

    def run(self) -> Counts:
        self.push_pending()  # a killed run's writes go first, same keys, same bytes
        self.pull()
        self.plan()
        self.push_pending()
        return self.counts

    # --- pull ---------------------------------------------------------------------

    def pull(self) -> None:
        with self.store.read() as tx:
            cursor = self.store.load_checkpoint(tx, PULL_CURSOR)
        # Disconnections are judged only on a walk seen whole by this process.
        whole_walk = cursor is None
        paginator = Paginator(cursor)
        seen = IdSet()
        while not paginator.finished:
            self._check_stop()
            what = "GET /contacts" + (f" (page {paginator.pages + 1})")
            try:
                page = self.remote.fetch_page(paginator.cursor)
            except RequestRejected as exc:
                if paginator.cursor is None or whole_walk:
                    raise FatalError(str(exc)) from None
                log.warning("sync.pull.cursor_rejected", error=str(exc))
                paginator, seen, whole_walk = Paginator(None), IdSet(), True
                continue
            for contact in page.contacts:
                if not seen.add(contact["id"]):
                    raise InvalidResponse(
                        f"{what}: contact {contact['id']} was already listed on an earlier page",
                        request_id=page.request_id,
                    )
            try:
                paginator.advance(page, what=what)
            except EndlessWalk:
                # Resuming such a walk would only pile up more of it: the next run starts over.
                with self.store.write() as tx:
                    self.store.save_checkpoint(tx, PULL_CURSOR, None)
                raise
            self._save_page(page, paginator.cursor)
        if whole_walk:
            self._flag_missing(seen)

    def _save_page(self, page: Page, next_cursor: str | None) -> None:
        ids = [contact["id"] for contact in page.contacts]
        digests = {contact["id"]: record_digest(contact) for contact in page.contacts}
        with self.store.write() as tx:
            known = self.store.load_digests(tx, ids)
            # A contact unchanged since it was last merged has nothing to merge: local
            # edits to it are the planner's business, not the pull's.
            changed = [c for c in page.contacts if known.get(c["id"], "") != digests[c["id"]]]
            local_rows, bases = self.store.load_page_state(tx, [c["id"] for c in changed])
            merged = []
            for contact in changed:
                local = local_rows.get(contact["id"])
                base = bases.get(contact["id"])
                decided = merge_contact(
                    base=base.fields if base else None,
                    local=local.record if local else None,
                    remote=contact,
                    writable=self.remote.rules.writable,
                    policy=self.policy,
                )
                merged.append(MergedContact(contact["id"], local, base, decided, digests[contact["id"]]))
                self.counts.inserted += local is None
                self.counts.local_updated += local is not None and bool(decided.local_changes)
                self.counts.conflicts += len(decided.conflicts)
            if merged:
                self.store.save_merges(tx, merged, policy=self.options.policy)
            self.store.save_checkpoint(tx, PULL_CURSOR, next_cursor)
        self.counts.pulled += len(ids)
        self.progress.pulled(self.counts.pulled, page.total)
        log.debug("sync.pull.page", contacts=len(ids), merged=len(merged), more=next_cursor is not None)

    def _flag_missing(self, seen: IdSet) -> None:
        with self.store.write() as tx:
            connected = 0
            missing: list[int] = []
            for contact_id in self.store.load_connected(tx):
                connected += 1
                if contact_id not in seen:
                    missing.append(contact_id)
            limit = max(self.options.disconnect_floor, connected * self.options.max_disconnect_share)
            if len(missing) > limit:
                raise SafetyStop(
                    f"the API no longer lists {len(missing)} of {connected} connected contacts; "
                    "a broken answer or an emptied account is likelier than a mass disconnect, "
                    "so nothing was flagged. If it is real, raise "
                    "CONTACTS_SYNC_MAX_DISCONNECT_SHARE for one run"
                )
            self.store.save_disconnected(tx, missing)
        self.counts.disconnected += len(missing)

    # --- plan and push ------------------------------------------------------------

    def plan(self) -> tuple[list[Write], list[Rejection]]:
        """Diff the rows written since the last plan against their base; save the writes."""
        writes: list[Write] = []
        rejections: list[Rejection] = []
        obsolete: dict[int, frozenset[bytes]] = {}
        with self.store.read() as tx:
            marks = self.store.load_marks(tx)
            rows = self.store.load_row_states(tx, marked_only=True) if marks else iter(())
            for row in rows:
                planned = plan_row(row, self.remote.rules)
                if planned.write:
                    writes.append(planned.write)
                if planned.rejection:
                    rejections.append(planned.rejection)
                if row.refused_bodies - planned.still_refused:
                    obsolete[row.local_id] = row.refused_bodies - planned.still_refused
        with self.store.write() as tx:
            # Before save_plan: only rows whose write was already pending keep their marks.
            self.store.save_marks_consumed(tx, [seq for seq, _ in marks])
            self.store.save_plan(tx, writes, rejections)
            self.store.save_refusals_dropped(tx, obsolete)
        for rejection in rejections:
            log.warning("sync.write.refused", local_id=rejection.local_id, reason=rejection.reason)
        self.counts.rejected += len(rejections)
        return writes, rejections

    def push_pending(self) -> None:
        """Send every pending write: contacts in parallel, each contact's writes in order."""
        with self.store.read() as tx:
            pending = self.store.load_pending_writes(tx)
        by_contact: dict[int, list[SavedWrite]] = {}
        for write in pending:
            by_contact.setdefault(write.local_id, []).append(write)
        queues = list(by_contact.values())
        self._push_total, self._pushed = len(pending), 0
        workers = min(self.options.write_concurrency, len(queues))
        if workers <= 1:
            for queue in queues:
                self._push_queue(queue, threading.Event())
            return
        failed = threading.Event()
        errors: list[BaseException] = []

        def push(queue: list[SavedWrite]) -> None:
            try:
                self._push_queue(queue, failed)
            except BaseException as exc:  # handed to the caller's thread below
                errors.append(exc)
                failed.set()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
            # Each task runs in a copy of this context, so its events keep the run_id.
            for queue in queues:
                pool.submit(contextvars.copy_context().run, push, queue)
        if errors:
            raise errors[0]

    def _push_queue(self, queue: list[SavedWrite], failed: threading.Event) -> None:
        for write in queue:
            if failed.is_set():
                return
            self._check_stop()
            self._push_one(write)

    def _push_one(self, write: SavedWrite) -> None:
        request = PreparedWrite(write.method, write.path, write.body)
        try:
            answer = self.remote.send_write(request, write.idempotency_key)
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
            return
        self._settle(write, answer)
        with self._counts_lock:
            self._pushed += 1
            self.progress.pushed(self._pushed, self._push_total)

    def _settle(self, write: SavedWrite, answer: dict[str, Any]) -> None:
        """Store a write's answer: the contact it returns is the new agreed state."""
        contact_id = answer["id"]
        if write.contact_id is not None and contact_id != write.contact_id:
            raise InvalidResponse(
                f"{write.method} {write.path}: the answer is for contact {contact_id}, not {write.contact_id}"
            )
        with self.store.write() as tx:
            local = self.store.load_local_row(tx, write.local_id)
            previous = self.store.load_base(tx, contact_id)
            # What we sent is what we assumed the API now holds; anything else in the
            # answer (normalised phones, someone else's edit) is a remote change.
            assumed = {**(previous.fields if previous else {}), **write.fields}
            merged = merge_contact(
                base=assumed,
                local=local.record if local else None,
                remote=answer,
                writable=self.remote.rules.writable,
                policy=self.policy,
            )
            self.store.save_merges(
                tx,
                [MergedContact(contact_id, local, previous, merged, record_digest(answer))],
                policy=self.options.policy,
            )
            self.store.save_write_done(tx, write.write_id)
        with self._counts_lock:
            self.counts.conflicts += len(merged.conflicts)
            if write.method == "POST":
                self.counts.created += 1
            else:
                self.counts.updated += 1

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise Interrupted("stopped by a shutdown signal between two steps")
