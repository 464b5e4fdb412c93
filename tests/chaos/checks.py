"""What the chaos tests did to both sides, and the invariants checked against it after clean syncs.

The tests act on both sides behind contacts-sync's back (plain SQL on the local
table, admin calls on the sandbox) and note each action in a `Journal`. After
the faults are cleared and clean syncs have run, `converged_problems` compares
the sides field by field and accepts a difference only when the store itself
explains it (an open conflict, a rejected or refused write carrying the value)
or when the API cannot show it (a contact it does not list).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.apis.lev.fields import PATCHABLE_FIELDS
from sync.apis.lev.sandbox.state import SandboxState
from sync.runner import RunResult

SOAK = os.environ.get("CONTACTS_SYNC_SOAK") == "1"

# What "equal on both sides" compares: the writable fields plus the id.
COMPARED = ("id", *sorted(PATCHABLE_FIELDS))
# Fields the API sets: the row of a contact the list returns follows them.
API_OWNED = ("contact_type", "contact_types", "owner_account_id", "is_connected", "created_at", "updated_at")
# A run with all of these at zero had nothing to do.
WORK_COUNTS = ("inserted", "local_updated", "disconnected", "created", "updated", "conflicts", "rejected")
# Inserted rows carry a unique marker here; nobody edits this field of those rows.
MARKER_FIELD = "last_name"
CLEAN_SYNCS = 3
PHONE_RAWS = ("(212) 555-0142", "+44 20 7946 0958", "646-555-0199 x12", "+49 30 901820", "312 555 0100")
# Local rows that can never be valid, and what contacts-sync must do with them.
INVALID_ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-type": ({"contact_type": "investor"}, "refused"),
    "no-company": ({"company_id": None}, "refused"),
    "bad-email": ({"email": "not-an-email"}, "refused"),
    "bad-phone": ({"phones": [{"raw": "call me maybe"}]}, "refused"),
    "company-as-text": ({"company_id": "abc"}, "refused"),
    "phones-not-json": ({"phones": "not json"}, "refused"),
    "unknown-company": ({"company_id": 999_999}, "rejected"),
}
_JSON_COLUMNS = {
    "contacts": ("phones", "contact_types", "extra"),
    "conflicts": ("base_value", "local_value", "remote_value", "resolution"),
    "writes": ("fields",),
    "sync_state": ("fields",),
}
_APPLIED_FAULTS = ("drop-after", "malformed", "empty200")


@dataclass(frozen=True)
class Insert:
    step: int
    local_id: int
    marker: str
    values: dict[str, Any]
    expect: str  # created | refused (locally, before any request) | rejected (by the API)


UNKNOWN = object()


@dataclass(frozen=True)
class Edit:
    step: int
    key: int  # local_id for a local edit, the contact id for a remote one
    field: str
    value: Any
    # For a local edit made between syncs: the field's last-synced value at that moment.
    agreed: Any = UNKNOWN


@dataclass
class Journal:
    inserts: list[Insert] = field(default_factory=list)
    local_edits: list[Edit] = field(default_factory=list)
    remote_edits: list[Edit] = field(default_factory=list)
    disconnected: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)  # contacts whose local row we deleted
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
    """Every table of the SQLite store, rows in rowid order, JSON columns decoded where they parse."""
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
        for column in ("is_primary", "is_connected"):
            if isinstance(row[column], int):
                row[column] = bool(row[column])
    return tables


def dump_store(db_path: Path | str, *, ignore_checkpoints: tuple[str, ...] = ()) -> dict[str, list[Any]]:
    """A comparable dump of every table except `runs`, leaving out the named checkpoints."""
    tables = load_tables(db_path)
    tables.pop("runs", None)
    tables["checkpoints"] = [
        row for row in tables.get("checkpoints", []) if not row["name"].startswith(ignore_checkpoints)
    ]
    return tables


# --- values as the API sees them --------------------------------------------------------


def wire(name: str, value: Any) -> Any:
    """A field value as it compares on the wire: null text is "", null phones [], phones by raw and type."""
    if name == "phones":
        if value is None:
            return []
        if not isinstance(value, list):
            return ("unreadable", value)
        return [
            (p.get("raw"), p.get("type") or "mobile") if isinstance(p, dict) else ("unreadable", p)
            for p in value
        ]
    if name == "is_primary":
        return bool(value) if value in (None, 0, 1, True, False) else value
    return "" if value is None else value


def same(name: str, a: Any, b: Any) -> bool:
    return bool(wire(name, a) == wire(name, b))


# --- syncing until quiet ----------------------------------------------------------------


def nothing_to_do(result: RunResult) -> bool:
    return result.outcome != "failed" and all(result.counts.get(name, 0) == 0 for name in WORK_COUNTS)


def settle(sync: Callable[[], RunResult], *, context: str = "") -> list[RunResult]:
    """Run clean syncs until one reports nothing to do (at most three); each must succeed."""
    results: list[RunResult] = []
    for _ in range(CLEAN_SYNCS):
        result = sync()
        results.append(result)
        assert result.outcome in ("ok", "attention"), f"{context}a clean sync failed: {result.error}"
        if nothing_to_do(result):
            return results
    work = [{k: r.counts[k] for k in WORK_COUNTS if r.counts.get(k)} for r in results]
    raise AssertionError(f"{context}{CLEAN_SYNCS} clean syncs in a row still had work to do: {work}")


# --- the invariants ---------------------------------------------------------------------


def integrity_problems(
    tables: dict[str, list[dict[str, Any]]],
    *,
    pending_allowed: bool,
    deleted: set[int] | frozenset[int] = frozenset(),
) -> list[str]:
    """Store bookkeeping that must hold after any run, failed or not (pending writes aside).

    `deleted` names contacts whose row another program deleted: their last-synced state may
    point at the missing row until a pull lists them again.
    """
    problems: list[str] = []
    rows = {row["local_id"]: row for row in tables["contacts"]}
    ids = Counter(row["id"] for row in tables["contacts"] if row["id"] is not None)
    problems += [f"{n} contacts rows share id {cid}" for cid, n in ids.items() if n > 1]
    for write in tables["writes"]:
        if not (write["idempotency_key"] or "").strip():
            problems.append(f"write {write['write_id']} has no idempotency_key")
        if write["status"] == "pending" and not pending_allowed:
            problems.append(f"write {write['write_id']} ({write['method']} {write['path']}) is still pending")
    for state in tables["sync_state"]:
        row = rows.get(state["local_id"])
        if row is None and state["contact_id"] in deleted:
            continue
        if row is None:
            problems.append(
                f"sync_state of contact {state['contact_id']} points at missing row {state['local_id']}"
            )
        elif row["id"] != state["contact_id"]:
            problems.append(
                f"sync_state of contact {state['contact_id']} points at local_id {state['local_id']}, "
                f"whose id is {row['id']}"
            )
    return problems


def _refused_bodies(writes: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    bodies: dict[int, list[dict[str, Any]]] = {}
    for write in writes:
        if write["status"] in ("rejected", "refused") and isinstance(write["sent"], dict):
            bodies.setdefault(write["local_id"], []).append(write["sent"])
    return bodies


def _sent_values(state: SandboxState) -> list[tuple[str, dict[str, Any]]]:
    """(target, body) of every write the API applied: target is 'id:<n>' or 'marker:<text>'."""
    sent: list[tuple[str, dict[str, Any]]] = []
    for entry in state.request_log():
        if entry.method not in ("POST", "PATCH"):
            continue
        applied = (entry.status is not None and 200 <= entry.status < 300) or any(
            kind in (entry.fault or "") for kind in _APPLIED_FAULTS
        )
        body = _json(entry.body.decode("utf-8", "replace"))
        if not applied or not isinstance(body, dict):
            continue
        if entry.method == "PATCH":
            sent.append((f"id:{entry.path.rsplit('/', 1)[-1]}", body))
        else:
            sent.append((f"marker:{body.get(MARKER_FIELD)}", body))
    return sent


def converged_problems(journal: Journal, state: SandboxState, db_path: Path | str) -> list[str]:
    """Every way the two sides disagree that neither the store nor the API's limits explain."""
    tables = load_tables(db_path)
    remote = {contact["id"]: contact for contact in state.all_contacts()}
    # A deleted row comes back with the next pull that lists it; an unlisted one cannot.
    gone = {cid for cid in journal.deleted if not remote.get(cid, {}).get("is_connected")}
    problems = integrity_problems(tables, pending_allowed=False, deleted=gone)
    rows = {row["local_id"]: row for row in tables["contacts"]}
    conflicts = tables["conflicts"]
    held = {(c["local_id"], c["field"]) for c in conflicts if c["status"] == "open"}
    refused = _refused_bodies(tables["writes"])
    touched_remotely = {(edit.key, edit.field) for edit in journal.remote_edits}

    def company_of(contact_id: int | None) -> int | None:
        return remote[contact_id]["company_id"] if contact_id in remote else None

    # Contacts someone made primary, by company: the API demotes the others of that company.
    made_primary = {e.key for e in journal.remote_edits if e.field == "is_primary" and e.value}
    made_primary |= {
        rows[e.key]["id"]
        for e in journal.local_edits
        if e.field == "is_primary" and e.value and e.key in rows
    }
    made_primary |= {
        rows[i.local_id]["id"] for i in journal.inserts if i.values.get("is_primary") and i.local_id in rows
    }
    primary_by_company: dict[int | None, set[int]] = {}
    for contact_id in made_primary - {None}:
        primary_by_company.setdefault(company_of(contact_id), set()).add(contact_id)

    def demoted(contact_id: int) -> bool:
        """Another contact of its company was made primary, which demotes this one."""
        return bool(primary_by_company.get(company_of(contact_id), set()) - {contact_id})

    def explained(local_id: int, name: str, local_value: Any) -> bool:
        if (local_id, name) in held:
            return True
        return any(name in body and same(name, body[name], local_value) for body in refused.get(local_id, []))

    # 1. Every contact is equal on both sides, field by field.
    for local_id, row in rows.items():
        contact_id = row["id"]
        if contact_id is None:
            continue
        contact = remote.get(contact_id)
        if contact is None:
            problems.append(f"local_id {local_id} has id {contact_id}, which the API does not have")
            continue
        for name in COMPARED + (API_OWNED if contact["is_connected"] else ()):
            mine, theirs = row[name], contact[name]
            if mine == theirs or explained(local_id, name, mine):
                continue
            if not contact["is_connected"]:
                # The list does not return it: remote edits of it cannot come down.
                if (contact_id, name) in touched_remotely:
                    continue
                if name == "is_primary" and mine and not theirs and demoted(contact_id):
                    continue
            problems.append(
                f"contact {contact_id} (local_id {local_id}, connected={contact['is_connected']}): "
                f"{name} local={mine!r} remote={theirs!r}"
            )
    local_ids = {row["id"] for row in rows.values()}
    problems += [
        f"connected contact {contact_id} has no local row"
        for contact_id, contact in remote.items()
        if contact["is_connected"] and contact_id not in local_ids
    ]

    # 2. No contact was created twice, and each valid inserted row was created once.
    remote_markers = Counter(contact[MARKER_FIELD] for contact in remote.values())
    local_markers = Counter(row[MARKER_FIELD] for row in rows.values())
    for insert in journal.inserts:
        row = rows.get(insert.local_id)
        created = [c for c in remote.values() if c[MARKER_FIELD] == insert.marker]
        if row is None or local_markers[insert.marker] != 1:
            problems.append(f"inserted row {insert.marker}: {local_markers[insert.marker]} local rows")
            continue
        if insert.expect == "created":
            if remote_markers[insert.marker] != 1:
                problems.append(
                    f"inserted row {insert.marker}: created {remote_markers[insert.marker]} times"
                )
            elif row["id"] != created[0]["id"]:
                problems.append(
                    f"inserted row {insert.marker}: local id {row['id']}, remote {created[0]['id']}"
                )
            continue
        if remote_markers[insert.marker]:
            problems.append(
                f"invalid row {insert.marker} reached the API {remote_markers[insert.marker]} times"
            )
        statuses = {w["status"] for w in tables["writes"] if w["local_id"] == insert.local_id}
        if insert.expect not in statuses:
            problems.append(
                f"invalid row {insert.marker}: expected a {insert.expect} write, found {statuses}"
            )

    # 3. No local edit was lost.
    last: dict[tuple[int, str], Edit] = {}
    for edit in journal.local_edits:
        last[(edit.key, edit.field)] = edit  # an earlier edit of the same field is superseded
    sent = _sent_values(state)
    for (local_id, name), edit in sorted(last.items()):
        row = rows.get(local_id)
        contact = remote.get(row["id"]) if row else None
        if row is None or contact is None:
            problems.append(f"local edit {edit}: the row has no remote contact")
            continue
        if same(name, contact[name], edit.value) or explained(local_id, name, edit.value):
            continue
        if name == "is_primary" and edit.value and demoted(contact["id"]):
            continue
        if edit.agreed is not UNKNOWN and same(name, edit.agreed, edit.value):
            # Changed and changed back to the last-synced value: no local change to keep,
            # so by three-way merge the other side's later change wins.
            continue
        if any(
            c["local_id"] == local_id
            and c["field"] == name
            and c["winner"] != "local"
            and same(name, c["local_value"], edit.value)
            for c in conflicts
        ):
            continue  # recorded with our value; the API's value was kept
        overwritten_later = any(
            r.key == contact["id"] and r.field == name and r.step > edit.step for r in journal.remote_edits
        )
        targets = {f"id:{contact['id']}", f"marker:{row[MARKER_FIELD]}"}
        reached = any(
            t in targets and name in body and same(name, body[name], edit.value) for t, body in sent
        ) or any(  # another user set the same value: the sides agreed without a write
            r.key == contact["id"] and r.field == name and same(name, r.value, edit.value)
            for r in journal.remote_edits
        )
        if overwritten_later and reached:
            continue  # it reached the API, and another user changed it afterwards
        problems.append(
            f"local edit lost: local_id {local_id} (contact {contact['id']}) {name}={edit.value!r} "
            f"(step {edit.step}); remote has {contact[name]!r}, local {row[name]!r}"
        )
    return problems


