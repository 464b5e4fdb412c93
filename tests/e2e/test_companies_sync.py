"""Two-way sync with the company-contacts API (seed 004), against its sandbox over loopback.

On SQLite and PostgreSQL: the first pull in the fewest pages, SQL edits, inserts and
deletes reaching the API with one request each, remote changes and deletions reaching
the store, walks that shift under contacts created and deleted meanwhile, and every
policy on an edit against a deletion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from config.settings import Settings, load_settings
from storage.store import Store
from sync.apis.companies.sandbox.server import CompaniesServer
from sync.apis.companies.sandbox.testing import running_sandbox
from sync.errors import AccountMismatch
from sync.runner import RunResult, run_once
from tests.conftest import LocalTable

FIELDS = ("id", "company_id", "first_name", "last_name", "email", "phone", "designation", "is_primary")


class CompaniesHarness:
    """One store bound to the first account's companies of one companies sandbox."""

    def __init__(self, sandbox: CompaniesServer, database_url: str, companies: int = 3) -> None:
        self.sandbox = sandbox
        self.database_url = database_url
        self.company_ids = sandbox.state.accounts[0].company_ids[:companies]
        self.table = LocalTable(database_url)
        self._store: Store | None = None

    def settings(self, **overrides: Any) -> Settings:
        environ = {
            "CONTACTS_SYNC_API": "companies",
            "CONTACTS_SYNC_API_URL": self.sandbox.base_url,
            "CONTACTS_SYNC_API_TOKEN": self.sandbox.token,
            "CONTACTS_SYNC_COMPANY_IDS": ",".join(self.company_ids),
            "CONTACTS_SYNC_DATABASE_URL": self.database_url,
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
            "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.05",
            "CONTACTS_SYNC_TIMEOUT_SECONDS": "5",
        }
        settings, _ = load_settings(environ=environ, flags=overrides)
        return settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.database_url, "companies")
        return self._store

    def sync(self, transport: httpx.BaseTransport | None = None, **overrides: Any) -> RunResult:
        return run_once(self.settings(**overrides), store=self.store, transport=transport)

    def remote_contacts(self) -> dict[str, dict[str, Any]]:
        return {
            contact["id"]: contact
            for company_id in self.company_ids
            for contact in self.sandbox.state.all_contacts(company_id)
        }

    def rows(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self.table.execute("SELECT * FROM contacts WHERE id IS NOT NULL")}

    def requests(self, method: str, prefix: str = "/contacts") -> list[Any]:
        return [
            entry
            for entry in self.sandbox.state.request_log()
            if entry.method == method and entry.path.startswith(prefix)
        ]

    def assert_converged(self) -> None:
        remote = self.remote_contacts()
        rows = self.rows()
        assert set(rows) == set(remote)
        for contact_id, contact in remote.items():
            for name in FIELDS:
                assert rows[contact_id][name] == contact[name], f"{contact_id}: {name} differs"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@pytest.fixture
def companies(database_url: str) -> Iterator[CompaniesHarness]:
    with running_sandbox(accounts=1, companies=3, contacts_per_company=150, seed=4) as sandbox:
        harness = CompaniesHarness(sandbox, database_url)
        yield harness
        harness.close()


@pytest.fixture
def small(database_url: str) -> Iterator[CompaniesHarness]:
    with running_sandbox(accounts=1, companies=2, contacts_per_company=12, seed=9) as sandbox:
        harness = CompaniesHarness(sandbox, database_url, companies=2)
        yield harness
        harness.close()


def list_pages(harness: CompaniesHarness) -> list[Any]:
    """The pages of the walk: not the one-contact lists that prove the token owns each company."""
    return [
        e for e in harness.requests("GET", "/contacts?") if e.status == 200 and "limit=1&" not in e.path + "&"
    ]


def ownership_checks(harness: CompaniesHarness) -> list[Any]:
    return [e for e in harness.requests("GET", "/contacts?") if "limit=1&" in e.path + "&"]


def test_the_first_pull_walks_each_company_in_the_fewest_pages(companies: CompaniesHarness) -> None:
    """3 companies of 150 contacts, pages of the largest size the server takes (100): 6 pages,
    one ownership check per company, and the one 422 that teaches the client the server's maximum."""
    result = companies.sync()
    assert result.outcome == "ok", result.error
    companies.assert_converged()
    assert len(companies.rows()) == 450
    assert len(list_pages(companies)) == 6
    assert len(ownership_checks(companies)) == 3
    assert [e.status for e in companies.sandbox.state.request_log() if e.status != 200] == [422]
    assert result.counts["requests"] == 10
    assert result.counts["rate_limited"] == 0


