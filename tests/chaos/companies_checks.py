"""The chaos invariants for a store synced with the company-contacts API (seed 004).

Like `checks.py` for Lev, with what this API adds: text (UUID) ids, deletes on both
sides, and creates without idempotency keys. The tests act on both sides behind
contacts-sync's back (plain SQL on the table; `admin_*` calls on the sandbox) and
note each action in a `CompaniesJournal`. The sandbox is a `RecordingState`, which
remembers every create, PATCH and DELETE the API itself applied, whatever happened
to the answer afterwards. After clean syncs `converged_problems` checks:

- converged: each row equals its contact field by field, and each contact of the
  synced companies has a row, unless the store explains the difference (an open
  conflict, a rejected or refused write carrying the value);
- no duplicate create: no POST the API applied beyond one per inserted row (plus one
  per re-creation a policy chose), and no inserted email twice at the API;
- no lost edit: the last local edit of each field is at the API, unless a policy or
  a person decided otherwise (a conflict records it) or another user changed it
  after it arrived;
- no wrong delete: the API deleted only contacts whose row a program deleted, and a
  row is gone only if a program deleted it or the API deleted its contact;
- no lost delete: a row deleted here is deleted at the API, unless an edit there made
  it a conflict;
- integrity: no pending write, no last-synced state without its row.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.apis.companies.sandbox.state import CompaniesState
from sync.deletes import DELETED
from sync.runner import RunResult
from tests.chaos.checks import integrity_problems

# What "equal on both sides" compares: every field of the contact.
COMPARED = ("id", "company_id", "first_name", "last_name", "email", "phone", "designation", "is_primary")
API_OWNED = ("created_at", "updated_at")
# Fields a person or another user may edit; email only on contacts no test row created.
EDITABLE = ("first_name", "last_name", "phone", "designation", "is_primary")
# A run with all of these at zero, and no new conflict record, had nothing to do.
WORK_COUNTS = (
    "conflicts",
    "inserted",
    "local_updated",
    "deleted_local",
    "created",
    "updated",
    "deleted_remote",
    "rejected",
)
CLEAN_SYNCS = 4
# Emails of rows the tests insert start with this: each one is unique, and nobody edits it.
MARKER = "chaos-"
# Local rows that can never be valid, and what contacts-sync must do with them.
INVALID_ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "no-first-name": ({"first_name": None}, "refused"),
    "no-company": ({"company_id": None}, "refused"),
    "bad-email": ({"email": "not-an-email"}, "refused"),
    "company-not-synced": ({"company_id": "00000000-0000-4000-8000-000000000000"}, "refused"),
    "company-as-text": ({"company_id": "abc"}, "refused"),
    "primary-as-text": ({"is_primary": "maybe"}, "refused"),
}
_JSON_COLUMNS = {
    "conflicts": ("base_value", "local_value", "remote_value", "resolution"),
    "writes": ("fields",),
    "sync_state": ("fields",),
    "deletions": ("record",),
}


class RecordingState(CompaniesState):
    """A companies API that remembers what it applied: every POST's contact, PATCH and DELETE.

    Counted where the data changes, so a write applied and then answered with a dropped
    connection or a spoiled body (the `drop-after`, `malformed` and `empty200` faults)
    counts, and one refused (422, a fault before the app) does not.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []

    def create_contact(self, fields: Mapping[str, Any]) -> bytes:
        with self._lock:
            raw = super().create_contact(fields)
            self.created.append(json.loads(raw))
            return raw

    def patch_contact(self, contact_id: str, changes: Mapping[str, Any]) -> bytes:
        with self._lock:
            raw = super().patch_contact(contact_id, changes)
            self.patched.append((contact_id, dict(changes)))
            return raw

    def delete_contact(self, contact_id: str) -> None:
        with self._lock:
            super().delete_contact(contact_id)
            self.deleted.append(contact_id)


@dataclass(frozen=True)
class Insert:
    step: int
    local_id: int
    email: str  # unique: the marker of this row
    values: dict[str, Any]
    expect: str  # created | refused (locally, before any request)


UNKNOWN = object()