def check_converged(journal: Journal, state: SandboxState, db_path: Path | str, *, context: str = "") -> None:
    problems = converged_problems(journal, state, db_path)
    shown = "\n  ".join(problems[:30])
    assert not problems, f"{context}{len(problems)} problem(s) after clean syncs:\n  {shown}"


# =========================================================================================
# Session contacts (seed 003, `api = "sessions"`): list and create only.
#
# Used by tests/chaos/test_sessions_*.py. The API cannot update or delete, so a local edit
# or delete of an existing row is refused and kept, and a contact that leaves the list is
# flagged (`is_listed` false), never deleted. Emails are unique at the API, so they are the
# marker of an inserted row: `SESSIONS_MARKER_DOMAIN` is used by inserted rows alone.
# =========================================================================================

SESSIONS_MARKER_DOMAIN = "chaos.example"
# How each field of a local row compares with the wire form of its contact.
_SESSIONS_JSON_COLUMNS = ("metadata", "extra")
_SESSIONS_BOOL_COLUMNS = ("is_active", "can_login", "is_listed")


@dataclass(frozen=True)
class SessionsInsert:
    step: int
    local_id: int
    email: str
    values: dict[str, Any]
    # created: a new contact, once; existing: the email is another contact's already (adopted,
    # or rejected while another row holds it or the list hides it); refused (before any
    # request) or rejected (by the API): never at the API.
    expect: str


