"""The real `contacts-sync sync` (api sessions) killed with SIGKILL at points of a run, then run cleanly.

Per seed: one sessions sandbox of 1,500 contacts (two chunks of the one list
answer) and one SQLite store. Each round edits both sides at random (inserts,
some of an email the API already has or one it must refuse; edits and deletes
of existing rows, which this API cannot take; other users' edits, creates,
hides and deletes), starts `python -m sync.cli sync`, kills it at one point,
runs clean syncs in-process until one has nothing to do, and checks
`checks.sessions_converged_problems`: 0 duplicates, 0 lost rows. The kill points:

- list: mid-stream, once a chunk of the list is committed and the rest of the answer unread;
- create-applied: after create N was applied by the API but before its answer arrived;
- create-retry: after create N's answer was lost (drop-after), during the retry's backoff;
- push: while the creates go out, after the API has seen N of them;
- random: at a seeded delay after the first request, spread over the whole run.

The seed, round and kill point are printed and named in every assertion message.
CONTACTS_SYNC_SOAK=1 runs six seeds with every kind and five random kill points each.
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

from sync.apis.sessions.fields import WIRE_NAMES
from sync.apis.sessions.sandbox.contacts import CONTACT_TYPES
from sync.apis.sessions.sandbox.server import SessionsSandboxServer
from sync.apis.sessions.sandbox.testing import running_sessions_sandbox
from tests.chaos.checks import (
    SESSIONS_MARKER_DOMAIN,
    SOAK,
    Edit,
    SessionsInsert,
    SessionsJournal,
    check_sessions_converged,
    load_sessions_tables,
    settle,
)
from tests.e2e.test_sessions_sync import SessionsHarness

pytestmark = pytest.mark.slow

SEEDS = tuple(range(1, 7)) if SOAK else (1, 2)
KINDS = ("list", "create-applied", "create-retry", "push")
RANDOM_KILLS = 5 if SOAK else 1
CONTACTS = 1500  # two chunks of the list answer (1,000 contacts each)
RUN_SPAN_SECONDS = 1.0  # about how long a killed run takes with LATENCY_MS per request
LATENCY_MS = 20
POLICIES = ("remote-wins", "local-wins", "manual")
INSERTS = 5  # valid new rows per round, so a push has several creates to kill between
MAX_UNLISTED = 4  # hidden now plus deleted: below the safety stop's floor of five per walk


@dataclass(frozen=True)
class KillPoint:
    kind: str  # list | create-applied | create-retry | push | random
    number: int = 0  # the create to kill at
    delay: float = 0.0  # seconds after the trigger
    faults: str = ""

    def __str__(self) -> str:
        return f"{self.kind}(n={self.number}, delay={self.delay:.3f}s, faults={self.faults!r})"


def kill_points(seed: int) -> list[KillPoint]:
    """The seed's kill points: every kind under soak, else two kinds (rotating) and a random one."""
    rng = random.Random(f"sessions-kill-points-{seed}")
    applied, retried, pushed = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, INSERTS)
    fixed = [
        KillPoint("list", 1, rng.uniform(0, 0.05)),
        KillPoint("create-applied", applied, rng.uniform(0, 0.3), f"slow=3000@{applied}/POST"),
        KillPoint("create-retry", retried, rng.uniform(0, 0.5), f"drop-after@{retried}/POST"),
        KillPoint("push", pushed, rng.uniform(0, 0.05)),
    ]
    if SOAK:
        strata, first = RANDOM_KILLS, 0
    else:
        start = 2 * SEEDS.index(seed)
        fixed = [fixed[start % len(fixed)], fixed[(start + 1) % len(fixed)]]
        strata, first = RANDOM_KILLS * len(SEEDS), SEEDS.index(seed) * RANDOM_KILLS
    # Stratified: kill j lands in the j-th slice of the run, at a seeded place inside it.
    randoms = [
        KillPoint("random", j, (j + rng.random()) / strata * RUN_SPAN_SECONDS)
        for j in range(first, first + RANDOM_KILLS)
    ]
    return fixed + randoms


