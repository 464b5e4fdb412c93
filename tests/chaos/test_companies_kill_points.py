"""The real `contacts-sync sync` process (api companies) killed with SIGKILL at many points, then run cleanly.

Per seed: one companies sandbox (one account, three companies of 60 contacts, pages
of 25: three pages each) and one SQLite store synced with all three. Each round
edits, inserts and deletes on both sides, starts `python -m sync.cli sync`, kills it
at one point, runs clean syncs in-process until one has nothing to do, and checks
`companies_checks.converged_problems`: converged, 0 duplicate creates, 0 lost
edits, 0 wrongly deleted rows. The kill points:

- pull: while list page N is answered slowly (the pages before it are committed);
- post-answer: after POST N was applied by the API, before its answer arrives (no
  idempotency key: only the lookup before resending keeps it from being made twice);
- patch-answer / delete-answer: the same for PATCH N and DELETE N;
- write-retry: after write N was applied and its connection dropped, during the
  retry's backoff;
- commit: inside the run's N-th write transaction on the store;
- random (under CONTACTS_SYNC_SOAK=1): at a seeded delay after the first request, spread
  over the whole run.

Kills are seen from the sandbox's request log (each request is logged before its
answer is delayed). The seed, round and kill point are printed and named in every
assertion message. CONTACTS_SYNC_SOAK=1 runs more seeds, all commit points and more
random ones; by default each seed runs the four named points and one of write-retry or commit.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync.apis.companies.sandbox.testing import running_sandbox
from tests.chaos.checks import SOAK
from tests.chaos.companies_checks import (
    INVALID_ROWS,
    MARKER,
    CompaniesJournal,
    Edit,
    Insert,
    RecordingState,
    check_converged,
    load_tables,
    settle,
)
from tests.chaos.test_kill_points import WriteLockWatch, wait_for
from tests.e2e.test_companies_sync import CompaniesHarness

pytestmark = pytest.mark.slow

SEEDS = tuple(range(1, 9)) if SOAK else (1, 2)
RANDOM_KILLS = 4 if SOAK else 0  # by default the named points only, to stay near a minute
COMPANIES = 3
CONTACTS = 60  # per company: three pages of 25
PAGE = 25
RUN_SPAN_SECONDS = 0.8  # about how long a killed run takes with LATENCY_MS per request
LATENCY_MS = 20
SLOW = 1500  # an answer held this long: the process is killed while it waits
POLICIES = ("remote-wins", "local-wins", "manual")
TEXT_EDITS = ("designation", "phone", "last_name", "first_name")
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "rate_window_seconds": 0.5}


@dataclass(frozen=True)
class KillPoint:
    kind: str  # pull | post-answer | patch-answer | delete-answer | write-retry | commit | random
    number: int = 0  # the page, write or transaction to kill at
    delay: float = 0.0  # seconds after the trigger
    faults: str = ""

    def __str__(self) -> str:
        return f"{self.kind}(n={self.number}, delay={self.delay:.3f}s, faults={self.faults!r})"


def kill_points(seed: int) -> list[KillPoint]:
    """The seed's kill points: every named one, a commit (or write-retry), and random ones."""
    rng = random.Random(f"companies-kill-points-{seed}")
    # GETs before the walk: one identity check per company, then a 422 teaching the page size.
    page = COMPANIES + 1 + rng.randint(1, COMPANIES * 3)
    fixed = [
        KillPoint("pull", page, rng.uniform(0, 0.3), f"slow={SLOW}@{page}/GET"),
        KillPoint("post-answer", rng.randint(1, 2), rng.uniform(0, 0.2), f"slow={SLOW}@p1/POST"),
        KillPoint("patch-answer", rng.randint(1, 2), rng.uniform(0, 0.2), f"slow={SLOW}@p1/PATCH"),
        KillPoint("delete-answer", rng.randint(1, 2), rng.uniform(0, 0.2), f"slow={SLOW}@p1/DELETE"),
    ]
    retried = rng.randint(1, 2)
    retry = KillPoint("write-retry", retried, rng.uniform(0, 0.4), f"drop-after@{retried}/WRITE")
    # The run's write transactions: the lock holder, the run record, pages, the plan, each answer.
    commits = (
        [KillPoint("commit", n) for n in range(1, 9)] if SOAK else [KillPoint("commit", rng.randint(2, 8))]
    )
    extra = [retry, *commits] if SOAK else [[retry, *commits][seed % 2]]
    randoms = [
        KillPoint("random", j, (j + rng.random()) / RANDOM_KILLS * RUN_SPAN_SECONDS)
        for j in range(RANDOM_KILLS)
    ]
    return fixed + extra + randoms


