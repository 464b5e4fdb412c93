"""One sync run: finish leftover writes, pull, plan, push.

The engine drives the pure core (`merge`, `plan`, `paging`) with the store and
the remote; it decides nothing itself.  Each step commits on its own, so a run
killed anywhere resumes: a pulled page is committed with its cursor, a write is
saved with its key and exact body before its first attempt, and its answer is
committed together with the write's removal.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from storage.store import MergedContact, Store, SyncedRow
from sync.apis.adapter import Adapter, OffsetPaging
from sync.apis.registry import DEFAULT_API, adapter_named
from sync.conflict_log import log_conflicts
from sync.deletes import DELETED, after_local_delete, after_remote_delete
from sync.digests import digest_json, digest_of
from sync.errors import (
    FatalError,
    Interrupted,
    InvalidResponse,
    RequestRejected,
    RetryableError,
    SafetyStop,
)
from sync.heap import frozen_heap
from sync.incremental import (
    FAR_FUTURE,
    FAR_PAST,
    REFUSED,
    Judgement,
    ListAnswer,
    ProbeAnswer,
    PullHistory,
    PullPolicy,
    WalkProgress,
    judge_probe,
    walk_plan,
)
from sync.links import Clash, clash
from sync.merge import POLICIES, merge_contact
from sync.paging import EndlessWalk, IdSet, Paginator
from sync.plan import (
    ContactId,
    PreparedWrite,
    Refusal,
    Rejection,
    Write,
    changed_fields,
    plan_row,
)
from sync.progress import NoProgress, RunProgress
from sync.push import Pusher
from sync.remote import Page, Remote
from sync.values import unstorable_field

log = structlog.get_logger("sync.engine")

PULL_CURSOR = "pull.cursor"
PULL_WALK = "pull.walk"  # the walk in progress (kind, filter, what it saw), saved with its cursor
PULL_HISTORY = "pull.history"  # the high-water mark, the last full walk, the probe's verdict


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Counts:
    pulled: int = 0
    inserted: int = 0  # local rows created from new remote contacts
    local_updated: int = 0  # local rows changed by remote edits
    disconnected: int = 0
    deleted_local: int = 0  # rows removed because the API deleted their contact
    created: int = 0  # POSTs the API accepted
    updated: int = 0  # PATCHes the API accepted
    deleted_remote: int = 0  # local deletions the API carried out
    conflicts: int = 0
    rejected: int = 0  # writes refused by the API or, before sending, by us
    skipped: int = 0  # listed contacts holding a value the store cannot hold, left for next run
    walk: str = "full"  # the pull's walk: full, or filtered (only what changed since the mark)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EngineOptions:
    policy: str = "remote-wins"
    max_disconnect_share: float = 0.25
    # Below this many, flagging is never refused: a small account legitimately loses a few.
    disconnect_floor: int = 5
    write_concurrency: int = 4
    full_walk: bool = False  # `sync --full`: list every contact whatever the schedule says
    full_walk_every: timedelta = timedelta(days=1)


class Engine:
    def __init__(
        self,
        store: Store,
        remote: Remote,
        options: EngineOptions,
        *,
        stop: threading.Event | None = None,
        progress: RunProgress | None = None,
        adapter: Adapter | None = None,
        run_id: str | None = None,
    ) -> None:
        self.adapter = adapter or adapter_named(store.api if store.api else DEFAULT_API)
        self.run_id = run_id
        self.store = store
        self.progress = progress or NoProgress()
        self.remote = remote
        self.options = options
        self.policy = POLICIES[options.policy]
        self.counts = Counts()
        self._counts_lock = threading.Lock()
        self._stop = stop or threading.Event()
        self._retired, self._retired_limit = 0, float("inf")  # set again by each pull

    def run(self) -> Counts:
        try:
            self.push_pending()  # a killed run's writes go first, same keys, same bytes
        except RetryableError as exc:
            # They stay pending and are sent again after the pull: one write the API keeps
            # failing (a 5xx for good, say) must not hold back every later pull. A garbled
            # answer still stops the run: the API says something this client cannot read.
            log.warning("sync.push.leftover_failed", error=str(exc), advice="sent again after the pull")
        self.pull()
        self.plan()
        self.push_pending()
        return self.counts

    # --- pull ---------------------------------------------------------------------

    @frozen_heap
    def pull(self) -> None:
        """Walk the list (all of it, or what changed since the mark) and merge each page."""
        # Before the walk: a row deleted since its conflict was held makes the deletion the
        # question, which this walk's merge then asks.
        with self.store.write() as tx:
            moot = self.store.save_moot_conflicts_closed(tx, run_id=self.run_id)
        for conflict_id, local_id, field in moot:
            log.info(
                "sync.conflict.moot",
                conflict_id=conflict_id,
                local_id=local_id,
                field=field,
                reason="its row was deleted locally",
            )
        with self.store.read() as tx:
            cursor = self.store.load_checkpoint(tx, PULL_CURSOR)
            saved_walk = self.store.load_checkpoint(tx, PULL_WALK) if cursor is not None else None
            history = PullHistory.loads(self.store.load_checkpoint(tx, PULL_HISTORY))
            self._retired_limit = self._mass_change_limit(self.store.load_connected_count(tx))
        self._retired = 0
        if cursor is not None:  # a killed run's walk, resumed (a cursor from before walks had kinds: full)
            walk = WalkProgress.loads(saved_walk) or WalkProgress(kind="full", resumed=True)
        else:
            walk, history = self._chosen_walk(history)
        # Disconnections are judged only on a full walk seen whole by this process.
        whole_walk = cursor is None
        paginator = Paginator(cursor)
        seen = IdSet()
        started = time.monotonic()
        while not paginator.finished:
            self._check_stop()
            what = "GET /contacts" + (f" (page {paginator.pages + 1})")
            try:
                page = self.remote.fetch_page(paginator.cursor, updated_since=walk.gte)
            except RequestRejected as exc:
                if walk.kind == "filtered" and exc.status == 400:
                    history = self._filter_failed(history, walk, f"answered 400: {exc}")
                    walk, paginator, seen, whole_walk = (
                        WalkProgress.start("full"),
                        Paginator(None),
                        IdSet(),
                        True,
                    )
                    continue
                if paginator.cursor is None or whole_walk:
                    raise FatalError(str(exc)) from None
                log.warning("sync.pull.cursor_rejected", error=str(exc))
                paginator, seen, whole_walk = Paginator(None), IdSet(), True
                walk = WalkProgress.start(walk.kind, gte=walk.gte)
                continue
            walk = walk.observe(page.contacts, page.timestamp)
            fresh = [contact for contact in page.contacts if seen.add(contact["id"])]
            if len(fresh) < len(page.contacts):
                if not (self._repeats_expected or walk.kind == "filtered"):
                    repeated = next(c["id"] for c in page.contacts if c not in fresh)
                    raise InvalidResponse(
                        f"{what}: contact {repeated} was already listed on an earlier page",
                        request_id=page.request_id,
                    )
                # An offset walk repeats a row when an earlier one was deleted meanwhile; a
                # filtered walk in updated_at order lists a contact edited during it again.
                page = replace(page, contacts=fresh)
            try:
                paginator.advance(page, what=what)
            except EndlessWalk:
                # Resuming such a walk would only pile up more of it: the next run starts over.
                with self.store.write() as tx:
                    self.store.save_checkpoint(tx, PULL_CURSOR, None)
                raise
            if walk.outside_filter:
                # The server lists what its filter excludes: it no longer honours it. What it
                # listed is real and is merged; the run goes on as a full walk.
                self._save_page(page, None)
                history = self._filter_failed(history, walk, f"{walk.outside} contact(s) outside the filter")
                walk, paginator, seen, whole_walk = WalkProgress.start("full"), Paginator(None), IdSet(), True
                started = time.monotonic()
                continue
            self._save_page(page, paginator.cursor, walk=None if paginator.finished else walk.dumps())
        self.counts.walk = walk.kind
        if self.adapter.incremental:
            seconds = None if walk.resumed else time.monotonic() - started
            history = history.after_walk(walk, now=_now(), walk_seconds=seconds)
            self._save_history(history)
        if whole_walk and walk.flags_disconnections:
            self._judge_missing(seen)

    def _chosen_walk(self, history: PullHistory) -> tuple[WalkProgress, PullHistory]:
        """A full walk, or only what changed when the API proves it can (probed once a day)."""
        if not self.adapter.incremental:
            return WalkProgress.start("full"), history
        policy = PullPolicy(full_walk_every=self.options.full_walk_every)
        plan = walk_plan(history, now=_now(), full_requested=self.options.full_walk, policy=policy)
        if plan.kind == "probe":
            judgement = self._probe()
            history = history.with_probe(judgement, _now())
            self._save_history(history)
            log.info("sync.pull.probed", verdict=judgement.verdict, reason=judgement.reason)
            plan = walk_plan(history, now=_now(), full_requested=False, policy=policy)
        assert plan.kind != "probe"
        log.info("sync.pull.walk", kind=plan.kind, reason=plan.reason)
        return WalkProgress.start(plan.kind, gte=plan.gte), history

    def _probe(self) -> Judgement:
        """Three first pages: filtered on the far future (must list nothing), on the far past
        (must list what the unfiltered list does), and unfiltered."""
        answers: list[ProbeAnswer] = []
        for since in (FAR_FUTURE, FAR_PAST, None):
            self._check_stop()
            try:
                page = self.remote.fetch_page(None, updated_since=since)
            except RequestRejected as exc:
                if since is None or exc.status != 400:
                    raise FatalError(str(exc)) from None
                answers.append(REFUSED)
                continue
            answers.append(ListAnswer(tuple(c["id"] for c in page.contacts), page.has_more, page.total))
        future, past, unfiltered = answers
        assert isinstance(unfiltered, ListAnswer)
        return judge_probe(future, past, unfiltered)

    def _filter_failed(self, history: PullHistory, walk: WalkProgress, why: str) -> PullHistory:
        log.warning("sync.pull.filter_ignored", reason=why, advice="this run goes on as a full walk")
        history = history.after_filter_ignored(walk, _now())
        self._save_history(history)
        return history

    def _save_history(self, history: PullHistory) -> None:
        with self.store.write() as tx:
            self.store.save_checkpoint(tx, PULL_HISTORY, history.dumps())

    @property
    def _repeats_expected(self) -> bool:
        return isinstance(self.adapter.paging, OffsetPaging)

    def _save_page(
        self, page: Page, next_cursor: str | None, *, save_cursor: bool = True, walk: str | None = None
    ) -> None:
        digests: dict[ContactId, str] = {}
        encoded: dict[ContactId, bytes] = {}  # each contact's JSON, also stored as a new contact's base
        for contact in page.contacts:
            digested = self._digest_or_skip(contact)
            if digested is not None:
                digests[contact["id"]], encoded[contact["id"]] = digested
        storable = [c for c in page.contacts if c["id"] in digests]
        ids = list(digests)
        with self.store.write() as tx:
            known = self.store.load_digests(tx, ids)
            # A contact unchanged since it was last merged has nothing to merge: local
            # edits to it are the planner's business, not the pull's.
            changed = [c for c in storable if known.get(c["id"], "") != digests[c["id"]]]
            local_rows, bases = self.store.load_page_state(tx, [c["id"] for c in changed])
            links = self.store.load_links(
                tx, [c["id"] for c in changed], [row.local_id for row in local_rows.values()]
            )
            merged = []
            # Looked up once a page, not once a contact: a full pull merges every contact it lists.
            writable, policy = self.remote.rules.writable, self.policy
            deletes_are_sent = self._deletes_are_sent
            for contact in changed:
                contact_id = contact["id"]
                local = local_rows.get(contact_id)
                base = bases.get(contact_id)
                # Deleted locally since the last sync: the plan sends the delete, unless the
                # API changed the contact meanwhile and the policy says otherwise.
                deleted_locally = local is None and base is not None and deletes_are_sent
                if deleted_locally and not self._local_delete_yields(tx, contact, base, digests[contact_id]):
                    continue
                found = clash(contact_id, local.local_id if local else None, links)
                if found is not None:
                    self._skip_clash(found)
                    continue
                if local is not None and local.record.get("id") != contact_id:
                    log.warning(
                        "sync.row.restored",
                        local_id=local.local_id,
                        fields=["id"],
                        advice="the id follows the API: a row's id is never changed in the table",
                    )
                decided = merge_contact(
                    base=base.fields if base else None,
                    local=local.record if local else None,
                    remote=contact,
                    writable=writable,
                    policy=policy,
                )
                # A new row's base is the contact as listed (merge_contact copies it): its JSON is at hand.
                base_json = encoded[contact_id].decode() if local is None else None
                merged.append(MergedContact(contact_id, local, base, decided, digests[contact_id], base_json))
            counts = self.counts
            for m in merged:
                counts.inserted += m.local is None
                counts.local_updated += m.local is not None and bool(m.merge.local_changes)
                counts.conflicts += len(m.merge.conflicts)
            self._count_retired(merged)  # raises before this page is committed
            local_ids = self.store.save_merges(tx, merged, policy=self.options.policy) if merged else {}
            self._refuse_local_deletes(tx, merged, local_ids)
            if save_cursor:
                self.store.save_checkpoint(tx, PULL_CURSOR, next_cursor)
                self.store.save_checkpoint(tx, PULL_WALK, walk)  # what the walk so far proves
        for m in merged:
            if m.merge.conflicts:
                log_conflicts(local_ids[m.contact_id], m, policy=self.options.policy)
        self.counts.pulled += len(page.contacts)
        self.progress.pulled(self.counts.pulled, page.total)
        log.debug("sync.pull.page", contacts=len(ids), merged=len(merged), more=next_cursor is not None)

    def _digest_or_skip(self, contact: dict[str, Any]) -> tuple[str, bytes] | None:
        """The contact's digest and canonical JSON; None, with a warning, when the store cannot
        hold one of its values.

        A skipped contact is still listed (never flagged disconnected) and, having no
        digest stored, is merged again by the next pull: fixed at the API, it comes in.
        """
        try:
            data = digest_json(contact)
        except UnicodeEncodeError:  # a lone surrogate: the slow look below names the field
            data = None
        # NUL always appears escaped in JSON text, so this test costs one scan of the bytes.
        if data is not None and (self.store.holds_nul or b"\\u0000" not in data):
            return digest_of(data), data
        problem = unstorable_field(contact, nul_allowed=self.store.holds_nul)
        if problem is None and data is not None:  # the text "\\u0000", not a NUL
            return digest_of(data), data
        field, why = problem or ("?", "cannot be stored")
        log.warning(
            "sync.pull.contact_skipped",
            contact_id=contact["id"],
            field=field,
            reason=why,
            advice=f"fix the value in {self.adapter.title}; the contact is merged again on the next run",
        )
        self.counts.skipped += 1
        return None

    def _skip_clash(self, found: Clash) -> None:
        """Leave a listed contact whose row links cannot be reconciled for the next run."""
        if found.other_row is not None:
            advice = (
                f"row local_id={found.other_row} holds id {found.contact_id} although it was synced as "
                "another contact: put that row's id back (the API owns the id) or delete the row"
            )
        else:
            advice = (
                f"row local_id={found.local_id} holds id {found.contact_id} but was synced as contact "
                f"{found.other_contact}: its id was changed by hand; the next plan puts it back"
            )
        log.warning(
            "sync.pull.contact_skipped",
            contact_id=found.contact_id,
            local_id=found.local_id if found.local_id is not None else found.other_row,
            reason=found.describe(),
            advice=advice,
        )
        self.counts.skipped += 1

    def _mass_change_limit(self, known: int) -> float:
        return max(self.options.disconnect_floor, known * self.options.max_disconnect_share)

    def _count_retired(self, merged: list[MergedContact]) -> None:
        """Contacts the API itself retires (active false): too many in one walk stop the run."""
        field = self.adapter.active_field
        if field is None:
            return
        self._retired += sum(
            1
            for m in merged
            if m.previous is not None
            and m.previous.fields.get(field) is not False
            and m.merge.base.get(field) is False
        )
        if self._retired > self._retired_limit:
            raise SafetyStop(
                f"the API marks {self._retired} known contacts inactive in one walk; a broken answer or "
                "a mass change is likelier than that many retirements, so the page that did it was "
                "not stored. If it is real, raise CONTACTS_SYNC_MAX_DISCONNECT_SHARE for one run"
            )

    def _refuse_local_deletes(
        self, tx: Any, merged: list[MergedContact], local_ids: dict[ContactId, int]
    ) -> None:
        """Rows deleted locally that come back because the API cannot delete: say so, once."""
        rejections = []
        for m in merged:
            if m.local is None and m.previous is not None:
                refusal = self.remote.rules.prepare_delete(m.contact_id)
                if isinstance(refusal, Refusal):
                    reason = (
                        f"{refusal.reason}; row local_id={m.previous.local_id} was deleted locally and "
                        "is back from the API"
                    )
                    rejections.append(Rejection(local_ids[m.contact_id], reason, refusal.body))
        if rejections:
            self.store.save_plan(tx, [], rejections)
            self.counts.rejected += len(rejections)
            for rejection in rejections:
                log.warning("sync.write.refused", local_id=rejection.local_id, reason=rejection.reason)

    @property
    def _deletes_are_sent(self) -> bool:
        return "delete" in self.adapter.writes

    def _local_delete_yields(self, tx: Any, contact: dict[str, Any], base: Any, digest: str) -> bool:
        """Whether a listed contact whose row was deleted locally is merged (the row comes back).

        A base without a digest (an answer the store could not hold whole) counts as
        unchanged: the delete goes ahead.
        """
        remote_edited = base.remote_digest is not None and base.remote_digest != digest
        outcome = after_local_delete(remote_edited=remote_edited, policy=self.policy)
        if outcome == "delete":
            return False
        row = SyncedRow(contact["id"], base.local_id, base.fields, None, True, False)
        if outcome == "hold":
            if not self.store.save_deletion_held(tx, row, policy=self.options.policy, gone="table"):
                return False  # held since an earlier run: nothing new
            self.counts.conflicts += 1
            log.info(
                "sync.conflict",
                local_id=base.local_id,
                contact_id=contact["id"],
                field=DELETED,
                policy=self.options.policy,
                winner="held",
            )
            return False
        self.store.save_deletion_conflict_settled(
            tx, row, policy=self.options.policy, gone="table", winner="remote"
        )
        self.counts.conflicts += 1
        return True

    def _judge_missing(self, seen: IdSet) -> None:
        """Contacts a whole walk did not list: flagged, or looked up and deleted when gone."""
        with self.store.read() as tx:
            connected = 0
            missing: list[ContactId] = []
            for contact_id in self.store.load_connected(tx):
                connected += 1
                if contact_id not in seen:
                    missing.append(contact_id)
        if len(missing) > self._mass_change_limit(connected):
            raise SafetyStop(
                f"the API no longer lists {len(missing)} of {connected} known contacts; "
                "a broken answer or an emptied account is likelier than a mass removal, "
                "so nothing was flagged or deleted. If it is real, raise "
                "CONTACTS_SYNC_MAX_DISCONNECT_SHARE for one run"
            )
        if not missing:
            return
        if self.adapter.vanished == "flag":
            with self.store.write() as tx:
                self.store.save_disconnected(tx, missing)
            self.counts.disconnected += len(missing)
            return
        # An offset walk skips a row when an earlier one is deleted meanwhile: only the API's
        # answer for the contact itself proves it gone.
        gone: list[ContactId] = []
        for contact_id in missing:
            self._check_stop()
            contact = self.remote.fetch_one(contact_id)
            if contact is None:
                gone.append(contact_id)
            else:
                self._save_page(Page([contact], None, False, None), None, save_cursor=False)
        if gone:
            self._apply_remote_deletes(gone)

    def _apply_remote_deletes(self, contact_ids: list[ContactId], *, pending_gone: bool = False) -> None:
        """The API deleted these contacts: remove their rows, unless local edits say otherwise."""
        writable = self.remote.rules.writable
        decided = []
        with self.store.write() as tx:
            for row in self.store.load_synced_rows(tx, contact_ids):
                edited = (
                    pending_gone
                    or row.pending_write
                    or (
                        row.local is not None
                        and bool(changed_fields(row.local.record, row.base, writable=writable))
                    )
                )
                outcome = after_remote_delete(
                    row_exists=row.local is not None, local_edited=edited, policy=self.policy
                )
                if outcome in ("forget", "delete-row"):
                    if edited:
                        self.store.save_deletion_conflict_settled(
                            tx, row, policy=self.options.policy, gone="api", winner="remote"
                        )
                    self.store.save_contact_forgotten(
                        tx,
                        row,
                        where="table",
                        reason=f"the {self.adapter.title} API deleted it",
                        run_id=self.run_id,
                    )
                elif outcome == "recreate":
                    self.store.save_deletion_conflict_settled(
                        tx, row, policy=self.options.policy, gone="api", winner="local"
                    )
                    self.store.save_relinked_as_new(tx, row)
                    self.store.save_marks(tx, [row.local_id])
                else:
                    self.store.save_deletion_held(tx, row, policy=self.options.policy, gone="api")
                decided.append((row, outcome, edited))
        for row, outcome, edited in decided:
            with self._counts_lock:  # also called from the push's sender threads (ContactGone)
                self.counts.deleted_local += outcome == "delete-row"
                self.counts.conflicts += edited and outcome != "forget"
            log.info(
                "sync.pull.deleted_remotely",
                local_id=row.local_id,
                contact_id=row.contact_id,
                outcome=outcome,
                local_edits=edited,
            )

    # --- plan and push ------------------------------------------------------------

    def plan(self) -> tuple[list[Write], list[Rejection]]:
        """Diff the rows written since the last plan against their base; save the writes."""
        writes: list[Write] = []
        rejections: list[Rejection] = []
        obsolete: dict[int, frozenset[bytes]] = {}
        restores: dict[int, dict[str, Any]] = {}
        with self.store.read() as tx:
            marks = self.store.load_marks(tx)
            rows = self.store.load_row_states(tx, marked_only=True) if marks else iter(())
            for row in rows:
                planned = plan_row(row, self.remote.rules)
                if planned.write:
                    writes.append(planned.write)
                if planned.rejection:
                    rejections.append(planned.rejection)
                if planned.restore:
                    restores[row.local_id] = planned.restore
                if row.refused_bodies - planned.still_refused:
                    obsolete[row.local_id] = row.refused_bodies - planned.still_refused
            for gone in self.store.load_deleted_rows(tx):
                prepared = self.remote.rules.prepare_delete(gone.contact_id)
                if isinstance(prepared, PreparedWrite):
                    writes.append(Write(gone.local_id, gone.contact_id, prepared, {}))
                elif isinstance(prepared, Refusal):
                    rejections.append(Rejection(gone.local_id, prepared.reason, prepared.body, "DELETE"))
        with self.store.write() as tx:
            # Another sync of this store may have planned a row since we read it: one write is enough.
            pending = self.store.load_pending_local_ids(tx)
            writes = [w for w in writes if w.local_id not in pending]
            restored = self._restore_owned(tx, restores)
            # Before save_plan: only rows whose write was already pending keep their marks.
            self.store.save_marks_consumed(tx, [seq for seq, _ in marks])
            self.store.save_plan(tx, writes, rejections)
            self.store.save_refusals_dropped(tx, obsolete)
            orphans = self.store.save_rowless_rejections_dropped(tx)
        for local_id, fields in restored.items():
            log.warning(
                "sync.row.restored",
                local_id=local_id,
                fields=sorted(fields),
                advice=f"these columns follow the API: change them in {self.adapter.title}, not in the table",
            )
        for orphan in orphans:
            log.info(
                "sync.write.rejection_dropped",
                local_id=orphan.local_id,
                write_id=orphan.write_id,
                status=orphan.status,
                reason="its local row no longer exists",
            )
        for rejection in rejections:
            log.warning("sync.write.refused", local_id=rejection.local_id, reason=rejection.reason)
        self.counts.rejected += len(rejections)
        return writes, rejections

    def _restore_owned(self, tx: Any, restores: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """Put API-owned columns back to their last-synced values; an id another row holds is left."""
        ids = [values["id"] for values in restores.values() if "id" in values]
        links = self.store.load_links(tx, ids, list(restores)) if ids else None
        applied: dict[int, dict[str, Any]] = {}
        for local_id, values in restores.items():
            if links is not None and "id" in values:
                found = clash(values["id"], local_id, links)
                if found is not None:
                    log.warning(
                        "sync.row.id_not_restored",
                        local_id=local_id,
                        contact_id=values["id"],
                        reason=found.describe(),
                        advice="delete one of the two rows, or put the right id back on them",
                    )
                    values = {k: v for k, v in values.items() if k != "id"}
            if values:
                self.store.save_restored(tx, local_id, values)
                applied[local_id] = values
        return applied

    def push_pending(self) -> None:
        """Send every pending write and store the answers (`sync.push`)."""
        Pusher(
            store=self.store,
            remote=self.remote,
            adapter=self.adapter,
            options=self.options,
            counts=self.counts,
            counts_lock=self._counts_lock,
            progress=self.progress,
            check_stop=self._check_stop,
            on_contact_gone=lambda contact_id: self._apply_remote_deletes([contact_id], pending_gone=True),
            run_id=self.run_id,
        ).push_pending()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise Interrupted("stopped by a shutdown signal between two steps")