class Round:
    """Random edits on both sides before one killed run, noted in the journal."""

    def __init__(self, harness: SessionsHarness, journal: SessionsJournal, rng: random.Random) -> None:
        self.harness = harness
        self.journal = journal
        self.rng = rng

    @property
    def state(self) -> Any:
        return self.harness.sandbox.state

    def email(self, kind: str) -> str:
        return f"{kind}-{self.journal.tick():04d}@{SESSIONS_MARKER_DOMAIN}"

    def scramble(self, number: int) -> None:
        rng = self.rng
        for _ in range(INSERTS):
            title = rng.choice([None, "Kill Title", "Ünïcode"])
            self.insert({"full_name": f"Kill {number}", "type": "client", "title": title}, "created")
        contacts = [c for c in self.state.all_contacts() if not c["hidden"]]
        taken = rng.choice([c for c in contacts if SESSIONS_MARKER_DOMAIN not in c["email"]])
        self.insert({"full_name": "Twin", "type": "vendor", "email": taken["email"]}, "existing")
        self.insert({"full_name": "Bad", "type": "client", "email": "not-an-email"}, "refused")
        rows = [
            r
            for r in load_sessions_tables(self.harness.database_url.removeprefix("sqlite:///"))["contacts"]
            if r["id"] is not None and r["is_listed"] and r["local_id"] not in self.inserted_rows()
        ]
        edited, deleted = rows[: len(rows) // 2], rows[len(rows) // 2 :]
        for row in rng.sample(edited, 3):
            name, value = self.edit_value(f"L{number}")
            if row[name] != value:
                self.harness.table.update(row["local_id"], **{name: value})
                self.journal.local_edits.append(Edit(self.journal.tick(), row["local_id"], name, value))
        gone = rng.choice(deleted)
        self.harness.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": gone["local_id"]})
        self.journal.local_deletes.add(gone["id"])
        self.journal.delete_refusals.add(gone["id"])
        for contact in rng.sample(contacts, 3):
            name, value = self.edit_value(f"R{number}")
            if self.state.admin_edit(contact["id"], {WIRE_NAMES[name]: value}) != contact:
                self.journal.remote_edits.append(Edit(self.journal.tick(), contact["id"], name, value))
        self.state.admin_create({"fullName": "Other", "email": self.email("other"), "type": "partner"})
        hidden = [c["id"] for c in self.state.all_contacts() if c["hidden"]]
        if hidden and rng.random() < 0.4:
            self.state.set_hidden(rng.choice(hidden), hidden=False)
        elif len(hidden) + len(self.journal.remote_deletes) < MAX_UNLISTED:
            # Not the contact whose row was deleted locally: the checks expect its row back from
            # the list (test_sessions_convergence.py covers a deleted row whose contact leaves).
            contact = rng.choice([c for c in contacts if c["id"] != gone["id"]])
            contact_id = contact["id"]
            # A deleted contact frees its email: a row inserted with it would then be created.
            if rng.random() < 0.3 and not self.inserted_email(contact["email"]):
                self.state.delete(contact_id)
                self.journal.remote_deletes.add(contact_id)
            else:
                self.state.set_hidden(contact_id, hidden=True)

    def inserted_email(self, email: str) -> bool:
        return any(i.email.casefold() == email.casefold() for i in self.journal.inserts)

    def inserted_rows(self) -> set[int]:
        return {insert.local_id for insert in self.journal.inserts}

    def insert(self, values: dict[str, Any], expect: str) -> None:
        values = {"email": self.email("kill"), **values}
        local_id = self.harness.table.insert(**values)
        self.journal.inserts.append(
            SessionsInsert(self.journal.tick(), local_id, values["email"], values, expect)
        )

    def edit_value(self, text: str) -> tuple[str, Any]:
        kind = self.rng.choice(["text", "text", "clear", "type", "name"])
        if kind == "text":
            return self.rng.choice(
                ("title", "company", "department", "phone")
            ), f"{text}-{self.rng.randint(0, 999)}"
        if kind == "clear":
            return self.rng.choice(("title", "company", "department", "mention_name")), None
        if kind == "type":
            return "type", self.rng.choice(CONTACT_TYPES)
        return "full_name", f"Name {text}"


def cli_environment(harness: SessionsHarness, policy: str, kill: KillPoint) -> dict[str, str]:
    return {
        **os.environ,
        **harness.environ,
        "CONTACTS_SYNC_CONFLICT_POLICY": policy,
        # The retry's backoff is long enough to kill inside it.
        "CONTACTS_SYNC_RETRY_BASE_DELAY": "1.0" if kill.kind == "create-retry" else "0.05",
        "CONTACTS_SYNC_RETRY_MAX_DELAY": "1.0",
    }


def api_requests(sandbox: SessionsSandboxServer, since: int) -> list[Any]:
    return [e for e in sandbox.state.request_log()[since:] if e.endpoint is not None]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    """Poll until `condition`; False when the process ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the trigger of the kill point never came"
        time.sleep(0.002)
    return True


class ListCommitted:
    """True once the run has committed a chunk of the list with the rest of the answer unread."""

    def __init__(self, db_path: Path) -> None:
        self.db = sqlite3.connect(db_path, timeout=0, isolation_level=None)

    def __call__(self) -> bool:
        try:
            found = self.db.execute("SELECT value FROM checkpoints WHERE name = 'pull.cursor'").fetchone()
        except sqlite3.OperationalError:  # busy: the run holds the write lock this instant
            return False
        return found is not None and found[0] is not None

    def close(self) -> None:
        self.db.close()


def trigger(kill: KillPoint, sandbox: SessionsSandboxServer, since: int, db_path: Path) -> Callable[[], bool]:
    def creates(fault: str = "") -> int:
        return len(
            [e for e in api_requests(sandbox, since) if e.method == "POST" and fault in (e.fault or "")]
        )

    if kill.kind == "list":
        return ListCommitted(db_path)
    if kill.kind in ("create-applied", "push"):
        return lambda: creates() >= kill.number
    if kill.kind == "create-retry":
        return lambda: creates("drop-after") >= 1
    return lambda: bool(api_requests(sandbox, since))


def run_and_kill(
    kill: KillPoint, harness: SessionsHarness, env: dict[str, str], log_path: Path, db_path: Path
) -> tuple[str, float | None]:
    """Start the CLI, kill it at the point; what happened, and when after the trigger."""
    sandbox = harness.sandbox
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
                    if isinstance(watch, ListCommitted):
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
    requests = f"{len(api_requests(sandbox, since))} API request(s) seen"
    if process.returncode == -signal.SIGKILL:
        return f"killed ({requests})", time.monotonic() - triggered
    return f"finished (exit {process.returncode}) before the kill ({requests})", None


@pytest.fixture(params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def seed(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def harness(tmp_path: Path, seed: int) -> Iterator[SessionsHarness]:
    with running_sessions_sandbox(contacts=CONTACTS, seed=seed) as sandbox:
        synced = SessionsHarness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
        try:
            yield synced
        finally:
            synced.close()


def test_sigkill_of_a_sessions_sync_loses_no_row_and_creates_nothing_twice(
    seed: int, harness: SessionsHarness, tmp_path: Path
) -> None:
    """After a SIGKILL at any point of a sessions sync, clean syncs converge: 0 duplicates, 0 lost rows."""
    db_path = tmp_path / "contacts.db"
    rng = random.Random(seed)
    policy = POLICIES[seed % len(POLICIES)]
    assert harness.sync(conflict_policy=policy).outcome == "ok"
    journal = SessionsJournal()
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
        settle(lambda: harness.sync(conflict_policy=policy), context=context)
        check_sessions_converged(journal, harness.sandbox.state, db_path, context=context)
    assert killed, f"seed={seed}: every run finished before its kill point, so nothing was tested"