def cli_environment(harness: CompaniesHarness, policy: str, kill: KillPoint) -> dict[str, str]:
    return {
        **os.environ,
        "CONTACTS_SYNC_API": "companies",
        "CONTACTS_SYNC_API_URL": harness.sandbox.base_url,
        "CONTACTS_SYNC_API_TOKEN": harness.sandbox.token,
        "CONTACTS_SYNC_COMPANY_IDS": ",".join(harness.company_ids),
        "CONTACTS_SYNC_DATABASE_URL": harness.database_url,
        "CONTACTS_SYNC_CONFLICT_POLICY": policy,
        "CONTACTS_SYNC_TIMEOUT_SECONDS": "10",
        "CONTACTS_SYNC_RATE_WINDOW_SECONDS": "0.5",
        # The retry's backoff is long enough to kill inside it.
        "CONTACTS_SYNC_RETRY_BASE_DELAY": "1.0" if kill.kind == "write-retry" else "0.05",
        "CONTACTS_SYNC_RETRY_MAX_DELAY": "1.0",
    }


class Round:
    """Random inserts, edits and deletes on both sides before one killed run, noted in the journal."""

    def __init__(self, harness: CompaniesHarness, journal: CompaniesJournal, rng: random.Random) -> None:
        self.harness = harness
        self.journal = journal
        self.rng = rng

    @property
    def state(self) -> RecordingState:
        state = self.harness.sandbox.state
        assert isinstance(state, RecordingState)
        return state

    def synced_rows(self) -> list[dict[str, Any]]:
        rows = load_tables(self.harness.database_url.removeprefix("sqlite:///"))["contacts"]
        return sorted((r for r in rows if r["id"] is not None), key=lambda r: r["local_id"])

    def scramble(self, round_number: int) -> None:
        rng, table = self.rng, self.harness.table
        companies = self.harness.company_ids
        for n in range(3):
            values: dict[str, Any] = {
                "company_id": rng.choice(companies),
                "first_name": rng.choice(["Kill", "Ünïcode", ""]),
                "designation": rng.choice([None, "Kill Title"]),
                "is_primary": rng.random() < 0.3,
            }
            self.insert(values, f"{MARKER}{round_number}-{n}@example.com", "created")
        broken, expect = INVALID_ROWS[sorted(INVALID_ROWS)[round_number % len(INVALID_ROWS)]]
        self.insert(
            {"company_id": companies[0], "first_name": "Bad", **broken},
            f"{MARKER}{round_number}-bad@example.com",
            expect,
        )
        rows = self.synced_rows()
        edited, deleted = rows[: len(rows) // 2], rows[len(rows) // 2 :]
        for row in rng.sample(edited, 4):
            name, value = self.edit_value(f"L{round_number}")
            if row[name] != value:
                table.update(row["local_id"], **{name: value})
                self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], name, value))
        for row in rng.sample(deleted, 2):
            table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": row["local_id"]})
            self.journal.rows_deleted[row["local_id"]] = row["id"]
            self.journal.tick()
        # Other users: edits (some of contacts edited or deleted here), a delete, a create.
        contacts = sorted(
            (c for company in companies for c in self.state.all_contacts(company)), key=lambda c: c["id"]
        )
        for contact in rng.sample(contacts, 3):
            name, value = self.edit_value(f"R{round_number}")
            if self.state.admin_edit(contact["id"], {name: value}) != contact:
                self.journal.remote_edits.append(Edit(self.journal.tick(), contact["id"], name, value))
        gone = rng.choice(contacts)["id"]
        self.state.admin_delete(gone)
        self.journal.remote_deleted.add(gone)
        step = self.journal.tick()
        email = f"other-{step}@example.com"
        made = self.state.admin_create(
            {"company_id": rng.choice(companies), "first_name": "Other", "email": email}
        )
        self.journal.remote_created[made["id"]] = email

    def insert(self, values: dict[str, Any], email: str, expect: str) -> None:
        values = {"email": email, **values}
        local_id = self.harness.table.insert(**values)
        self.journal.inserts.append(Insert(self.journal.tick(), local_id, email, values, expect))

    def edit_value(self, text: str) -> tuple[str, Any]:
        kind = self.rng.choice(["text", "text", "clear", "is_primary"])
        if kind == "text":
            return self.rng.choice(TEXT_EDITS), f"{text}-{self.rng.randint(0, 999)}"
        if kind == "clear":
            return self.rng.choice(["designation", "phone", "last_name"]), None
        return "is_primary", self.rng.random() < 0.5


