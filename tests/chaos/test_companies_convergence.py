"""A Hypothesis state machine for the company-contacts API: both sides edited, syncs through faults.

Each example starts a real companies sandbox (one account, three companies of
10-40 contacts, pages of 7, 15 or 100) and a real SQLite store synced with two or
three of the companies, with a conflict policy and a write concurrency fixed for
the example, and syncs once. Then random steps: plain-SQL inserts (unique emails,
some invalid, some copying every field of an existing contact), edits, edits of
API-owned columns, and deletes; other users creating, editing and deleting
contacts; one contact changed on both sides (edit/edit, edit/delete); a person
settling conflicts or re-queuing rejections; and syncs, each
under a fault window of the companies sandbox (500, 503, 429, proxy pages, dropped
connections before or after a write was applied, DELETE included, garbled and
empty answers, answers slower than the client's timeout), some while others act
on both sides during the run (at fixed request numbers, through the transport),
some while another user deletes or creates at the head of the company being
walked, so the offset walk misses or repeats a contact.
A sync under faults may fail. At the end the faults are cleared, clean syncs run
until one has nothing to do, and `companies_checks.converged_problems` must find
nothing: converged, 0 duplicate creates, 0 lost edits, 0 wrongly deleted rows.

CONTACTS_SYNC_SOAK=1 runs many more and longer examples.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from storage.status import load_conflicts, save_conflict_resolved, save_rejections_forgotten
from sync.apis.companies.sandbox.server import CompaniesServer
from sync.apis.companies.sandbox.testing import running_sandbox
from sync.deletes import DELETED
from sync.runner import RunResult
from tests.chaos.checks import SOAK, integrity_problems
from tests.chaos.companies_checks import (
    INVALID_ROWS,
    MARKER,
    UNKNOWN,
    CompaniesJournal,
    Edit,
    Insert,
    RecordingState,
    check_converged,
    duplicate_problems,
    load_tables,
    settle,
)
from tests.e2e.test_companies_sync import CompaniesHarness

POLICIES = ("remote-wins", "local-wins", "manual")
# Deletions the sync has not yet judged, at most: each may shift one more contact out of a
# walk, and the safety stop refuses more than five missing contacts.
MAX_UNJUDGED_DELETES = 2
FAST = {
    "timeout_seconds": 0.5,
    "retry_attempts": 5,
    "retry_base_delay": 0.01,
    "retry_max_delay": 0.05,
    # The published limits, paced over half a second instead of a minute.
    "rate_window_seconds": 0.5,
}
# What the examples did, printed at the end of the test (pytest -s shows it).
STATS: Counter[str] = Counter()

# --- fault windows: the companies sandbox's SPEC for one sync ------------------------------------

# One rule per kind; P is the probability, SCOPE "", "/GET", "/WRITE" or "/DELETE".
FAULT_RULES = {
    "429-storm": "429=0.05@p0.3{scope}",
    "500": "500@p{p}{scope}",
    "503": "503@p{p}{scope}",
    "html502": "html502@p{p}{scope}",
    "malformed": "malformed@p{p}{scope}",
    "empty200": "empty200@p{p}{scope}",
    "drop-before": "drop-before@p{p}{scope}",
    "drop-after": "drop-after@p{p}/WRITE",  # the write is applied, its answer lost
    "drop-after-delete": "drop-after@p{p}/DELETE",
    "slow": "slow=700@p{slow_p}{scope}",  # past the 0.5 s client timeout
}
# Fixed request numbers: some bite every time (and outlast the five attempts).
FAULT_SHOTS = (
    "500@1-5",
    "drop-after@1/POST",
    "drop-after@1-2/WRITE",
    "drop-after@1-5/WRITE",  # every attempt applied and lost: the run gives up, the write stays
    "drop-after@1-5/POST,500@1-9/GET",  # and the lookups fail too
    "drop-after@1-3/DELETE",
    "malformed@1+3/WRITE",
    "empty200@2/WRITE",
    "html502@1-3",
    "slow=700@1/WRITE,drop-before@2/WRITE",
    "503@2-6",
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

words = st.one_of(
    st.sampled_from(["", "Zürich", "O'Brien & Co", "東京都", "Chief Llama Officer", "  padded  "]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
texts = st.one_of(st.none(), words)
# A few hot fields and contacts, so both sides often touch the same ones.
HOT = ["designation", "phone"]
text_fields = st.one_of(st.sampled_from(HOT), st.sampled_from(["first_name", "last_name"]))
picks = st.one_of(st.integers(0, 3), st.integers(0, 10**6))
# ("email", None) stands for a fresh address, made unique when applied.
local_edits = st.one_of(
    st.tuples(text_fields, texts),  # a NULL first name is refused locally: it must stay explained
    st.tuples(st.just("is_primary"), st.booleans()),
    st.tuples(st.just("email"), st.just(None)),
)
remote_edits = st.one_of(
    st.tuples(st.sampled_from(HOT), texts),
    st.tuples(st.sampled_from(["first_name", "last_name"]), words),
    st.tuples(st.just("is_primary"), st.booleans()),
    st.tuples(st.just("email"), st.just(None)),
)
# Columns the API owns, and the company a contact was created in: the plan puts them back.
owned_edits = st.one_of(
    st.tuples(st.sampled_from(["created_at", "updated_at"]), st.just("1999-01-01T00:00:00Z")),
    st.tuples(st.just("company_id"), st.integers(0, 2)),
)
new_rows = st.fixed_dictionaries(
    {"company": st.integers(0, 5), "first_name": words},
    optional={"last_name": texts, "phone": texts, "designation": texts, "is_primary": st.booleans()},
)
maybe_invalid = st.sampled_from([*[None] * 8, *INVALID_ROWS])  # mostly valid
# Others acting while a sync runs: (after which request of the sync, what, pick, payload).
during = st.lists(
    st.one_of(
        st.tuples(st.integers(1, 12), st.just("local-edit"), picks, local_edits),
        st.tuples(st.integers(1, 12), st.just("remote-edit"), picks, remote_edits),
        st.tuples(st.integers(1, 12), st.just("local-delete"), picks, st.none()),
        st.tuples(st.integers(1, 12), st.just("remote-delete"), picks, st.none()),
        st.tuples(st.integers(1, 12), st.just("remote-create"), st.integers(0, 5), words),
        # At the head of a company's list: every later contact shifts by one under the walk.
        # After the N-th page of the walk, at the head of the company being walked: the later
        # contacts shift by one, so the walk misses or repeats one.
        st.tuples(st.integers(1, 4), st.just("remote-delete-first"), st.integers(0, 5), st.none()),
        st.tuples(st.integers(1, 4), st.just("remote-create-first"), st.integers(0, 5), words),
        st.tuples(st.integers(1, 12), st.just("local-insert"), st.just(0), new_rows),
    ),
    min_size=1,
    max_size=4,
)


# An action of others during a sync: it runs after the N-th request of the run, or, when
# `on_pages`, after the N-th page of the list walk (a GET with `skip=`), given that request.
Action = tuple[int, bool, Callable[[httpx.Request], None]]


class MeanwhileTransport(httpx.BaseTransport):
    """The real network, plus other people acting after the N-th request (or walk page) of a sync."""

    def __init__(self, actions: list[Action]) -> None:
        self._inner = httpx.HTTPTransport()
        self._actions = list(actions)
        self._lock = threading.Lock()
        self._requests = self._pages = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._inner.handle_request(request)
            response.read()
            return response
        finally:
            with self._lock:  # push threads share the transport; the actions run one at a time
                self._requests += 1
                self._pages += request.method == "GET" and "skip" in request.url.params
                due = [a for a in self._actions if a[0] <= (self._pages if a[1] else self._requests)]
                self._actions = [a for a in self._actions if a not in due]
                for _, _, act in due:
                    act(request)

    def close(self) -> None:
        self._inner.close()


class CompaniesChaos(RuleBasedStateMachine):
    """Both sides of one company-contacts store, edited at random, synced through faults."""

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self.harness: CompaniesHarness | None = None
        self.journal = CompaniesJournal()
        self.policy = "remote-wins"
        self.concurrency = 4
        self.unjudged: list[int] = []  # steps of deletions no whole walk has judged yet
        self.busy = False  # left True by a step that raised: teardown then skips the final check

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        self.busy = True
        yield
        self.busy = False
        STATS["steps"] += 1

    @property
    def sandbox(self) -> CompaniesServer:
        assert self.harness is not None
        return self.harness.sandbox

    @property
    def state(self) -> RecordingState:
        state = self.sandbox.state
        assert isinstance(state, RecordingState)
        return state

    @property
    def companies(self) -> list[str]:
        assert self.harness is not None
        return list(self.harness.company_ids)

    def run_sync(self, transport: httpx.BaseTransport | None = None) -> RunResult:
        assert self.harness is not None
        return self.harness.sync(
            transport, conflict_policy=self.policy, write_concurrency=self.concurrency, **FAST
        )

    def rows(self) -> list[dict[str, Any]]:
        return load_tables(self.db_path)["contacts"]

    def remote(self) -> list[dict[str, Any]]:
        """The synced companies' contacts, in id order (hot picks: the lowest ids)."""
        contacts = [c for company in self.companies for c in self.state.all_contacts(company)]
        return sorted(contacts, key=lambda c: c["id"])

    @initialize(
        contacts=st.integers(10, 40),
        synced=st.sampled_from([2, 3]),
        page=st.sampled_from([7, 15, 100]),
        seed=st.integers(0, 999),
        policy=st.sampled_from(POLICIES),
        concurrency=st.sampled_from([1, 4]),
    )
    def start(self, contacts: int, synced: int, page: int, seed: int, policy: str, concurrency: int) -> None:
        with self.step():
            state = RecordingState(
                accounts=1,
                companies=3,
                contacts_per_company=contacts,
                seed=seed,
                max_limit=page,
                post_limit=None,
                general_limit=None,
                log_limit=None,
            )
            sandbox = self._stack.enter_context(running_sandbox(state=state))
            self.db_path = Path(self._stack.enter_context(tempfile.TemporaryDirectory())) / "contacts.db"
            self.harness = CompaniesHarness(sandbox, f"sqlite:///{self.db_path}", companies=synced)
            self._stack.callback(self.harness.close)
            self.policy, self.concurrency = policy, concurrency
            first = self.run_sync()
            assert first.outcome == "ok", first.error
            self.journal.first_rows = {row["local_id"]: row["id"] for row in self.rows()}
            assert len(self.journal.first_rows) == contacts * synced

    # --- local side: other programs with plain SQL ------------------------------------------

    @rule(rows=st.lists(st.tuples(new_rows, maybe_invalid), min_size=1, max_size=3))
    def insert_rows(self, rows: list[tuple[dict[str, Any], str | None]]) -> None:
        with self.step():
            for row, invalid in rows:
                self.insert_local(row, invalid)

    @rule(pick=picks)
    def insert_twin(self, pick: int) -> None:
        """Another program inserts a row with every field of an existing contact (the API allows
        duplicates): it must become a contact of its own, never be matched to the one it copies."""
        with self.step():
            assert self.harness is not None
            contacts = self.remote()
            if not contacts:
                return
            twin = contacts[pick % len(contacts)]
            fields = ("company_id", "first_name", "last_name", "email", "phone", "designation", "is_primary")
            values = {name: twin[name] for name in fields}
            local_id = self.harness.table.insert(**values)
            step = self.journal.tick()
            self.journal.inserts.append(Insert(step, local_id, twin["email"], values, "created"))
            STATS["twin rows inserted"] += 1

    def insert_local(self, row: dict[str, Any], invalid: str | None = None) -> None:
        assert self.harness is not None
        step = self.journal.tick()
        email = f"{MARKER}{step:04d}@example.com"
        values = {k: v for k, v in row.items() if k != "company"}
        values.update(company_id=self.companies[row["company"] % len(self.companies)], email=email)
        expect = "created"
        if invalid is not None:
            broken, expect = INVALID_ROWS[invalid]
            values.update(broken)
        local_id = self.harness.table.insert(**values)
        self.journal.inserts.append(Insert(step, local_id, email, values, expect))

    @rule(pick=picks, edits=st.lists(local_edits, min_size=1, max_size=3))
    def edit_local(self, pick: int, edits: list[tuple[str, Any]]) -> None:
        with self.step():
            self.apply_local(pick, edits, between_syncs=True)

    @rule(pick=picks, edit=owned_edits)
    def edit_owned_column(self, pick: int, edit: tuple[str, Any]) -> None:
        """Another program changes a column the API owns: the next plan puts it back."""
        with self.step():
            assert self.harness is not None
            rows = [r for r in self.pickable_rows() if r["id"] is not None]
            if rows:
                name, value = edit
                if name == "company_id":
                    value = self.companies[value % len(self.companies)]
                self.harness.table.update(rows[pick % len(rows)]["local_id"], **{name: value})
                self.journal.tick()

    def pickable_rows(self) -> list[dict[str, Any]]:
        valid = {i.local_id for i in self.journal.inserts if i.expect == "created"}
        rows = [r for r in self.rows() if r["id"] is not None or r["local_id"] in valid]
        return sorted(rows, key=lambda r: (r["id"] is None, r["id"] or "", r["local_id"]))

    def apply_local(self, pick: int, edits: list[tuple[str, Any]], *, between_syncs: bool = False) -> None:
        assert self.harness is not None
        rows = self.pickable_rows()
        if not rows:
            return
        row = rows[pick % len(rows)]
        inserted = any(i.local_id == row["local_id"] for i in self.journal.inserts)
        agreed = self.last_synced(row["local_id"]) if between_syncs else None
        for name, value in edits:
            if name == "email":
                if inserted or str(row["email"]).startswith(MARKER):
                    continue  # an inserted row's email is its marker: nobody edits it
                value = f"local-{self.journal.steps:04d}@Example.com"
            if row[name] == value:
                continue
            self.harness.table.update(row["local_id"], **{name: value})
            row[name] = value
            base = agreed.get(name, UNKNOWN) if agreed is not None else UNKNOWN
            self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], name, value, base))

    def last_synced(self, local_id: int) -> dict[str, Any] | None:
        """The row's last-synced fields (None when it has none), read while no sync runs."""
        assert self.harness is not None
        found = self.harness.table.execute(
            "SELECT fields FROM sync_state WHERE local_id = :l", {"l": local_id}
        )
        if not found:
            return None
        fields = found[0]["fields"]
        return json.loads(fields) if isinstance(fields, str) else fields

    @rule(pick=picks)
    def delete_local_row(self, pick: int) -> None:
        """Another program deletes a row (a synced one, or one not yet created): DELETE follows."""
        with self.step():
            self.delete_local(pick)

    def delete_local(self, pick: int) -> None:
        assert self.harness is not None
        if len(self.unjudged) >= MAX_UNJUDGED_DELETES:
            return
        rows = self.pickable_rows()
        if not rows:
            return
        self.delete_local_row_of(rows[pick % len(rows)])

    def delete_local_row_of(self, row: dict[str, Any]) -> None:
        assert self.harness is not None
        deleted = self.harness.table.execute(
            "DELETE FROM contacts WHERE local_id = :l RETURNING id", {"l": row["local_id"]}
        )
        if deleted:
            self.journal.rows_deleted[row["local_id"]] = deleted[0]["id"]
            self.unjudged.append(self.journal.tick())

    @rule(pick=picks, action=st.sampled_from(["local", "remote", "value", "retry"]), value=words)
    def person_settles(self, pick: int, action: str, value: str) -> None:
        """A person settles a conflict (`conflicts ID --take/--value`) or re-queues rejections (`retry`)."""
        with self.step():
            assert self.harness is not None
            store = self.harness.store
            if action == "retry":
                with store.write() as tx:
                    save_rejections_forgotten(tx, None, t=store.t)
                self.journal.tick()
                return
            with store.write() as tx:
                waiting = load_conflicts(tx, t=store.t)
                if not waiting:
                    return
                conflict = waiting[pick % len(waiting)]
                field = conflict["field"]
                take = action
                if action == "value" and (field == DELETED or field == "is_primary"):
                    take = "local"
                save_conflict_resolved(tx, conflict["conflict_id"], take=take, value=value, t=store.t)
            step = self.journal.tick()
            if field == DELETED:
                if take == "local" and conflict["local_value"] == "deleted":
                    self.unjudged.append(step)  # the delete is sent after all
                return
            row = {r["local_id"]: r for r in self.rows()}.get(conflict["local_id"])
            if row is None:
                return
            if take == "remote":
                # The row is back at its last-synced value: no local change is left, and the
                # next sync brings whatever the API holds now (a later edit there included).
                agreed = (self.last_synced(row["local_id"]) or {}).get(field, UNKNOWN)
                self.journal.local_edits.append(Edit(step, row["local_id"], field, row[field], agreed))
            else:  # what the row now holds is what the person wants sent
                self.journal.local_edits.append(Edit(step, row["local_id"], field, row[field]))

    @rule(
        pick=picks,
        name=st.sampled_from([*HOT, "last_name"]),
        mine=texts,
        theirs=texts,
        kind=st.sampled_from(["edit-edit", "edit-here-delete-there", "delete-here-edit-there"]),
    )
    def both_sides_touch_one_contact(
        self, pick: int, name: str, mine: str | None, theirs: str | None, kind: str
    ) -> None:
        """One contact changed on both sides between two syncs: a field edited on both, or edited
        on one side and deleted on the other. The policy (or a person) settles it."""
        with self.step():
            assert self.harness is not None
            listed = {c["id"] for c in self.remote()}
            rows = [r for r in self.pickable_rows() if r["id"] in listed]
            if not rows:
                return
            row = rows[pick % len(rows)]
            if kind == "delete-here-edit-there":
                if len(self.unjudged) >= MAX_UNJUDGED_DELETES:
                    return
                self.delete_local_row_of(row)
            elif row[name] != mine:
                agreed = self.last_synced(row["local_id"])
                self.harness.table.update(row["local_id"], **{name: mine})
                base = agreed.get(name, UNKNOWN) if agreed is not None else UNKNOWN
                self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], name, mine, base))
            STATS[f"both sides: {kind}"] += 1
            if kind == "edit-here-delete-there":
                if len(self.unjudged) < MAX_UNJUDGED_DELETES:
                    self.delete_contact(row["id"])
                return
            before = self.state.contact(row["id"])
            if before is not None and before != self.state.admin_edit(row["id"], {name: theirs}):
                self.journal.remote_edits.append(Edit(self.journal.tick(), row["id"], name, theirs))

    # --- API side: other users --------------------------------------------------------------

    @rule(pick=picks, edits=st.lists(remote_edits, min_size=1, max_size=3))
    def edit_remote(self, pick: int, edits: list[tuple[str, Any]]) -> None:
        with self.step():
            self.apply_remote(pick, edits)

    def apply_remote(self, pick: int, edits: list[tuple[str, Any]]) -> None:
        contacts = self.remote()
        if not contacts:
            return
        contact = contacts[pick % len(contacts)]
        for name, value in edits:
            if name == "email":
                if contact["email"] in {i.email for i in self.journal.inserts}:
                    continue  # an inserted row's email is its marker: nobody edits it
                value = f"remote-{self.journal.steps:04d}@example.com"
            before = self.state.contact(contact["id"])
            if before is None:
                return
            after = self.state.admin_edit(contact["id"], {name: value})
            if before != after:
                self.journal.remote_edits.append(Edit(self.journal.tick(), contact["id"], name, value))

    @rule(company=st.integers(0, 5), first_name=words)
    def create_remote(self, company: int, first_name: str) -> None:
        with self.step():
            self.apply_remote_create(company, first_name)

    def apply_remote_create(self, company: int, first_name: str, *, first_of_company: bool = False) -> None:
        step = self.journal.tick()
        email = f"other-{step:04d}@example.com"
        # Backdated before every seeded contact: placed at the head of the company's list.
        created_at = "2020-01-01T00:00:00Z" if first_of_company else None
        made = self.state.admin_create(
            {
                "company_id": self.companies[company % len(self.companies)],
                "first_name": first_name,
                "email": email,
            },
            created_at=created_at,
        )
        self.journal.remote_created[made["id"]] = email

    @rule(pick=picks)
    def delete_remote(self, pick: int) -> None:
        with self.step():
            self.apply_remote_delete(pick)

    def apply_remote_delete(self, pick: int, *, first_of_company: bool = False) -> None:
        """Another user deletes a contact: any (by pick), or the first of a company's list."""
        contacts = self.remote()
        if first_of_company:
            contacts = self.state.all_contacts(self.companies[pick % len(self.companies)])[:1]
        if not contacts or len(self.unjudged) >= MAX_UNJUDGED_DELETES:
            return
        self.delete_contact(contacts[pick % len(contacts)]["id"])

    def delete_contact(self, contact_id: str) -> None:
        self.state.admin_delete(contact_id)
        self.journal.remote_deleted.add(contact_id)
        self.unjudged.append(self.journal.tick())

    # --- syncs ------------------------------------------------------------------------------

    @rule(faults=fault_windows)
    def sync(self, faults: str) -> None:
        with self.step():
            started = self.journal.tick()
            self.check_sync(self.sync_under(faults), faults, started)

    @rule(faults=fault_windows, actions=during)
    def sync_while_others_act(self, faults: str, actions: list[tuple[int, str, int, Any]]) -> None:
        """Other programs and users edit, create and delete on both sides during the run."""
        self.sync_with(faults, actions)

    def sync_with(self, faults: str, actions: list[tuple[int, str, int, Any]]) -> None:

        def act(kind: str, pick: int, payload: Any) -> Callable[[httpx.Request], None]:
            def run(request: httpx.Request) -> None:
                walked = request.url.params.get("company_id")
                company = self.companies.index(walked) if walked in self.companies else pick
                if kind == "local-edit":
                    self.apply_local(pick, [payload])
                elif kind == "remote-edit":
                    self.apply_remote(pick, [payload])
                elif kind == "local-delete":
                    self.delete_local(pick)
                elif kind == "remote-delete":
                    self.apply_remote_delete(pick)
                elif kind == "local-insert":
                    self.insert_local(payload)
                elif kind == "remote-delete-first":
                    self.apply_remote_delete(company, first_of_company=True)
                elif kind == "remote-create-first":
                    self.apply_remote_create(company, payload, first_of_company=True)
                else:
                    self.apply_remote_create(pick, payload)
                STATS[f"meanwhile {kind}"] += 1

            return run

        with self.step():
            started = self.journal.tick()
            transport = MeanwhileTransport(
                [(n, kind.endswith("-first"), act(kind, pick, payload)) for n, kind, pick, payload in actions]
            )
            self.check_sync(self.sync_under(faults, transport), faults, started, meanwhile=True)

    @rule(
        faults=st.one_of(st.just(""), fault_windows),
        page=st.integers(1, 4),
        delete=st.booleans(),
        company=st.integers(0, 5),
        first_name=words,
    )
    def sync_while_the_list_shifts(
        self, faults: str, page: int, delete: bool, company: int, first_name: str
    ) -> None:
        """Another user deletes (or creates) the first contact of the company being walked, right
        after page N: the later contacts shift by one, and the walk misses (or repeats) one."""
        kind = "remote-delete-first" if delete else "remote-create-first"
        self.sync_with(faults, [(page, kind, company, None if delete else first_name)])

    def sync_under(self, faults: str, transport: httpx.BaseTransport | None = None) -> RunResult:
        self.state.set_faults(faults)
        try:
            return self.run_sync(transport)
        finally:
            self.state.set_faults("")

    def check_sync(self, result: RunResult, faults: str, started: int, *, meanwhile: bool = False) -> None:
        others = " with others acting" if meanwhile else ""
        note(f"sync under {faults!r}{others}: {result.outcome} {result.error or ''}")
        STATS[f"syncs {'under faults' if faults else 'clean'}: {result.outcome}"] += 1
        for name in (
            "created",
            "updated",
            "deleted_remote",
            "deleted_local",
            "conflicts",
            "rejected",
            "retries",
        ):
            STATS[f"{name} (sum over syncs)"] += result.counts.get(name, 0)
        if faults:
            assert result.outcome != "failed" or result.error, "a failed run must say why"
        elif meanwhile and result.outcome == "failed":
            # Contacts shifted out of the walk by deletions during it count as missing too.
            assert "no longer lists" in (result.error or ""), result.error
        else:
            assert result.outcome in ("ok", "attention"), f"a sync without faults failed: {result.error}"
        if result.outcome != "failed":
            self.unjudged = [step for step in self.unjudged if step > started]
        tables = load_tables(self.db_path)
        assert self.sandbox.token not in repr(tables), "the token reached the store"
        deleted = {cid for cid in self.journal.rows_deleted.values() if cid is not None}
        problems = integrity_problems(tables, pending_allowed=True, deleted=deleted)
        problems += duplicate_problems(self.journal, self.state, self.db_path)
        assert not problems, problems

    def teardown(self) -> None:
        try:
            if self.harness is not None and not self.busy:
                self.state.set_faults("")
                settle(self.run_sync, self.db_path)
                check_converged(self.journal, self.state, self.db_path, self.companies)
                tables = load_tables(self.db_path)
                STATS.update(
                    {
                        "examples checked": 1,
                        "local edits": len(self.journal.local_edits),
                        "remote edits": len(self.journal.remote_edits),
                        "rows inserted": len(self.journal.inserts),
                        "rows deleted locally": len(self.journal.rows_deleted),
                        "contacts deleted remotely": len(self.journal.remote_deleted),
                        "creates applied at the API": len(self.state.created),
                        "conflicts recorded": len(tables["conflicts"]),
                        "refused or rejected writes": len(tables["writes"]),
                    }
                )
        finally:
            self._stack.close()


CHAOS_SETTINGS = settings(
    max_examples=80 if SOAK else 10,
    stateful_step_count=50 if SOAK else 20,
    deadline=None,
    print_blob=True,
    # No "explain" phase: each replay runs a real server and store, and shrinking is long enough.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    # A real server and store per example is slow by design, and that is the point.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def test_companies_sides_converge_after_random_edits_deletes_faults_and_syncs() -> None:
    """After random edits, creates and deletes on both sides and syncs through faults, clean syncs
    leave the sides equal: no duplicate create, no lost edit, no wrongly deleted row."""
    STATS.clear()
    run_state_machine_as_test(CompaniesChaos, settings=CHAOS_SETTINGS)
    print("chaos statistics:", dict(sorted(STATS.items())))