@dataclass
class SessionsJournal:
    inserts: list[SessionsInsert] = field(default_factory=list)
    local_edits: list[Edit] = field(default_factory=list)  # key: local_id
    remote_edits: list[Edit] = field(default_factory=list)  # key: contact id
    local_deletes: set[int] = field(default_factory=set)  # contacts whose row another program deleted
    # Of those, the ones whose refusal must still be on record (`retry` forgets refusals).
    delete_refusals: set[int] = field(default_factory=set)
    remote_deletes: set[int] = field(default_factory=set)  # contacts deleted at the API for good
    steps: int = 0

    def tick(self) -> int:
        self.steps += 1
        return self.steps


def load_sessions_tables(db_path: Path | str) -> dict[str, list[dict[str, Any]]]:
    """Every table of a sessions SQLite store, JSON and boolean columns decoded."""
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        tables = {
            name: [dict(r) for r in db.execute(f'SELECT * FROM "{name}" ORDER BY rowid')] for name in names
        }
    finally:
        db.close()
    for row in tables.get("contacts", []):
        for column in _SESSIONS_JSON_COLUMNS:
            row[column] = _json(row[column])
        for column in _SESSIONS_BOOL_COLUMNS:
            if isinstance(row[column], int):
                row[column] = bool(row[column])
    for name, columns in _JSON_COLUMNS.items():
        if name != "contacts":
            for row in tables.get(name, []):
                for column in columns:
                    row[column] = _json(row[column])
    for row in tables.get("writes", []):
        row["sent"] = _json(row["body"])
    return tables