def api_requests(state: RecordingState, since: int) -> list[Any]:
    return [e for e in state.request_log()[since:] if e.endpoint is not None]


def trigger(kill: KillPoint, state: RecordingState, since: int, db_path: Path) -> Callable[[], bool]:
    def count(method: str, fault: str = "") -> int:
        return len([e for e in api_requests(state, since) if e.method == method and fault in (e.fault or "")])

    if kill.kind == "pull":
        return lambda: count("GET") >= kill.number
    if kill.kind.endswith("-answer"):
        method = kill.kind.removesuffix("-answer").upper()
        return lambda: count(method) >= kill.number
    if kill.kind == "write-retry":
        return lambda: sum(count(m, "drop-after") for m in ("POST", "PATCH", "DELETE")) >= 1
    if kill.kind == "commit":
        return WriteLockWatch(db_path, kill.number)
    return lambda: bool(api_requests(state, since))


def run_and_kill(
    kill: KillPoint, harness: CompaniesHarness, env: dict[str, str], log_path: Path, db_path: Path
) -> tuple[str, float | None]:
    """Start the CLI, kill it at the point; what happened, and when after the trigger."""
    state = harness.sandbox.state
    assert isinstance(state, RecordingState)
    since = len(state.request_log())
    state.set_faults(kill.faults)
    state.latency_ms = LATENCY_MS
    triggered = 0.0
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sync.cli", "sync"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                watch = trigger(kill, state, since, db_path)
                try:
                    if not wait_for(watch, process, timeout=60):
                        return f"finished (exit {process.returncode}) before the trigger", None
                finally:
                    if isinstance(watch, WriteLockWatch):
                        watch.close()
                triggered = time.monotonic()
                time.sleep(kill.delay)
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
    finally:
        state.set_faults("")
        state.latency_ms = 0
    requests = f"{len(api_requests(state, since))} API request(s) seen"
    if process.returncode == -signal.SIGKILL:
        return f"killed ({requests})", time.monotonic() - triggered
    return f"finished (exit {process.returncode}) before the kill ({requests})", None


@pytest.fixture(params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def seed(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def harness(tmp_path: Path, seed: int) -> Iterator[CompaniesHarness]:
    state = RecordingState(
        accounts=1,
        companies=COMPANIES,
        contacts_per_company=CONTACTS,
        seed=seed,
        max_limit=PAGE,
        post_limit=None,
        general_limit=None,
        log_limit=None,
    )
    with running_sandbox(state=state) as sandbox:
        made = CompaniesHarness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}", companies=COMPANIES)
        try:
            yield made
        finally:
            made.close()


def test_sigkill_anywhere_in_a_companies_run_loses_nothing_and_creates_nothing_twice(
    seed: int, harness: CompaniesHarness, tmp_path: Path
) -> None:
    """After a SIGKILL at any point of a companies sync (mid-pull, a POST applied but unanswered,
    mid-PATCH, mid-DELETE, in a retry's backoff, inside a commit), clean syncs converge: no
    duplicate create, no lost edit, no wrongly deleted row."""
    db_path = tmp_path / "contacts.db"
    rng = random.Random(seed)
    policy = POLICIES[seed % len(POLICIES)]
    assert harness.sync(conflict_policy=policy, **FAST).outcome == "ok"
    journal = CompaniesJournal(
        first_rows={r["local_id"]: r["id"] for r in harness.table.execute("SELECT * FROM contacts")}
    )
    assert len(journal.first_rows) == COMPANIES * CONTACTS
    state = harness.sandbox.state
    assert isinstance(state, RecordingState)
    killed: list[str] = []
    for number, kill in enumerate(kill_points(seed)):
        Round(harness, journal, rng).scramble(number)
        env = cli_environment(harness, policy, kill)
        happened, after = run_and_kill(kill, harness, env, tmp_path / f"run{number}.log", db_path)
        where = f"seed={seed} round={number} policy={policy} kill point {kill}: {happened}"
        if after is not None:
            where += f", {after:.3f}s after the trigger"
        print(where)
        if happened.startswith("killed"):
            killed.append(kill.kind)
        context = f"[{where}]\n"
        settle(lambda: harness.sync(conflict_policy=policy, **FAST), db_path, context=context)
        check_converged(journal, state, db_path, list(harness.company_ids), context=context)
    named = {"pull", "post-answer", "patch-answer", "delete-answer"}
    assert named <= set(killed), f"seed={seed}: never killed at {sorted(named - set(killed))}"
