"""Bookkeeping that cannot be reconciled stops one row, never the store; and the rows' own tidying.

A write answered twice for one row, an answer naming a contact another row
holds, API-owned columns edited by hand, a refused row deleted, conflicts in
the log: each against the real sandbox (or the fake API where the sandbox
cannot answer that way) and a real store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from sync.engine import Engine, EngineOptions
from sync.logs import configure_logging
from sync.runner import build_client
from tests.chaos.checks import load_tables, nothing_to_do
from tests.chaos.fakeapi import Answer, Request
from tests.chaos.helpers import RID, FakeSynced, fake_synced
from tests.conftest import Harness, synced_harness

OWNED_EDITS = {
    "owner_account_id": 999,
    "created_at": "1999-01-01T00:00:00Z",
    "updated_at": "1999-01-02T00:00:00Z",
    "contact_type": "swapped",
    "contact_types": ["swapped"],
    "is_connected": False,
}


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [event for event in logs if event["event"] == name]


@pytest.fixture
def harness(sandbox: Any, database_url: str) -> Iterator[Harness]:
    h = Harness(sandbox, database_url)
    assert h.sync().outcome == "ok"
    yield h
    h.close()


def created(harness: Harness, marker: str) -> list[dict[str, Any]]:
    return [c for c in harness.sandbox.state.all_contacts() if c["first_name"] == marker]


# --- one row, two contacts ------------------------------------------------------------------


def test_a_row_posted_twice_keeps_its_first_contact_and_later_inserts_still_sync(harness: Harness) -> None:
    """Two pending POSTs of one row (two syncs both planned it): the second answer is logged, not fatal."""
    local_id = harness.table.insert(contact_type="sponsor", company_id=1, first_name="Twice")
    engine = Engine(harness.store, build_client(harness.settings()), EngineOptions())
    engine.plan()  # the first sync planned it...
    harness.table.execute(  # ...and so did a second one, under its own key
        "INSERT INTO writes (local_id, contact_id, method, path, body, fields, idempotency_key, status, "
        "created_at, updated_at) SELECT local_id, contact_id, method, path, body, fields, 'second-sync', "
        "status, created_at, updated_at FROM writes WHERE status = 'pending'"
    )
    with capture_logs() as logs:
        result = harness.sync()
    assert result.outcome == "ok" and result.exit_code == 0, result
    first, second = sorted(c["id"] for c in created(harness, "Twice"))
    assert harness.table.row(local_id=local_id)["id"] == first
    (warning,) = events(logs, "sync.write.duplicate_contact")
    assert (warning["local_id"], warning["contact_id"], warning["duplicate_contact_id"]) == (
        local_id,
        first,
        second,
    )
    assert f"delete {second} in Lev" in warning["advice"]
    later = harness.table.insert(contact_type="lender_contact", company_id=2, first_name="Later")
    after = harness.sync()
    assert after.outcome == "ok", after
    assert harness.table.row(local_id=later)["id"] == created(harness, "Later")[0]["id"]
    assert nothing_to_do(harness.sync())


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeSynced]:
    with fake_synced(tmp_path) as synced:
        yield synced


def test_a_post_answered_with_a_contact_another_row_holds_stops_that_row_only(fake: FakeSynced) -> None:
    """A POST answered with an existing contact's id is held against its row, naming both rows; others go."""
    taken = fake.contacts[1]
    edited = fake.contacts[2]
    fake.local("INSERT INTO contacts (contact_type, company_id, first_name) VALUES ('sponsor', 1, 'New')")
    fake.local("UPDATE contacts SET title = 'Edited' WHERE id = ?", edited["id"])
    rows = {row["id"]: row["local_id"] for row in load_tables(fake.db_path)["contacts"]}
    new_local_id = rows[None]
    fake.api.answer("POST /contacts", Answer.json({"request_id": RID, "data": taken}, 201))

    def patched(request: Request) -> Answer:
        return Answer.json({"request_id": RID, "data": {**edited, **json.loads(request.body)}})

    fake.api.answer("PATCH /contacts/{id}", patched)
    result = fake.run()
    assert result.outcome == "attention" and result.exit_code == 1, result
    (write,) = load_tables(fake.db_path)["writes"]
    assert (write["local_id"], write["status"]) == (new_local_id, "rejected")
    assert f"row local_id={rows[taken['id']]} already holds" in write["error"]
    assert "edited by hand" not in write["error"]
    after = {row["local_id"]: row for row in load_tables(fake.db_path)["contacts"]}
    assert after[new_local_id]["id"] is None
    assert after[rows[edited["id"]]]["title"] == "Edited"
    fake.api.forget_requests()
    assert fake.run().outcome == "attention"
    assert not [r for r in fake.api.requests if r.method == "POST"], "the same POST was sent again"
    # The way out the message gives: the row duplicates the other one, so delete it.
    fake.local("DELETE FROM contacts WHERE local_id = ?", new_local_id)
    cleared = fake.run()
    assert cleared.outcome == "ok" and cleared.exit_code == 0, cleared
    assert load_tables(fake.db_path)["writes"] == []


