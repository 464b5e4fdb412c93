"""The real `contacts-sync sync` process killed with SIGKILL at many points of a run, then run cleanly.

Per seed: one sandbox of 450 contacts (three list pages) and one SQLite store.
Each round edits both sides at random, starts `python -m sync.cli sync`, kills
it at one point, runs clean syncs in-process until one has nothing to do, and
checks the invariants of `checks.converged_problems`. The kill points:

- pull: while page N of the list is answered slowly (pages before it are committed);
- write-answer: after write N was applied by the API but before its answer arrives;
- write-retry: after write N's connection was dropped, during the retry's backoff;
- commit: inside the run's N-th write transaction, seen from this process as the store's
  write lock being taken (a `BEGIN IMMEDIATE` of ours that finds it busy);
- random: at a seeded delay after the first request, spread over the whole run.

The seed, round and kill point are printed and named in every assertion message.
CONTACTS_SYNC_SOAK=1 runs ten seeds with every kind, three commit and ten random kill points each.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from tests.chaos.checks import (
    INVALID_ROWS,
    MARKER_FIELD,
    PHONE_RAWS,
    SOAK,
    Edit,
    Insert,
    Journal,
    check_converged,
    load_tables,
    settle,
)
from tests.conftest import Harness

pytestmark = pytest.mark.slow

SEEDS = tuple(range(1, 11)) if SOAK else (1, 2, 3)
# Random kill points per seed; by default each seed takes its own strata of the run.
RANDOM_KILLS = 10 if SOAK else 1
COMMIT_KILLS = 3 if SOAK else 1
CONTACTS = 450  # three pages of 200
RUN_SPAN_SECONDS = 0.55  # about how long a killed run takes with LATENCY_MS per request
LATENCY_MS = 20
POLICIES = ("remote-wins", "local-wins", "manual")
TEXT_EDITS = ("title", "city", "department", "zip", "address2")


@dataclass(frozen=True)
class KillPoint:
    kind: str  # pull | write-answer | write-retry | commit | random
    number: int = 0  # the page or write to kill at
    delay: float = 0.0  # seconds after the trigger
    faults: str = ""

    def __str__(self) -> str:
        return f"{self.kind}(n={self.number}, delay={self.delay:.3f}s, faults={self.faults!r})"


def kill_points(seed: int) -> list[KillPoint]:
    """The seed's kill points: all of them under soak, else one fixed kind (rotating), a commit, a random."""
    rng = random.Random(f"kill-points-{seed}")
    page, write, retried = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)
    fixed = [
        KillPoint("pull", page, rng.uniform(0, 0.3), f"slow=1500@{page}/GET"),
        KillPoint("write-answer", write, rng.uniform(0, 0.3), "slow=1500@p1/WRITE"),
        KillPoint("write-retry", retried, rng.uniform(0, 0.4), f"drop-after@{retried}/WRITE"),
    ]
    if SOAK:
        strata, first = RANDOM_KILLS, 0
    else:
        fixed = [fixed[seed % len(fixed)]]
        strata, first = RANDOM_KILLS * len(SEEDS), SEEDS.index(seed) * RANDOM_KILLS
    # The run's write transactions: the lock holder, the run record, pages, the plan, each answer.
    commits = [KillPoint("commit", rng.randint(1, 6)) for _ in range(COMMIT_KILLS)]
    # Stratified: kill j lands in the j-th slice of the run, at a seeded place inside it.
    randoms = [
        KillPoint("random", j, (j + rng.random()) / strata * RUN_SPAN_SECONDS)
        for j in range(first, first + RANDOM_KILLS)
    ]
    return fixed + commits + randoms