def _email_key(email: Any) -> Any:
    return email.strip().casefold() if isinstance(email, str) else email


def sessions_converged_problems(journal: SessionsJournal, state: Any, db_path: Path | str) -> list[str]:
    """Every way a sessions store and its sandbox (`SessionsState`) disagree after clean syncs.

    0 duplicates: each inserted row made at most one contact, and the API applied exactly
    one create per row that asked for a new contact. 0 lost rows: every listed contact has
    its row, every contact that left the list keeps its row (flagged), every inserted row
    holds its contact's id or a write that says why not. Local edits are in the row, or
    in a conflict record when the API changed the same field.
    """
    from sync.apis.sessions.fields import CONTACT_FIELDS, WIRE_NAMES  # only this block needs them

    tables = load_sessions_tables(db_path)
    remote = {c["id"]: c for c in state.all_contacts()}
    listed = {cid for cid, c in remote.items() if not c["hidden"]}
    problems = integrity_problems(tables, pending_allowed=False, deleted=journal.local_deletes - listed)
    rows = {row["local_id"]: row for row in tables["contacts"]}
    by_id: dict[int, list[dict[str, Any]]] = {}
    for row in rows.values():
        if row["id"] is not None:
            by_id.setdefault(row["id"], []).append(row)
    writes_of: dict[int, list[dict[str, Any]]] = {}
    for write in tables["writes"]:
        writes_of.setdefault(write["local_id"], []).append(write)
    last_edit: dict[tuple[int, str], Edit] = {}
    for edit in journal.local_edits:
        last_edit[(edit.key, edit.field)] = edit  # an earlier edit of the same field is superseded
    compared = [name for name in CONTACT_FIELDS if name != "id"]

    # 1. Every listed contact has one row, flagged listed, equal but for edits the store explains.
    for contact_id in sorted(listed):
        holders = by_id.get(contact_id, [])
        if len(holders) != 1:
            problems.append(f"listed contact {contact_id} has {len(holders)} local rows")
            continue
        row, contact = holders[0], remote[contact_id]
        if row["is_listed"] is not True:
            problems.append(
                f"listed contact {contact_id} (local_id {row['local_id']}): is_listed={row['is_listed']!r}"
            )
        for name in compared:
            mine, theirs = row[name], contact[WIRE_NAMES[name]]
            if mine == theirs:
                continue
            kept = last_edit.get((row["local_id"], name))
            if kept is not None and mine == kept.value:
                if not any(w["status"] == "refused" for w in writes_of.get(row["local_id"], [])):
                    problems.append(
                        f"contact {contact_id} (local_id {row['local_id']}): local {name}={mine!r} "
                        "differs from the API, and no refused write says why"
                    )
                continue
            problems.append(
                f"contact {contact_id} (local_id {row['local_id']}): {name} local={mine!r} remote={theirs!r}"
            )

    # 2. A contact that left the list (hidden or deleted) keeps its row, flagged not listed,
    # active or not.
    for contact_id, holders in sorted(by_id.items()):
        if contact_id in listed:
            continue
        if contact_id not in remote and contact_id not in journal.remote_deletes:
            problems.append(f"rows {[r['local_id'] for r in holders]} hold id {contact_id}, never at the API")
        for row in holders:
            if row["is_listed"] is not False:
                problems.append(
                    f"contact {contact_id} left the list, but local_id {row['local_id']} has "
                    f"is_listed={row['is_listed']!r}"
                )

    # 3. Inserted rows: created once, adopted, or refused/rejected with a reason; never lost.
    emails_at_api: dict[Any, list[int]] = {}
    for cid, contact in remote.items():
        emails_at_api.setdefault(_email_key(contact["email"]), []).append(cid)
    for insert in journal.inserts:
        inserted = rows.get(insert.local_id)
        at_api = emails_at_api.get(_email_key(insert.email), [])
        statuses = {w["status"] for w in writes_of.get(insert.local_id, [])}
        what = f"inserted row local_id {insert.local_id} ({insert.email}, expected {insert.expect})"
        if inserted is None:
            problems.append(f"{what}: the row is gone")
            continue
        if len(at_api) > 1:
            problems.append(f"{what}: {len(at_api)} contacts at the API hold its email")
        if insert.expect == "created":
            if at_api and inserted["id"] != at_api[0]:
                problems.append(f"{what}: local id {inserted['id']}, the API's contact is {at_api[0]}")
            elif not at_api and inserted["id"] not in journal.remote_deletes:
                problems.append(f"{what}: no contact at the API holds its email (local id {inserted['id']})")
        elif insert.expect == "existing":
            if len(at_api) != 1:
                problems.append(f"{what}: {len(at_api)} contacts at the API hold its email, not 1")
            elif inserted["id"] is None and "rejected" not in statuses:
                problems.append(f"{what}: neither adopted nor rejected (writes: {statuses})")
            elif inserted["id"] is not None and inserted["id"] != at_api[0]:
                problems.append(f"{what}: adopted {inserted['id']}, but the API's contact is {at_api[0]}")
        else:
            if at_api:
                problems.append(f"{what}: reached the API as contact {at_api}")
            if inserted["id"] is not None or insert.expect not in statuses:
                problems.append(f"{what}: local id {inserted['id']}, writes {statuses}")

    # 4. Exactly one applied create per inserted row that asked for a new contact.
    wanted = sum(1 for insert in journal.inserts if insert.expect == "created")
    applied = state.counter_values().get("contacts_created", 0)
    if applied != wanted:
        problems.append(f"the API applied {applied} creates for {wanted} inserted rows that needed one")

    # 5. No local edit lost: in the row, or recorded in a conflict over a remote change.
    touched = {(edit.key, edit.field) for edit in journal.remote_edits}
    for (local_id, name), edit in sorted(last_edit.items()):
        edited = rows.get(local_id)
        if edited is None:
            problems.append(f"local edit {edit}: its row is gone")
            continue
        if edited[name] == edit.value:
            continue
        recorded = [
            c
            for c in tables["conflicts"]
            if c["local_id"] == local_id and c["field"] == name and c["local_value"] == edit.value
        ]
        if recorded and (edited["id"], name) in touched:
            continue
        problems.append(
            f"local edit lost: local_id {local_id} (contact {edited['id']}) {name}={edit.value!r} "
            f"(step {edit.step}); the row has {edited[name]!r}, conflicts recorded: {len(recorded)}"
        )

    # 6. A listed contact whose row was deleted locally is back, and the refusal says so.
    for contact_id in sorted(journal.delete_refusals & listed):
        holders = by_id.get(contact_id, [])
        said = any(
            w["status"] == "refused" and "cannot delete" in (w["error"] or "")
            for row in holders
            for w in writes_of.get(row["local_id"], [])
        )
        if holders and not said:
            problems.append(f"contact {contact_id}: its row was deleted locally, back without a refusal")
    return problems


def check_sessions_converged(
    journal: SessionsJournal, state: Any, db_path: Path | str, *, context: str = ""
) -> None:
    problems = sessions_converged_problems(journal, state, db_path)
    shown = "\n  ".join(problems[:30])
    assert not problems, f"{context}{len(problems)} problem(s) after clean syncs:\n  {shown}"