def test_a_second_sync_sends_no_write_and_asks_for_no_contact_by_id(companies: CompaniesHarness) -> None:
    companies.sync()
    companies.sandbox.state.reset_log()
    result = companies.sync()
    assert result.outcome == "ok", result.error
    log = companies.sandbox.state.request_log()
    assert [e for e in log if e.method != "GET"] == []
    assert [e for e in log if e.path.startswith("/contacts/")] == []  # nothing missing, nothing looked up
    assert len(list_pages(companies)) == 6


def test_sql_edit_insert_and_delete_reach_the_api_with_one_request_each(small: CompaniesHarness) -> None:
    small.sync()
    edited, deleted = sorted(small.rows().values(), key=lambda row: row["local_id"])[:2]
    small.table.update(edited["local_id"], designation="Head of Llamas", is_primary=True)
    small.table.execute("DELETE FROM contacts WHERE local_id = :local_id", {"local_id": deleted["local_id"]})
    local_id = small.table.insert(
        company_id=small.company_ids[1], first_name="Ada", last_name="Lovelace", email="ada@example.com"
    )
    small.sandbox.state.reset_log()

    result = small.sync()

    assert result.outcome == "ok", result.error
    writes = [
        (e.method, e.path.split("?")[0], e.body)
        for e in small.sandbox.state.request_log()
        if e.method != "GET"
    ]
    assert sorted(method for method, _, _ in writes) == ["DELETE", "PATCH", "POST"]
    patch = next(w for w in writes if w[0] == "PATCH")
    assert patch[1] == f"/contacts/{edited['id']}"
    assert json.loads(patch[2]) == {"designation": "Head of Llamas", "is_primary": True}
    assert next(w for w in writes if w[0] == "DELETE")[1] == f"/contacts/{deleted['id']}"
    created = small.table.row(local_id=local_id)
    assert created["id"] is not None
    assert small.sandbox.state.contact(deleted["id"]) is None
    assert small.sandbox.state.contact(created["id"])["email"] == "ada@example.com"
    assert (result.counts["created"], result.counts["updated"], result.counts["deleted_remote"]) == (1, 1, 1)
    small.assert_converged()
    history = small.table.execute("SELECT * FROM deletions")
    assert [(h["contact_id"], h["where"]) for h in history] == [(deleted["id"], "api")]


def test_remote_creates_edits_and_deletes_reach_the_store(small: CompaniesHarness) -> None:
    small.sync()
    state = small.sandbox.state
    first, second = state.all_contacts(small.company_ids[0])[:2]
    state.admin_edit(first["id"], {"last_name": "Renamed"})
    state.admin_delete(second["id"])
    made = state.admin_create({"company_id": small.company_ids[1], "first_name": "New", "email": "n@x.io"})
    state.reset_log()

    result = small.sync()

    assert result.outcome == "ok", result.error
    small.assert_converged()
    assert small.rows()[first["id"]]["last_name"] == "Renamed"
    assert made["id"] in small.rows()
    assert second["id"] not in small.rows()
    assert [e.path for e in state.request_log() if e.path.startswith("/contacts/")] == [
        f"/contacts/{second['id']}"  # the one proof asked for: a 404
    ]
    assert result.counts["deleted_local"] == 1
    history = small.table.execute("SELECT * FROM deletions")
    assert [(h["contact_id"], h["where"]) for h in history] == [(second["id"], "table")]
    record = history[0]["record"]
    assert (json.loads(record) if isinstance(record, str) else record)["email"] == second["email"]


class ShiftingTransport(httpx.BaseTransport):
    """The real network, plus another user's changes made right after the first list page."""

    def __init__(self, change: Callable[[], None]) -> None:
        self._inner = httpx.HTTPTransport()
        self._change: Callable[[], None] | None = change

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if self._change is not None and request.method == "GET" and "skip=" in str(request.url):
            change, self._change = self._change, None
            response.read()
            change()
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_walk_that_shifts_under_creates_and_deletes_loses_nothing(companies: CompaniesHarness) -> None:
    """A contact deleted before the walk's position shifts the rest one place up: the one that
    slid into an already-read page is missing from the walk, yet never deleted locally."""
    companies.sync()
    state = companies.sandbox.state
    company = companies.company_ids[0]
    doomed = state.all_contacts(company)[0]
    before = set(companies.rows())

    def another_user() -> None:
        state.admin_delete(doomed["id"])
        state.admin_create({"company_id": company, "first_name": "Late", "email": "late@x.io"})

    result = companies.sync(transport=ShiftingTransport(another_user))

    assert result.outcome == "ok", result.error
    after = set(companies.rows())
    assert before - after == {doomed["id"]}, "a contact that still exists was deleted"
    companies.sync()
    companies.assert_converged()