def cli_environment(
    sandbox: SandboxServer, database_url: str, policy: str, kill: KillPoint
) -> dict[str, str]:
    return {
        **os.environ,
        "CONTACTS_SYNC_API_URL": sandbox.base_url,
        "CONTACTS_SYNC_API_TOKEN": sandbox.token,
        "CONTACTS_SYNC_DATABASE_URL": database_url,
        "CONTACTS_SYNC_CONFLICT_POLICY": policy,
        "CONTACTS_SYNC_TIMEOUT_SECONDS": "10",
        # The retry's backoff is long enough to kill inside it.
        "CONTACTS_SYNC_RETRY_BASE_DELAY": "1.0" if kill.kind == "write-retry" else "0.05",
        "CONTACTS_SYNC_RETRY_MAX_DELAY": "1.0",
    }


class Round:
    """Random edits on both sides before one killed run, noted in the journal."""

    def __init__(self, harness: Harness, journal: Journal, db_path: Path, rng: random.Random) -> None:
        self.harness = harness
        self.journal = journal
        self.db_path = db_path
        self.rng = rng

    @property
    def state(self) -> Any:
        return self.harness.sandbox.state

    def scramble(self, round_number: int) -> None:
        rng = self.rng
        for n in range(3):
            values: dict[str, Any] = {
                "contact_type": rng.choice(["lender_contact", "sponsor"]),
                "company_id": rng.randint(1, 5),
                "title": rng.choice([None, "Kill Title", "Ünïcode"]),
            }
            if rng.random() < 0.5:
                values["phones"] = [{"raw": rng.choice(PHONE_RAWS), "type": "office"}]
            self.insert(values, f"Kill-{round_number}-{n}", "created")
        broken, expect = INVALID_ROWS[sorted(INVALID_ROWS)[round_number % len(INVALID_ROWS)]]
        self.insert(
            {"contact_type": "sponsor", "company_id": 1, **broken}, f"Kill-{round_number}-bad", expect
        )
        rows = [r for r in load_tables(self.db_path)["contacts"] if r["id"] is not None and r["is_connected"]]
        for row in rng.sample(rows, 4):
            name, value = self.edit_value(f"L{round_number}")
            if row[name] != value:
                self.harness.table.update(row["local_id"], **{name: value})
                self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], name, value))
        contacts = self.state.all_contacts()
        for contact in rng.sample(contacts, 3):
            name, value = self.edit_value(f"R{round_number}")
            if name == "phones" and value is None:
                value = []
            if self.state.admin_edit(contact["id"], {name: value}) != contact:
                self.journal.remote_edits.append(Edit(self.journal.tick(), contact["id"], name, value))
        if len(self.journal.disconnected) < 3:
            contact_id = rng.choice([c["id"] for c in contacts if c["is_connected"]])
            self.state.disconnect(contact_id)
            self.journal.disconnected.add(contact_id)
        elif self.journal.disconnected:
            contact_id = rng.choice(sorted(self.journal.disconnected))
            self.state.connect(contact_id)
            self.journal.disconnected.discard(contact_id)

    def insert(self, values: dict[str, Any], marker: str, expect: str) -> None:
        values = {**values, MARKER_FIELD: marker}
        local_id = self.harness.table.insert(**values)
        self.journal.inserts.append(Insert(self.journal.tick(), local_id, marker, values, expect))

    def edit_value(self, text: str) -> tuple[str, Any]:
        kind = self.rng.choice(["text", "text", "clear", "phones", "is_primary"])
        if kind == "text":
            return self.rng.choice(TEXT_EDITS), f"{text}-{self.rng.randint(0, 999)}"
        if kind == "clear":
            return self.rng.choice(TEXT_EDITS), None
        if kind == "phones":
            return "phones", [{"raw": self.rng.choice(PHONE_RAWS), "type": "mobile"}]
        return "is_primary", self.rng.random() < 0.5


