"""A Hypothesis state machine: random edits on both sides, syncs through faults, then convergence.

Each example starts a real sandbox (30-60 contacts) and a real SQLite store,
with a conflict policy and a write concurrency fixed for the example, and syncs
once. Then random steps: plain-SQL inserts (some invalid) and edits, deleted
rows, edits by other users on the API side, disconnects and reconnects, a
person settling conflicts or re-queuing rejections, and syncs, each under its
fault window (429 storms, 5xx, proxy pages, garbled and empty answers, dropped
connections, answers slower than the client timeout), some while other
programs and users keep editing. A sync under faults may fail. At the end the
faults are cleared, clean syncs run until one has nothing to do, and
`checks.converged_problems` must find nothing.

CONTACTS_SYNC_SOAK=1 runs many more and longer examples.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from storage.status import load_conflicts, save_conflict_resolved, save_rejections_forgotten
from sync.apis.lev.fields import CONTACT_TYPES, PHONE_TYPES
from sync.apis.lev.sandbox.contacts import TEXT_FIELDS
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.runner import RunResult
from tests.chaos.checks import (
    INVALID_ROWS,
    MARKER_FIELD,
    PHONE_RAWS,
    SOAK,
    UNKNOWN,
    Edit,
    Insert,
    Journal,
    check_converged,
    integrity_problems,
    load_tables,
    settle,
)
from tests.conftest import Harness

POLICIES = ("remote-wins", "local-wins", "manual")
MAX_DISCONNECTED = 4  # below the safety stop's floor of five, so clean syncs never trip it
FAST = {"timeout_seconds": 0.5, "retry_attempts": 5, "retry_base_delay": 0.01, "retry_max_delay": 0.05}
# What the examples did, printed at the end of the test (pytest -s shows it).
STATS: Counter[str] = Counter()

# --- fault windows: the SPEC of `sync.apis.lev.sandbox.faults` for one sync ----------------------

# One rule per kind; P is the probability, SCOPE "", "/GET" or "/WRITE".
FAULT_RULES = {
    "429-storm": "429=0.05@p0.3{scope}",
    "500": "500@p{p}{scope}",
    "503": "503@p{p}{scope}",
    "html502": "html502@p{p}{scope}",
    "malformed": "malformed@p{p}{scope}",
    "empty200": "empty200@p{p}{scope}",
    "drop-before": "drop-before@p{p}{scope}",
    "drop-after": "drop-after@p{p}/WRITE",
    "slow": "slow=700@p{slow_p}{scope}",  # past the 0.5 s client timeout
    "trickle": "trickle=5@p{slow_p}{scope}",  # a byte every 5 ms: past the 0.5 s overall deadline
    "endless": "endless@p{p}/GET",  # an empty page that claims more: the walk goes on in place
    "surrogate": "surrogate@p{p}{scope}",  # a contact the store cannot hold: skipped, tried again
    "nul": "nul@p{p}{scope}",
    "huge": "huge@p{p}{scope}",  # an answer past the length check: retried, never our own request
    "echo-token": "echo-token=500@p{p}{scope}",  # the token must reach no table
}
# Not drawn: `endless-junk` stores junk rows by design (each page commits), which the safety
# stop then keeps from being flagged; tests/chaos/test_endless_lists.py covers it alone.
# Fixed request numbers: some bite every time (and outlast the five attempts).
FAULT_SHOTS = (
    "500@1-5",
    "drop-after@1-2/WRITE",
    "drop-after@1-5/WRITE",
    "malformed@1+3/WRITE",
    "empty200@2/WRITE",
    "html502@1-3",
    "slow=700@1/WRITE,drop-before@2/WRITE",
    "503@2-6",
    "endless@1-12/GET",  # ten empty pages in a row: the walk stops, the next run starts it over
    "huge@1-2/WRITE",
    "surrogate@1/GET,nul@2/GET",
    "echo-token=401@1",
)


def fault_mix(kinds: list[str], p: float, scope: str, seed: int) -> str:
    rules = [FAULT_RULES[k].format(p=p, slow_p=min(p, 0.2), scope=scope) for k in kinds]
    return ",".join([*rules, f"seed={seed}"])


fault_windows = st.one_of(
    st.just(""),
    st.builds(
        fault_mix,
        kinds=st.lists(st.sampled_from(sorted(FAULT_RULES)), min_size=1, max_size=3, unique=True),
        p=st.sampled_from([0.2, 0.35, 0.5]),
        scope=st.sampled_from(["", "/GET", "/WRITE"]),
        seed=st.integers(0, 9999),
    ),
    st.sampled_from(FAULT_SHOTS),
)

# --- values -----------------------------------------------------------------------------------

texts = st.one_of(
    st.none(),
    st.sampled_from(["", "Zürich", "O'Brien & Co", "東京都", "Chief Llama Officer", "  padded  "]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
phone_lists = st.lists(
    st.fixed_dictionaries(
        {"raw": st.sampled_from(PHONE_RAWS)}, optional={"type": st.sampled_from(sorted(PHONE_TYPES))}
    ),
    max_size=2,
)
phones = st.one_of(st.none(), phone_lists)  # a local NULL is sent as []
# The marker field is never edited, by either side: it counts created contacts.
EDITABLE_TEXT = sorted(TEXT_FIELDS - {"email", MARKER_FIELD})
# A few hot fields and contacts, so both sides often touch the same ones.
HOT_TEXT = ["title", "city"]
text_fields = st.one_of(st.sampled_from(HOT_TEXT), st.sampled_from(EDITABLE_TEXT))
picks = st.one_of(st.integers(0, 3), st.integers(0, 10**6))
local_edits = st.one_of(
    st.tuples(text_fields, texts),
    st.tuples(st.just("phones"), phones),
    st.tuples(st.just("is_primary"), st.booleans()),
    # The API cannot change an email: refused locally, so it must stay explained.
    st.tuples(st.just("email"), st.sampled_from(["changed@example.com", None])),
)
remote_edits = st.one_of(
    st.tuples(st.one_of(text_fields, st.just("email")), texts),
    st.tuples(st.just("phones"), phone_lists),
    st.tuples(st.just("is_primary"), st.booleans()),
    # Not writable through the API: the row simply follows it.
    st.tuples(
        st.just("contact_types"), st.lists(st.sampled_from(sorted(CONTACT_TYPES)), min_size=1, max_size=2)
    ),
)
new_rows = st.fixed_dictionaries(
    {"contact_type": st.sampled_from(sorted(CONTACT_TYPES)), "company_id": st.integers(1, 5)},
    optional={"title": texts, "city": texts, "phones": phones, "is_primary": st.booleans()},
)
# Edits by other programs and users while a sync runs: (milliseconds after its start, pick, edit).
during_local = st.lists(st.tuples(st.integers(0, 250), picks, local_edits), max_size=3)
during_remote = st.lists(st.tuples(st.integers(0, 250), picks, remote_edits), max_size=3)


class ChaosSync(RuleBasedStateMachine):
    """Both sides of one store, edited at random, synced through faults."""

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self.harness: Harness | None = None
        self.journal = Journal()
        self.policy = "remote-wins"
        self.concurrency = 4
        self.busy = False  # left True by a step that raised: teardown then skips the final check

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        self.busy = True
        yield
        self.busy = False
        STATS["steps"] += 1

    @property
    def sandbox(self) -> SandboxServer:
        assert self.harness is not None
        return self.harness.sandbox

    def run_sync(self) -> RunResult:
        assert self.harness is not None
        return self.harness.sync(conflict_policy=self.policy, write_concurrency=self.concurrency, **FAST)

    def contacts_rows(self) -> list[dict[str, Any]]:
        return load_tables(self.db_path)["contacts"]

    @initialize(
        contacts=st.integers(30, 60),
        seed=st.integers(0, 999),
        policy=st.sampled_from(POLICIES),
        concurrency=st.sampled_from([1, 4]),
    )
    def start(self, contacts: int, seed: int, policy: str, concurrency: int) -> None:
        with self.step():
            sandbox = self._stack.enter_context(running_sandbox(contacts=contacts, seed=seed))
            self.db_path = Path(self._stack.enter_context(tempfile.TemporaryDirectory())) / "contacts.db"
            self.harness = Harness(sandbox, f"sqlite:///{self.db_path}")
            self._stack.callback(self.harness.close)
            self.policy, self.concurrency = policy, concurrency
            first = self.run_sync()
            assert first.outcome == "ok", first.error

    # --- local side: other programs with plain SQL ------------------------------------------

    @rule(row=new_rows, invalid=st.sampled_from([None, None, None, *INVALID_ROWS]))
    def insert_row(self, row: dict[str, Any], invalid: str | None) -> None:
        with self.step():
            assert self.harness is not None
            step = self.journal.tick()
            marker = f"Chaos-{step:04d}"
            values = {**row, MARKER_FIELD: marker}
            expect = "created"
            if invalid is not None:
                broken, expect = INVALID_ROWS[invalid]
                values.update(broken)
            local_id = self.harness.table.insert(**values)
            self.journal.inserts.append(Insert(step, local_id, marker, values, expect))

    @rule(pick=picks, edits=st.lists(local_edits, min_size=1, max_size=3))
    def edit_local(self, pick: int, edits: list[tuple[str, Any]]) -> None:
        with self.step():
            self.apply_local(pick, edits, between_syncs=True)

    def apply_local(self, pick: int, edits: list[tuple[str, Any]], *, between_syncs: bool = False) -> None:
        assert self.harness is not None
        valid = {i.local_id for i in self.journal.inserts if i.expect == "created"}
        rows = [r for r in self.contacts_rows() if r["id"] is not None or r["local_id"] in valid]
        rows.sort(key=lambda r: (r["id"] is None, r["id"] or 0, r["local_id"]))  # hot picks: lowest ids
        if not rows:
            return
        row = rows[pick % len(rows)]
        agreed = self.last_synced(row["local_id"]) if between_syncs else None
        for name, value in edits:
            if row[name] == value:
                continue
            self.harness.table.update(row["local_id"], **{name: value})
            row[name] = value
            base = agreed.get(name, UNKNOWN) if agreed is not None else UNKNOWN
            self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], name, value, base))

    def last_synced(self, local_id: int) -> dict[str, Any] | None:
        """The row's last-synced fields (None when it has none), read while no sync runs."""
        assert self.harness is not None
        query = "SELECT fields FROM sync_state WHERE local_id = :l"
        found = self.harness.table.execute(query, {"l": local_id})
        if not found:
            return None
        fields = found[0]["fields"]
        return json.loads(fields) if isinstance(fields, str) else fields

    @rule(pick=picks)
    def delete_local_row(self, pick: int) -> None:
        """Another program deletes a listed contact's row (the newest too); the next pull brings it back."""
        with self.step():
            assert self.harness is not None
            inserted = {i.local_id for i in self.journal.inserts}
            listed = {c["id"] for c in self.sandbox.state.all_contacts() if c["is_connected"]}
            rows = [r for r in self.contacts_rows() if r["id"] in listed and r["local_id"] not in inserted]
            if rows:
                row = sorted(rows, key=lambda r: r["id"])[pick % len(rows)]
                self.harness.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": row["local_id"]})
                # Its unsynced edits went with it, by the deleting program's choice.
                self.journal.local_edits = [e for e in self.journal.local_edits if e.key != row["local_id"]]
                self.journal.deleted.add(row["id"])
                self.journal.tick()

    @rule(pick=picks, action=st.sampled_from(["local", "remote", "value", "retry"]), value=texts)
    def person_settles(self, pick: int, action: str, value: str | None) -> None:
        """A person settles a conflict (`conflicts ID --take/--value`) or re-queues rejections (`retry`)."""
        with self.step():
            assert self.harness is not None
            if action == "retry":
                with self.harness.store.write() as tx:
                    save_rejections_forgotten(tx, None)
                self.journal.tick()
                return
            with self.harness.store.write() as tx:
                waiting = load_conflicts(tx)
                if not waiting:
                    return
                conflict = waiting[pick % len(waiting)]
                take = "local" if action == "value" and conflict["field"] not in EDITABLE_TEXT else action
                save_conflict_resolved(tx, conflict["conflict_id"], take=take, value=value)
            row = {r["local_id"]: r for r in self.contacts_rows()}.get(conflict["local_id"])
            if row is not None:  # what the row now holds is what the person wants
                field = conflict["field"]
                self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], field, row[field]))

    # --- API side: other users --------------------------------------------------------------

    @rule(pick=picks, edits=st.lists(remote_edits, min_size=1, max_size=3))
    def edit_remote(self, pick: int, edits: list[tuple[str, Any]]) -> None:
        with self.step():
            self.apply_remote(pick, edits)

    def apply_remote(self, pick: int, edits: list[tuple[str, Any]]) -> None:
        contacts = sorted(self.sandbox.state.all_contacts(), key=lambda c: (not c["is_connected"], c["id"]))
        contact_id = contacts[pick % len(contacts)]["id"]
        for name, value in edits:
            before = self.sandbox.state.contact(contact_id)
            after = self.sandbox.state.admin_edit(contact_id, {name: value})
            if before != after:
                self.journal.remote_edits.append(Edit(self.journal.tick(), contact_id, name, value))

    @rule(pick=picks, listed=st.booleans())
    def connect_or_disconnect(self, pick: int, listed: bool) -> None:
        """The API starts or stops listing a contact (ours, one we created, one never listed)."""
        with self.step():
            contacts = self.sandbox.state.all_contacts()
            if listed:
                hidden = [c["id"] for c in contacts if not c["is_connected"]]
                if hidden:
                    contact_id = hidden[pick % len(hidden)]
                    self.sandbox.state.connect(contact_id)
                    self.journal.disconnected.discard(contact_id)
            elif len(self.journal.disconnected) < MAX_DISCONNECTED:
                shown = sorted(c["id"] for c in contacts if c["is_connected"])
                contact_id = shown[pick % len(shown)]
                self.sandbox.state.disconnect(contact_id)
                self.journal.disconnected.add(contact_id)
            self.journal.tick()

    # --- syncs ------------------------------------------------------------------------------

    @rule(faults=fault_windows)
    def sync(self, faults: str) -> None:
        with self.step():
            self.check_sync(self.sync_under(faults, lambda: None), faults)

    @rule(faults=fault_windows, local=during_local, remote=during_remote)
    def sync_while_others_edit(
        self,
        faults: str,
        local: list[tuple[int, int, tuple[str, Any]]],
        remote: list[tuple[int, int, tuple[str, Any]]],
    ) -> None:
        """Other programs edit rows, and other users contacts, while the sync runs."""
        plan = sorted(
            [(ms, "local", pick, edit) for ms, pick, edit in local]
            + [(ms, "remote", pick, edit) for ms, pick, edit in remote]
        )

        def edit_meanwhile() -> None:
            started = time.monotonic()
            for ms, side, pick, edit in plan:
                time.sleep(max(0.0, started + ms / 1000 - time.monotonic()))
                (self.apply_local if side == "local" else self.apply_remote)(pick, [edit])

        with self.step():
            self.check_sync(self.sync_under(faults, edit_meanwhile), faults)

    def sync_under(self, faults: str, meanwhile: Callable[[], None]) -> RunResult:
        """One sync with the fault window open, `meanwhile` running in this thread as it does."""
        self.sandbox.state.set_faults(faults)
        outcome: list[RunResult | BaseException] = []

        def run() -> None:
            try:
                outcome.append(self.run_sync())
            except BaseException as exc:  # raised again in this thread
                outcome.append(exc)

        thread = threading.Thread(target=run, name="chaos-sync")
        thread.start()
        try:
            meanwhile()
        finally:
            thread.join(120)
            self.sandbox.state.set_faults("")
        assert outcome, "the sync did not finish within two minutes"
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def check_sync(self, result: RunResult, faults: str) -> None:
        note(f"sync under {faults!r}: {result.outcome} {result.error or ''}")
        STATS[f"syncs {'under faults' if faults else 'clean'}: {result.outcome}"] += 1
        for name in (
            "created",
            "updated",
            "conflicts",
            "rejected",
            "retries",
            "local_updated",
            "disconnected",
        ):
            STATS[f"{name} (sum over syncs)"] += result.counts.get(name, 0)
        if faults:
            assert result.outcome != "failed" or result.error, "a failed run must say why"
        else:
            assert result.outcome in ("ok", "attention"), f"a sync without faults failed: {result.error}"
        tables = load_tables(self.db_path)
        assert self.sandbox.token not in repr(tables), "the token reached the store"
        problems = integrity_problems(tables, pending_allowed=True, deleted=self.journal.deleted)
        assert not problems, problems
        markers = [c[MARKER_FIELD] for c in self.sandbox.state.all_contacts()]
        twice = {m for m in markers if m and m.startswith("Chaos-") and markers.count(m) > 1}
        assert not twice, f"created twice on the API side: {sorted(twice)}"

    def teardown(self) -> None:
        try:
            if self.harness is not None and not self.busy:
                self.sandbox.state.set_faults("")
                settle(self.run_sync)
                check_converged(self.journal, self.sandbox.state, self.db_path)
                tables = load_tables(self.db_path)
                STATS.update(
                    {
                        "examples checked": 1,
                        "local edits": len(self.journal.local_edits),
                        "remote edits": len(self.journal.remote_edits),
                        "rows inserted": len(self.journal.inserts),
                        "conflicts recorded": len(tables["conflicts"]),
                        "refused or rejected writes": len(tables["writes"]),
                    }
                )
        finally:
            self._stack.close()


CHAOS_SETTINGS = settings(
    max_examples=80 if SOAK else 6,
    stateful_step_count=60 if SOAK else 25,
    deadline=None,
    print_blob=True,
    # No "explain" phase: each replay runs a real server and store, and shrinking is long enough.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    # A real server and store per example is slow by design, and that is the point.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def test_both_sides_converge_after_random_edits_faults_and_syncs() -> None:
    """After random edits on both sides and syncs through faults, clean syncs leave the sides equal."""
    STATS.clear()
    run_state_machine_as_test(ChaosSync, settings=CHAOS_SETTINGS)
    print("chaos statistics:", dict(sorted(STATS.items())))