@pytest.mark.parametrize(
    ("policy", "row_kept", "recreated"),
    [("remote-wins", False, False), ("local-wins", True, True), ("manual", True, False)],
)
def test_a_local_edit_against_a_remote_delete(
    small: CompaniesHarness, policy: str, row_kept: bool, recreated: bool
) -> None:
    small.sync()
    row = next(iter(small.rows().values()))
    small.table.update(row["local_id"], designation="Edited here")
    small.sandbox.state.admin_delete(row["id"])

    result = small.sync(conflict_policy=policy)

    assert result.outcome == ("attention" if policy == "manual" else "ok"), result.error
    kept = small.table.execute("SELECT * FROM contacts WHERE local_id = :l", {"l": row["local_id"]})
    assert bool(kept) is row_kept
    conflicts = small.table.execute("SELECT * FROM conflicts WHERE field = '(deleted)'")
    assert [c["status"] for c in conflicts] == ["open" if policy == "manual" else "settled"]
    if recreated:
        new_id = kept[0]["id"]
        assert new_id is not None and new_id != row["id"]
        assert small.sandbox.state.contact(new_id)["designation"] == "Edited here"
    if policy == "manual":
        assert kept[0]["designation"] == "Edited here"
        assert [e for e in small.sandbox.state.request_log() if e.method == "POST"] == []


@pytest.mark.parametrize(
    ("policy", "row_back", "deleted_at_api"),
    [("remote-wins", True, False), ("local-wins", False, True), ("manual", False, False)],
)
def test_a_local_delete_against_a_remote_edit(
    small: CompaniesHarness, policy: str, row_back: bool, deleted_at_api: bool
) -> None:
    small.sync()
    row = next(iter(small.rows().values()))
    small.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": row["local_id"]})
    small.sandbox.state.admin_edit(row["id"], {"designation": "Edited there"})

    result = small.sync(conflict_policy=policy)

    assert result.outcome == ("attention" if policy == "manual" else "ok"), result.error
    assert (row["id"] in small.rows()) is row_back
    assert (small.sandbox.state.contact(row["id"]) is None) is deleted_at_api
    if row_back:
        assert small.rows()[row["id"]]["designation"] == "Edited there"


def test_a_manual_deletion_conflict_is_settled_by_a_person(small: CompaniesHarness) -> None:
    from storage.status import load_conflicts, save_conflict_resolved

    small.sync()
    row = next(iter(small.rows().values()))
    small.table.update(row["local_id"], designation="Keep me")
    small.sandbox.state.admin_delete(row["id"])
    assert small.sync(conflict_policy="manual").outcome == "attention"
    store = small.store
    with store.write() as tx:
        (conflict,) = load_conflicts(tx, t=store.t)
        save_conflict_resolved(tx, conflict["conflict_id"], take="local", t=store.t)
    result = small.sync(conflict_policy="manual")
    assert result.outcome == "ok", result.error
    (kept,) = small.table.execute("SELECT * FROM contacts WHERE local_id = :l", {"l": row["local_id"]})
    assert small.sandbox.state.contact(kept["id"])["designation"] == "Keep me"
    small.assert_converged()


def test_a_create_whose_answer_is_lost_is_adopted_not_sent_twice(database_url: str) -> None:
    """The sandbox applies the POST, then drops the connection: the retry finds the contact."""
    with running_sandbox(
        accounts=1, companies=1, contacts_per_company=3, faults="drop-after@1/POST"
    ) as sandbox:
        harness = CompaniesHarness(sandbox, database_url, companies=1)
        try:
            harness.sync()
            harness.table.insert(company_id=harness.company_ids[0], first_name="Once", email="once@x.io")
            result = harness.sync()
            assert result.outcome == "ok", result.error
            made = [c for c in sandbox.state.all_contacts() if c["email"] == "once@x.io"]
            assert len(made) == 1
            harness.assert_converged()
        finally:
            harness.close()


def test_a_create_left_pending_by_a_crash_is_looked_up_before_it_is_resent(database_url: str) -> None:
    """A run that gave up after the POST was applied (answer lost, no retries left) leaves the
    write pending; the next run finds the contact instead of creating a second one."""
    with running_sandbox(
        accounts=1, companies=1, contacts_per_company=3, faults="drop-after@1/POST"
    ) as sandbox:
        harness = CompaniesHarness(sandbox, database_url, companies=1)
        try:
            harness.sync()
            harness.table.insert(company_id=harness.company_ids[0], first_name="Twice", email="t@x.io")
            first = harness.sync(retry_attempts=1)
            assert first.outcome == "failed"
            assert [c for c in sandbox.state.all_contacts() if c["email"] == "t@x.io"]
            second = harness.sync()
            assert second.outcome == "ok", second.error
            assert len([c for c in sandbox.state.all_contacts() if c["email"] == "t@x.io"]) == 1
            posts = [e for e in sandbox.state.request_log() if e.method == "POST"]
            assert len(posts) == 1
            harness.assert_converged()
        finally:
            harness.close()


def test_the_store_is_bound_to_its_companies(small: CompaniesHarness) -> None:
    small.sync()
    other = small.settings(company_ids=small.company_ids[0])
    with pytest.raises(AccountMismatch):
        run_once(other, store=small.store)