def api_requests(sandbox: SandboxServer, since: int) -> list[Any]:
    return [e for e in sandbox.state.request_log()[since:] if e.endpoint is not None]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    """Poll until `condition`; False when the process ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the trigger of the kill point never came"
        time.sleep(0.003)
    return True


def trigger(kill: KillPoint, sandbox: SandboxServer, since: int, db_path: Path) -> Callable[[], bool]:
    def pages() -> int:
        return len([e for e in api_requests(sandbox, since) if e.endpoint == "GET /contacts"])

    def writes(fault: str = "") -> int:
        return len(
            [
                e
                for e in api_requests(sandbox, since)
                if e.method in ("POST", "PATCH") and fault in (e.fault or "")
            ]
        )

    if kill.kind == "pull":
        return lambda: pages() >= kill.number
    if kill.kind == "write-answer":
        return lambda: writes() >= kill.number
    if kill.kind == "write-retry":
        return lambda: writes("drop-after") >= 1
    if kill.kind == "commit":
        return WriteLockWatch(db_path, kill.number)
    return lambda: bool(api_requests(sandbox, since))


class WriteLockWatch:
    """True once another process has been seen inside its N-th write transaction on the store."""

    def __init__(self, db_path: Path, number: int) -> None:
        self.number = number
        self.seen = 0
        self.was_busy = False
        self.db = sqlite3.connect(db_path, timeout=0, isolation_level=None)

    def __call__(self) -> bool:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
            self.was_busy = False
        except sqlite3.OperationalError:  # database is locked: a write transaction is open
            self.seen += not self.was_busy
            self.was_busy = True
        return self.seen >= self.number

    def close(self) -> None:
        self.db.close()


def run_and_kill(
    kill: KillPoint, sandbox: SandboxServer, env: dict[str, str], log_path: Path, db_path: Path
) -> tuple[str, float | None]:
    """Start the CLI, kill it at the point; what happened, and when after the first request."""
    since = len(sandbox.state.request_log())
    sandbox.state.set_faults(kill.faults)
    sandbox.state.latency_ms = LATENCY_MS
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sync.cli", "sync"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                watch = trigger(kill, sandbox, since, db_path)
                try:
                    if not wait_for(watch, process):
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
        sandbox.state.set_faults("")
        sandbox.state.latency_ms = 0
    first = api_requests(sandbox, since)
    requests = f"{len(first)} API request(s) seen"
    if process.returncode == -signal.SIGKILL:
        return f"killed ({requests})", time.monotonic() - triggered
    return f"finished (exit {process.returncode}) before the kill ({requests})", None


@pytest.fixture(params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def seed(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def store_and_sandbox(tmp_path: Path, seed: int) -> Iterator[tuple[Harness, Path]]:
    db_path = tmp_path / "contacts.db"
    with running_sandbox(contacts=CONTACTS, seed=seed) as sandbox:
        harness = Harness(sandbox, f"sqlite:///{db_path}")
        try:
            yield harness, db_path
        finally:
            harness.close()


def test_sigkill_anywhere_in_a_run_loses_nothing_and_applies_nothing_twice(
    seed: int, store_and_sandbox: tuple[Harness, Path], tmp_path: Path
) -> None:
    """After a SIGKILL at any point of a sync, clean syncs converge with no lost edit and no duplicate."""
    harness, db_path = store_and_sandbox
    rng = random.Random(seed)
    policy = POLICIES[seed % len(POLICIES)]
    assert harness.sync(conflict_policy=policy).outcome == "ok"
    journal = Journal()
    killed = 0
    for number, kill in enumerate(kill_points(seed)):
        Round(harness, journal, db_path, rng).scramble(number)
        env = cli_environment(harness.sandbox, harness.database_url, policy, kill)
        happened, after = run_and_kill(kill, harness.sandbox, env, tmp_path / f"run{number}.log", db_path)
        where = f"seed={seed} round={number} policy={policy} kill point {kill}: {happened}"
        if after is not None:
            where += f", {after:.3f}s after the trigger"
        print(where)
        killed += happened.startswith("killed")
        context = f"[{where}]\n"
        settle(lambda: harness.sync(conflict_policy=policy), context=context)
        check_converged(journal, harness.sandbox.state, db_path, context=context)
    assert killed, f"seed={seed}: every run finished before its kill point, so nothing was tested"