# --- columns the API owns --------------------------------------------------------------------


def test_api_owned_columns_edited_by_hand_are_put_back_at_once(harness: Harness) -> None:
    """Owned columns edited locally get the API's values back, with a warning; a cleared or changed id too."""
    a, b, c = harness.table.execute("SELECT * FROM contacts WHERE is_connected ORDER BY id LIMIT 3")
    harness.table.update(a["local_id"], **OWNED_EDITS)
    harness.table.update(b["local_id"], id=None)
    harness.table.update(c["local_id"], id=987_654_321)
    contacts_before = len(harness.sandbox.state.all_contacts())
    harness.sandbox.state.reset_log()
    with capture_logs() as logs:
        result = harness.sync()
    assert result.outcome == "ok" and result.exit_code == 0, result
    for row in (a, b, c):
        assert harness.table.row(local_id=row["local_id"]) == row
    assert len(harness.sandbox.state.all_contacts()) == contacts_before, "a row was created a second time"
    assert not [e for e in harness.sandbox.state.request_log() if e.method in ("POST", "PATCH")]
    restored = {event["local_id"]: set(event["fields"]) for event in events(logs, "sync.row.restored")}
    assert restored == {a["local_id"]: set(OWNED_EDITS), b["local_id"]: {"id"}, c["local_id"]: {"id"}}
    assert nothing_to_do(harness.sync())


# --- rejections of rows that are gone ------------------------------------------------------


def test_a_refused_or_rejected_row_deleted_locally_takes_its_rejection_along(tmp_path: Path) -> None:
    """Deleting a row whose create was refused (or rejected) ends the exit 1: its rejection is dropped."""
    with synced_harness(tmp_path, contacts=10, seed=3) as h:
        refused = h.table.insert(contact_type="investor", company_id=1, first_name="Refused")
        rejected = h.table.insert(contact_type="sponsor", company_id=999_999, first_name="Rejected")
        first = h.sync()
        assert first.outcome == "attention", first
        statuses = {w["local_id"]: w["status"] for w in load_tables(tmp_path / "contacts.db")["writes"]}
        assert statuses == {refused: "refused", rejected: "rejected"}
        h.table.execute("DELETE FROM contacts WHERE local_id IN (:a, :b)", {"a": refused, "b": rejected})
        configure_logging(level="INFO", json=True)
        with capture_logs() as logs:
            result = h.sync()
        assert result.outcome == "ok" and result.exit_code == 0, result
        assert load_tables(tmp_path / "contacts.db")["writes"] == []
        dropped = {event["local_id"] for event in events(logs, "sync.write.rejection_dropped")}
        assert dropped == {refused, rejected}


# --- conflicts in the log --------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "winner"), [("remote-wins", "remote"), ("manual", "held")])
def test_each_conflict_is_one_log_line_without_values_at_info(
    tmp_path: Path, policy: str, winner: str
) -> None:
    """A conflict logs local_id, contact id, field, policy and winner at info; its values only at debug."""
    with synced_harness(tmp_path, contacts=10, seed=3) as h:
        row = h.table.execute("SELECT local_id, id FROM contacts WHERE is_connected ORDER BY id LIMIT 1")[0]
        h.table.update(row["local_id"], title="Local secret title")
        h.sandbox.state.admin_edit(row["id"], {"title": "Remote secret title"})
        configure_logging(level="DEBUG", json=True)
        with capture_logs() as logs:
            assert h.sync(conflict_policy=policy).outcome in ("ok", "attention")
    (line,) = events(logs, "sync.conflict")
    assert line == {
        "event": "sync.conflict",
        "log_level": "info",
        "local_id": row["local_id"],
        "contact_id": row["id"],
        "field": "title",
        "policy": policy,
        "winner": winner,
    }
    info_text = json.dumps([e for e in logs if e["log_level"] != "debug"])
    assert "secret title" not in info_text, "a conflict's value was logged above debug"
    (values,) = events(logs, "sync.conflict.values")
    assert (values["log_level"], values["local"], values["remote"]) == (
        "debug",
        "Local secret title",
        "Remote secret title",
    )