@dataclass(frozen=True)
class Edit:
    step: int
    key: int | str  # local_id for a local edit, the contact id for a remote one
    field: str
    value: Any
    # For a local edit made between syncs: the field's last-synced value at that moment.
    agreed: Any = UNKNOWN


@dataclass
class CompaniesJournal:
    inserts: list[Insert] = field(default_factory=list)
    local_edits: list[Edit] = field(default_factory=list)
    remote_edits: list[Edit] = field(default_factory=list)
    # Rows another program deleted: local_id -> the contact id the row held (None: never synced).
    rows_deleted: dict[int, str | None] = field(default_factory=dict)
    remote_deleted: set[str] = field(default_factory=set)
    remote_created: dict[str, str] = field(default_factory=dict)  # contact id -> email
    # Rows and contacts there were after the first sync: each must still be there, or be
    # explained by a deletion.
    first_rows: dict[int, str] = field(default_factory=dict)
    steps: int = 0

    def tick(self) -> int:
        self.steps += 1
        return self.steps


# --- reading the store as another program would ------------------------------------------


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_tables(db_path: Path | str) -> dict[str, list[dict[str, Any]]]:
    """Every table of the SQLite store, rows in rowid order, JSON columns decoded."""
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        names = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        tables = {
            name: [dict(r) for r in db.execute(f'SELECT * FROM "{name}" ORDER BY rowid')] for name in names
        }
    finally:
        db.close()
    for name, columns in _JSON_COLUMNS.items():
        for row in tables.get(name, []):
            for column in columns:
                row[column] = _json(row[column])
    for row in tables.get("writes", []):
        row["sent"] = _json(row["body"])
    for row in tables.get("contacts", []):
        if isinstance(row["is_primary"], int):
            row["is_primary"] = bool(row["is_primary"])
    return tables


# --- values as the API sees them ----------------------------------------------------------


def wire(name: str, value: Any) -> Any:
    """A value as it compares on the wire: is_primary null is false; an email's domain has no case."""
    if name == "is_primary":
        return bool(value) if value in (None, 0, 1, True, False) else value
    if name == "email" and isinstance(value, str) and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"
    return value


def same(name: str, a: Any, b: Any) -> bool:
    return bool(wire(name, a) == wire(name, b))


# --- syncing until quiet ----------------------------------------------------------------


def conflict_records(db_path: Path | str) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute("SELECT count(*) FROM conflicts").fetchone()[0])
    finally:
        db.close()


def settle(sync: Callable[[], RunResult], db_path: Path | str, *, context: str = "") -> list[RunResult]:
    """Run clean syncs until one has nothing to do (no work counted, no new conflict recorded);
    each must succeed."""
    results: list[RunResult] = []
    for _ in range(CLEAN_SYNCS):
        before = conflict_records(db_path)
        result = sync()
        results.append(result)
        assert result.outcome in ("ok", "attention"), f"{context}a clean sync failed: {result.error}"
        quiet = all(result.counts.get(name, 0) == 0 for name in WORK_COUNTS)
        if quiet and conflict_records(db_path) == before:
            return results
    work = [{k: r.counts[k] for k in WORK_COUNTS if r.counts.get(k)} for r in results]
    raise AssertionError(f"{context}{CLEAN_SYNCS} clean syncs in a row still had work to do: {work}")


# --- the invariants ---------------------------------------------------------------------


