"""Where a lost create is found by a lookup, creates the lookup cannot tell apart never run side
by side: one row's lookup must not meet the contact another row's create is making."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.store import Store
from sync.apis.companies.wire import CompaniesWireRules
from sync.apis.registry import adapter_named
from sync.engine import Counts, EngineOptions
from sync.plan import PreparedWrite, Write, canonical_json
from sync.progress import NoProgress
from sync.push import Pusher
from sync.remote import Taken

COMPANY = "7b3f1c2d-4e5a-6f7b-8c9d-0e1f2a3b4c5d"


def push(store: Store, remote: object, *, write_concurrency: int) -> None:
    """One push of the store's pending writes to a scripted company-contacts API."""
    Pusher(
        store=store,
        remote=remote,  # type: ignore[arg-type]
        adapter=adapter_named("companies"),
        options=EngineOptions(write_concurrency=write_concurrency),
        counts=Counts(),
        counts_lock=threading.Lock(),
        progress=NoProgress(),
        check_stop=lambda: None,
        on_contact_gone=lambda contact_id: None,
        run_id=None,
    ).push_pending()


class OverlapWatch:
    """A fake company-contacts API that notes which creates and lookups were in flight at once.

    Each call waits up to a second for a second call about the same email to start: run side
    by side, two such calls always overlap here; run one after the other, they never do.
    """

    def __init__(self) -> None:
        self.rules = CompaniesWireRules([COMPANY])
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.arrived: dict[str, threading.Event] = {}
        self.calls: list[tuple[str, str]] = []

    def _call(self, kind: str, body: dict[str, Any]) -> None:
        email = body["email"].casefold()
        with self.lock:
            self.calls.append((kind, body["first_name"]))
            self.in_flight[email] += 1
            self.most[email] = max(self.most[email], self.in_flight[email])
            other = self.arrived.setdefault(email, threading.Event())
            first = self.in_flight[email] == 1
            if not first:
                other.set()
        if first:
            other.wait(1.0)
        with self.lock:
            self.in_flight[email] -= 1

    def send_write(self, request: PreparedWrite, key: str, *, taken: Taken) -> dict[str, Any]:
        body = json.loads(request.body or b"{}")
        self._call("POST", body)
        stamp = datetime.now(UTC).isoformat()
        return {
            "id": str(uuid.uuid4()),
            "last_name": None,
            "phone": None,
            "designation": None,
            "is_primary": False,
            **body,
            "created_at": stamp,
            "updated_at": stamp,
        }

    def find_created(
        self, request: PreparedWrite, *, taken: Taken, since: datetime | None = None
    ) -> dict[str, Any] | None:
        self._call("lookup", json.loads(request.body or b"{}"))
        return None


def test_creates_a_lookup_cannot_tell_apart_wait_for_each_other(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'contacts.db'}", api="companies")
    try:
        rows = [("X", "same@example.org"), ("Y", "SAME@example.org"), ("Z", "other@example.org")]
        bodies = [{"company_id": COMPANY, "first_name": name, "email": email} for name, email in rows]
        with store.write() as tx:
            for body in bodies:
                tx.exec_driver_sql(
                    "INSERT INTO contacts (company_id, first_name, email) VALUES (?, ?, ?)",
                    (body["company_id"], body["first_name"], body["email"]),
                )
            writes = [
                Write(local_id, None, PreparedWrite("POST", "/contacts", canonical_json(body)), body)
                for local_id, body in enumerate(bodies, start=1)
            ]
            store.save_plan(tx, writes, [])
            y_write = next(w for w in store.load_pending_writes(tx) if w.local_id == 2)
            store.save_write_attempted(tx, y_write.write_id)  # Y was sent by a run that died
        api = OverlapWatch()

        push(store, api, write_concurrency=4)

        assert api.most["same@example.org"] == 1, api.calls  # X, then Y's lookup and create
        assert ("lookup", "Y") in api.calls
        with store.read() as tx:
            linked = dict(tx.exec_driver_sql("SELECT first_name, id FROM contacts").fetchall())
            assert store.load_pending_writes(tx) == []
        assert all(linked.values()) and len(set(linked.values())) == 3, linked
    finally:
        store.close()


def test_a_first_attempt_whose_time_is_unreadable_still_means_look_before_resending(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'contacts.db'}", api="companies")
    try:
        body = {"company_id": COMPANY, "first_name": "Kim", "email": "kim@example.org"}
        with store.write() as tx:
            tx.exec_driver_sql(
                "INSERT INTO contacts (company_id, first_name, email) VALUES (?, 'Kim', 'kim@example.org')",
                (COMPANY,),
            )
            store.save_plan(
                tx, [Write(1, None, PreparedWrite("POST", "/contacts", canonical_json(body)), body)], []
            )
            tx.exec_driver_sql("UPDATE writes SET attempted_at = 'edited by hand'")
        with store.read() as tx:
            (write,) = store.load_pending_writes(tx)
        assert write.attempted and write.attempted_at is None
    finally:
        store.close()


class AnswersWith:
    """A lookup that offers one contact unless `taken` says another row has it; creates answer
    a contact of their own."""

    def __init__(self, offered: str) -> None:
        self.rules = CompaniesWireRules([COMPANY])
        self.offered = offered
        self.taken_seen: list[bool] = []

    def send_write(self, request: PreparedWrite, key: str, *, taken: Taken) -> dict[str, Any]:
        body = json.loads(request.body or b"{}")
        stamp = datetime.now(UTC).isoformat()
        return {"id": str(uuid.uuid4()), **body, "created_at": stamp, "updated_at": stamp}

    def find_created(
        self, request: PreparedWrite, *, taken: Taken, since: datetime | None = None
    ) -> dict[str, Any] | None:
        self.taken_seen.append(taken(self.offered))
        return None


def test_a_contact_whose_row_was_deleted_is_still_taken_until_its_delete_is_settled(tmp_path: Path) -> None:
    """Row 7 synced as contact C and was deleted by SQL; row 1's lookup must not adopt C."""
    store = Store.open(f"sqlite:///{tmp_path / 'contacts.db'}", api="companies")
    contact_c = str(uuid.uuid4())
    try:
        body = {"company_id": COMPANY, "first_name": "Twin", "email": "twin@example.org"}
        with store.write() as tx:
            tx.exec_driver_sql(
                "INSERT INTO contacts (company_id, first_name, email) VALUES (?, 'Twin', 'twin@example.org')",
                (COMPANY,),
            )
            tx.exec_driver_sql(
                "INSERT INTO sync_state (contact_id, local_id, fields, connected) VALUES (?, 7, ?, 1)",
                (contact_c, json.dumps({**body, "id": contact_c})),
            )
            store.save_plan(
                tx, [Write(1, None, PreparedWrite("POST", "/contacts", canonical_json(body)), body)], []
            )
            (write,) = store.load_pending_writes(tx)
            store.save_write_attempted(tx, write.write_id)
        api = AnswersWith(contact_c)
        push(store, api, write_concurrency=1)
        assert api.taken_seen == [True]
    finally:
        store.close()
