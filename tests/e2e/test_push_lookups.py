"""A lookup before a resend never adopts a contact another row's create was just answered with,
even while that answer waits to be stored (the push stores answers in batches)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
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
MADE_FOR_X = "550e8400-e29b-41d4-a716-446655440001"
MADE_FOR_Y = "550e8400-e29b-41d4-a716-446655440002"


def contact(contact_id: str, body: dict[str, Any]) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat()
    return {
        "id": contact_id,
        "last_name": None,
        "phone": None,
        "designation": None,
        "is_primary": False,
        **body,
        "created_at": stamp,
        "updated_at": stamp,
    }


class ScriptedRemote:
    """Row X's create is answered at once; row Y's lookup (its first attempt's answer was lost)
    sees the contact made for X, the only one with that email, and must find it taken."""

    def __init__(self, path: Path) -> None:
        self.rules = CompaniesWireRules([COMPANY])
        self.path = path
        self.blocker: sqlite3.Connection | None = None
        self.x_answered = threading.Event()
        self.taken_seen: list[bool] = []

    def send_write(self, request: PreparedWrite, key: str, *, taken: Taken) -> dict[str, Any]:
        body = json.loads(request.body or b"{}")
        if body["first_name"] == "X":
            # Hold the store's write lock, so X's answer stays unstored until Y has looked.
            self.blocker = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.blocker.execute("BEGIN IMMEDIATE")
            self.x_answered.set()
            return contact(MADE_FOR_X, body)
        return contact(MADE_FOR_Y, body)

    def find_created(
        self, request: PreparedWrite, *, taken: Taken, since: datetime | None = None
    ) -> dict[str, Any] | None:
        assert self.x_answered.wait(10)
        # X's answer reaches the push a moment after this event: give it that moment. Only the
        # push's own record of answered contacts can say taken here, the store being locked.
        deadline = time.monotonic() + 5
        while not (seen := taken(MADE_FOR_X)) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.taken_seen.append(seen)
        assert self.blocker is not None
        self.blocker.execute("COMMIT")
        self.blocker.close()
        return None if seen else contact(MADE_FOR_X, {"company_id": COMPANY, "email": "same@example.org"})


def test_a_lookup_counts_an_answered_but_unstored_create_as_taken(tmp_path: Path) -> None:
    path = tmp_path / "contacts.db"
    store = Store.open(f"sqlite:///{path}", api="companies")
    try:
        with store.write() as tx:
            tx.exec_driver_sql(
                "INSERT INTO contacts (company_id, first_name, email) VALUES (?, 'X', 'same@example.org'),"
                " (?, 'Y', 'same@example.org')",
                (COMPANY, COMPANY),
            )
            bodies = {
                name: {"company_id": COMPANY, "first_name": name, "email": "same@example.org"}
                for name in ("X", "Y")
            }
            writes = [
                Write(
                    local_id,
                    None,
                    PreparedWrite("POST", "/contacts", canonical_json(bodies[name])),
                    bodies[name],
                )
                for local_id, name in ((2, "Y"), (1, "X"))
            ]
            store.save_plan(tx, writes, [])
            y_write = store.load_pending_writes(tx)[0]
            assert y_write.local_id == 2
            store.save_write_attempted(tx, y_write.write_id)  # Y was sent by a run that died
        remote = ScriptedRemote(path)
        Pusher(
            store=store,
            remote=remote,  # type: ignore[arg-type]
            adapter=adapter_named("companies"),
            options=EngineOptions(write_concurrency=2),
            counts=Counts(),
            counts_lock=threading.Lock(),
            progress=NoProgress(),
            check_stop=lambda: None,
            on_contact_gone=lambda contact_id: None,
            run_id=None,
        ).push_pending()

        assert remote.taken_seen == [True]
        with store.read() as tx:
            linked = dict(tx.exec_driver_sql("SELECT first_name, id FROM contacts").fetchall())
            assert store.load_pending_writes(tx) == []
        assert linked == {"X": MADE_FOR_X, "Y": MADE_FOR_Y}
    finally:
        store.close()
