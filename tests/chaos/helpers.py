"""A SQLite store synced with the fake Lev API, for tests that need answers the sandbox cannot give."""

from __future__ import annotations

import contextlib
import copy
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import Settings, load_settings
from storage.store import Store
from sync.apis.lev.sandbox.contacts import public_view
from sync.apis.lev.sandbox.seed import seed_contacts
from sync.runner import RunResult, run_once
from tests.chaos.fakeapi import Answer, FakeApi

RID = "req-fake-0001"


def listing(
    data: list[dict[str, Any]], *, cursor: str | None = None, total: int | None = None
) -> dict[str, Any]:
    """A list answer in the documented envelope; has_more when a cursor is given."""
    pagination: dict[str, Any] = {"has_more": cursor is not None, "next_cursor": cursor}
    if total is not None:
        pagination["total"] = total
    return {"request_id": RID, "timestamp": "2026-03-01T00:00:00Z", "data": data, "pagination": pagination}


@dataclass
class FakeSynced:
    """A store synced once with the fake API's contacts."""

    api: FakeApi
    store: Store
    db_path: Path
    settings: Settings
    contacts: list[dict[str, Any]] = field(default_factory=list)

    def run(self) -> RunResult:
        return run_once(self.settings, store=self.store)

    def contact(self, **changes: Any) -> dict[str, Any]:
        return {**copy.deepcopy(self.contacts[0]), **changes}

    def local(self, sql: str, *params: Any) -> None:
        db = sqlite3.connect(self.db_path)
        try:
            db.execute(sql, params)
            db.commit()
        finally:
            db.close()


@contextlib.contextmanager
def fake_synced(tmp_path: Path, *, contacts: int = 4) -> Iterator[FakeSynced]:
    """A fake API listing `contacts` seeded contacts, and a SQLite store after one good sync."""
    seeded = [public_view(record) for record in seed_contacts(contacts, 0)]
    db_path = tmp_path / "contacts.db"
    with FakeApi() as api:
        api.answer("GET /contacts", Answer.json(listing(seeded, total=len(seeded))))
        settings, _ = load_settings(
            environ={
                "CONTACTS_SYNC_API_URL": api.base_url,
                "CONTACTS_SYNC_API_TOKEN": "lev_sk_fake",
                "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{db_path}",
                "CONTACTS_SYNC_RETRY_ATTEMPTS": "2",
                "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
                "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.02",
                "CONTACTS_SYNC_TIMEOUT_SECONDS": "5",
                "CONTACTS_SYNC_TIER": "unlimited",
            }
        )
        store = Store.open(settings.database_url)
        try:
            synced = FakeSynced(api, store, db_path, settings, seeded)
            first = synced.run()
            assert first.outcome == "ok", first.error
            api.forget_requests()
            yield synced
        finally:
            store.close()