def _refused_bodies(writes: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    bodies: dict[int, list[dict[str, Any]]] = {}
    for write in writes:
        if write["status"] in ("rejected", "refused") and isinstance(write["sent"], dict):
            bodies.setdefault(write["local_id"], []).append(write["sent"])
    return bodies


def duplicate_problems(journal: CompaniesJournal, state: RecordingState, db_path: Path | str) -> list[str]:
    """Creates the API applied more often than rows asked for them, checkable after any run."""
    tables = load_tables(db_path)
    rows = {row["local_id"]: row for row in tables["contacts"]}
    # A row whose contact the API deleted may be created again (local-wins, or a person's
    # choice): once per such deletion.
    recreations = Counter(
        c["local_id"] for c in tables["conflicts"] if c["field"] == DELETED and c["local_value"] == "kept"
    )
    allowed: Counter[str] = Counter()
    for insert in journal.inserts:
        allowed[insert.email.casefold()] += 1
    for local_id, times in recreations.items():
        email = rows[local_id]["email"] if local_id in rows else None
        email = email or next((i.email for i in journal.inserts if i.local_id == local_id), None)
        for record in tables["deletions"]:
            if record["local_id"] == local_id and isinstance(record["record"], dict):
                email = email or record["record"].get("email")
        if isinstance(email, str):
            allowed[email.casefold()] += times
    made = Counter(str(c["email"]).casefold() for c in state.created)
    problems = [
        f"POST /contacts applied {n} time(s) for email {email!r}, {allowed[email]} allowed"
        for email, n in sorted(made.items())
        if n > allowed[email]
    ]
    listed = Counter(str(c["email"]).casefold() for c in state.all_contacts())
    problems += [
        f"inserted email {email!r} is held by {n} contacts at the API, {allowed[email]} rows asked for it"
        for email, n in sorted(listed.items())
        if email.startswith(MARKER) and n > allowed[email]
    ]
    return problems


def converged_problems(
    journal: CompaniesJournal, state: RecordingState, db_path: Path | str, company_ids: list[str]
) -> list[str]:
    """Every way the two sides disagree that neither the store nor the journal explains."""
    tables = load_tables(db_path)
    remote = {c["id"]: c for company in company_ids for c in state.all_contacts(company)}
    rows = {row["local_id"]: row for row in tables["contacts"]}
    conflicts = tables["conflicts"]
    open_conflicts = [c for c in conflicts if c["status"] == "open"]
    held = {(c["local_id"], c["field"]) for c in open_conflicts}
    # An edit against a deletion, waiting for a person: the row is kept (deleted at the API),
    # or the contact is kept (the row deleted here).
    held_rows = {
        c["local_id"] for c in open_conflicts if c["field"] == DELETED and c["local_value"] == "kept"
    }
    held_contacts = {
        c["contact_id"] for c in open_conflicts if c["field"] == DELETED and c["local_value"] == "deleted"
    }
    problems = integrity_problems(tables, pending_allowed=False, deleted=held_contacts)
    refused = _refused_bodies(tables["writes"])
    removed_rows = {d["local_id"]: d for d in tables["deletions"] if d["where"] == "table"}

    def explained(local_id: int, name: str, local_value: Any) -> bool:
        if (local_id, name) in held:
            return True
        return any(name in body and same(name, body[name], local_value) for body in refused.get(local_id, []))

    # 1. Converged: every row equals its contact, and every contact has a row.
    for local_id, row in rows.items():
        contact_id = row["id"]
        insert = next((i for i in journal.inserts if i.local_id == local_id), None)
        if contact_id is None:
            if insert is None or insert.expect == "created":
                problems.append(f"row local_id={local_id} has no id after clean syncs: never created")
            continue
        contact = remote.get(contact_id)
        if contact is None:
            if local_id not in held_rows:
                problems.append(f"row local_id={local_id} holds id {contact_id}, which the API does not have")
            continue
        for name in COMPARED + API_OWNED:
            mine, theirs = row[name], contact[name]
            if same(name, mine, theirs) or explained(local_id, name, mine):
                continue
            problems.append(
                f"contact {contact_id} (local_id {local_id}): {name} local={mine!r} remote={theirs!r}"
            )
    local_ids = {row["id"] for row in rows.values()}
    problems += [
        f"contact {contact_id} ({contact['email']}) has no row"
        for contact_id, contact in remote.items()
        if contact_id not in local_ids and contact_id not in held_contacts
    ]

    # 2. No duplicate create, and each valid inserted row was created, and only it.
    problems += duplicate_problems(journal, state, db_path)
    for insert in journal.inserts:
        row = rows.get(insert.local_id)
        if row is None:
            continue  # deleted: checked in 3
        if insert.expect != "created":
            statuses = {w["status"] for w in tables["writes"] if w["local_id"] == insert.local_id}
            if row["id"] is not None or insert.expect not in statuses:
                problems.append(f"invalid row {insert.email}: id {row['id']}, writes {statuses}")
            continue
        if row["id"] in remote and not same("email", remote[row["id"]]["email"], insert.email):
            problems.append(f"inserted row {insert.email} is linked to {remote[row['id']]['email']}")

    # 3. No wrong delete: the API deleted only contacts whose row was deleted here; a row is
    # gone only if a program deleted it or the API deleted its contact.
    deleted_here = {cid for cid in journal.rows_deleted.values() if cid is not None}
    problems += [
        f"the API deleted contact {cid} through DELETE, but no row of it was deleted"
        for cid in state.deleted
        if cid not in deleted_here
    ]
    problems += [
        f"row local_id={local_id} was removed from the table as deleted at the API, but contact "
        f"{record['contact_id']} was never deleted there"
        for local_id, record in removed_rows.items()
        if record["contact_id"] not in journal.remote_deleted
    ]
    # A row deleted here is deleted at the API, unless a policy or a person kept the contact
    # (an edit there against the delete here leaves a conflict record either way).
    kept = {c["contact_id"] for c in conflicts if c["field"] == DELETED and c["local_value"] == "deleted"}
    for local_id, cid in sorted(journal.rows_deleted.items()):
        if cid is not None and cid in remote and cid not in kept:
            problems.append(f"row local_id={local_id} was deleted here; contact {cid} is still at the API")
        email = next((i.email for i in journal.inserts if i.local_id == local_id), None)
        if cid is None and email is not None:
            made = [c["id"] for c in remote.values() if same("email", c["email"], email)]
            if made:
                problems.append(f"row {email} was deleted here before it was created; the API holds {made}")
    expected_rows = {**journal.first_rows, **{i.local_id: i.email for i in journal.inserts}}
    for local_id in sorted(expected_rows):
        if local_id in rows or local_id in journal.rows_deleted or local_id in removed_rows:
            continue
        problems.append(f"row local_id={local_id} ({expected_rows[local_id]}) is gone, and nobody deleted it")

    # 4. No local edit was lost.
    last: dict[tuple[int, str], Edit] = {}
    for edit in journal.local_edits:
        assert isinstance(edit.key, int)
        last[(edit.key, edit.field)] = edit  # an earlier edit of the same field is superseded
    for (local_id, name), edit in sorted(last.items()):
        row = rows.get(local_id)
        if row is None:
            if local_id in journal.rows_deleted or local_id in removed_rows:
                continue  # the row went with its edits, by a program's or the API's deletion
            problems.append(f"local edit {edit}: the row is gone")
            continue
        contact = remote.get(row["id"])
        if contact is None:
            if local_id not in held_rows and not explained(local_id, name, edit.value):
                problems.append(f"local edit {edit}: the row has no contact at the API")
            continue
        if same(name, contact[name], edit.value) or explained(local_id, name, edit.value):
            continue
        if edit.agreed is not UNKNOWN and same(name, edit.agreed, edit.value):
            continue  # changed and changed back: no local change, the other side's wins
        if any(
            c["local_id"] == local_id
            and c["field"] == name
            and c["winner"] != "local"
            and same(name, c["local_value"], edit.value)
            for c in conflicts
        ):
            continue  # recorded with our value; the policy or a person kept the API's
        overwritten_later = any(
            r.key == contact["id"] and r.field == name and r.step > edit.step for r in journal.remote_edits
        )
        reached = any(
            cid == contact["id"] and name in changes and same(name, changes[name], edit.value)
            for cid, changes in state.patched
        ) or any(c["id"] == contact["id"] and same(name, c[name], edit.value) for c in state.created)
        if overwritten_later and reached:
            continue  # it reached the API, and another user changed it afterwards
        problems.append(
            f"local edit lost: local_id {local_id} (contact {contact['id']}) {name}={edit.value!r} "
            f"(step {edit.step}); remote has {contact[name]!r}, local {row[name]!r}"
        )
    return problems


def check_converged(
    journal: CompaniesJournal,
    state: RecordingState,
    db_path: Path | str,
    company_ids: list[str],
    *,
    context: str = "",
) -> None:
    problems = converged_problems(journal, state, db_path, company_ids)
    shown = "\n  ".join(problems[:30])
    assert not problems, f"{context}{len(problems)} problem(s) after clean syncs:\n  {shown}"
