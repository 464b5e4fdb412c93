"""One poison value never stalls every run: it is stored losslessly, or skipped or refused by name.

Remote values come from the sandbox's admin routes (a NUL) or from the fake API
(a lone surrogate, which the sandbox cannot serve); local ones are written with
plain SQL. Each time, every other row syncs and the run exits with the
documented code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import sync.engine
from storage.status import load_status
from sync.status_text import render_status
from tests.chaos.checks import load_tables
from tests.chaos.fakeapi import Answer
from tests.chaos.helpers import RID, FakeSynced, fake_synced, listing
from tests.conftest import Harness, synced_harness

UNDECODABLE = "CAST(X'C328' AS TEXT)"  # 'Ã(' cut short: not UTF-8


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [event for event in logs if event["event"] == name]


# --- remote values ------------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeSynced]:
    with fake_synced(tmp_path) as synced:
        yield synced


def test_a_lone_surrogate_in_a_listed_contact_skips_that_contact_only(fake: FakeSynced) -> None:
    """A "\\ud800" in a contact's name: that contact is skipped with a warning, the rest of the page syncs."""
    poisoned, edited = fake.contacts[0]["id"], fake.contacts[1]["id"]
    page = [
        fake.contact(first_name="\ud800", updated_at="2026-04-01T00:00:00Z"),
        {**fake.contacts[1], "title": "Remote edit"},
        *fake.contacts[2:],
    ]
    # json.dumps escapes the surrogate as \ud800, as a real API's JSON may.
    fake.api.answer("GET /contacts", Answer(200, json.dumps(listing(page, total=4)).encode()))
    with capture_logs() as logs:
        result = fake.run()
    assert result.outcome == "ok" and result.exit_code == 0, result
    assert result.counts["skipped"] == 1
    (warning,) = events(logs, "sync.pull.contact_skipped")
    assert (warning["contact_id"], warning["field"], warning["log_level"]) == (
        poisoned,
        "first_name",
        "warning",
    )
    rows = {row["id"]: row for row in load_tables(fake.db_path)["contacts"]}
    assert rows[edited]["title"] == "Remote edit"
    assert rows[poisoned]["first_name"] == fake.contacts[0]["first_name"]
    assert rows[poisoned]["is_connected"] == 1, "a skipped contact was flagged disconnected"
    # Fixed at the API, the contact comes in on the next run: skipping stored no digest.
    fixed = [fake.contact(first_name="Fixed", updated_at="2026-04-01T00:00:00Z"), *page[1:]]
    fake.api.answer("GET /contacts", Answer.json(listing(fixed, total=4)))
    again = fake.run()
    assert again.outcome == "ok" and again.counts["skipped"] == 0, again
    rows = {row["id"]: row for row in load_tables(fake.db_path)["contacts"]}
    assert rows[poisoned]["first_name"] == "Fixed"


def test_a_write_answered_with_a_lone_surrogate_is_settled_without_that_value(fake: FakeSynced) -> None:
    """A PATCH whose answer holds a value no store can hold is settled without it, named in the log."""
    target, other = fake.contacts[0], fake.contacts[1]
    fake.local("UPDATE contacts SET title = 'Mine' WHERE id = ?", target["id"])
    fake.local("UPDATE contacts SET title = 'Also mine' WHERE id = ?", other["id"])

    def answer(request: Any) -> Answer:
        contact_id = int(request.path.rsplit("/", 1)[1])
        sent = json.loads(request.body)
        base = next(c for c in fake.contacts if c["id"] == contact_id)
        city = "\ud800" if contact_id == target["id"] else base["city"]
        data = {**base, **sent, "city": city}
        return Answer(200, json.dumps({"request_id": RID, "data": data}).encode())

    fake.api.answer("PATCH /contacts/{id}", answer)
    with capture_logs() as logs:
        result = fake.run()
    assert result.outcome == "ok" and result.exit_code == 0, result
    (warning,) = events(logs, "sync.write.answer_unstorable")
    assert warning["contact_id"] == target["id"] and "city" in warning["fields"][0]
    assert load_tables(fake.db_path)["writes"] == []
    rows = {row["id"]: row for row in load_tables(fake.db_path)["contacts"]}
    assert rows[target["id"]]["title"] == "Mine" and rows[target["id"]]["city"] == target["city"]
    assert rows[other["id"]]["title"] == "Also mine"
    fake.api.forget_requests()
    assert fake.run().outcome == "ok"
    assert not [r for r in fake.api.requests if r.method == "PATCH"], "the same write was sent again"


def test_a_create_answered_with_a_value_the_store_cannot_hold_is_linked_not_sent_again(
    harness: Harness,
) -> None:
    """A POST applied but answered with a lone surrogate links the row to its contact: never created twice."""
    local_id = harness.table.insert(contact_type="sponsor", company_id=2, first_name="Poisoned")
    harness.sandbox.state.set_faults("surrogate@1/POST")
    assert harness.sync().outcome == "ok"
    harness.sandbox.state.set_faults("")
    row = harness.table.row(local_id=local_id)
    created = [c for c in harness.sandbox.state.all_contacts() if c["first_name"] == "Poisoned"]
    assert [c["id"] for c in created] == [row["id"]]
    assert harness.sync().outcome == "ok"
    assert len([c for c in harness.sandbox.state.all_contacts() if c["first_name"] == "Poisoned"]) == 1


@pytest.fixture
def harness(sandbox: Any, database_url: str) -> Iterator[Harness]:
    h = Harness(sandbox, database_url)
    assert h.sync().outcome == "ok"
    yield h
    h.close()


def test_a_nul_in_a_remote_string_is_stored_or_skipped_by_name(harness: Harness) -> None:
    """A NUL in a remote title: SQLite keeps it as is; PostgreSQL skips that contact by id and field."""
    listed = [c["id"] for c in harness.sandbox.state.all_contacts() if c["is_connected"]]
    poisoned, edited = listed[0], listed[1]
    harness.sandbox.state.admin_edit(poisoned, {"title": "Dr\x00 Who"})
    harness.sandbox.state.admin_edit(edited, {"title": "Plain"})
    before = harness.table.row(id=poisoned)
    with capture_logs() as logs:
        result = harness.sync()
    assert result.outcome == "ok" and result.exit_code == 0, result
    assert harness.table.row(id=edited)["title"] == "Plain"
    if harness.table.is_postgres:
        assert result.counts["skipped"] == 1
        (warning,) = events(logs, "sync.pull.contact_skipped")
        assert (warning["contact_id"], warning["field"]) == (poisoned, "title")
        assert "NUL" in warning["reason"]
        assert harness.table.row(id=poisoned) == before
        harness.sandbox.state.admin_edit(poisoned, {"title": "Dr Who"})
        assert harness.sync().outcome == "ok"
        assert harness.table.row(id=poisoned)["title"] == "Dr Who"
    else:
        assert result.counts["skipped"] == 0
        assert harness.table.row(id=poisoned)["title"] == "Dr\x00 Who"


# --- local values -------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Harness]:
    with synced_harness(tmp_path, contacts=20, seed=4) as h:
        yield h


def raw_sql(harness: Harness, sql: str, *params: Any) -> None:
    db = sqlite3.connect(harness.database_url.removeprefix("sqlite:///"))
    try:
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def refused(harness: Harness) -> list[dict[str, Any]]:
    """Rejected and refused writes (read alone: the contacts table may hold text that is not UTF-8)."""
    db = sqlite3.connect(harness.database_url.removeprefix("sqlite:///"))
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("SELECT * FROM writes WHERE status != 'pending'")]
    finally:
        db.close()


def others_still_sync(harness: Harness, good_id: int) -> None:
    assert harness.remote(good_id)["title"] == "Good edit"
    assert [c for c in harness.sandbox.state.all_contacts() if c["first_name"] == "Good"], (
        "the good row was not created"
    )


@pytest.mark.parametrize("how", ["new-row", "edit"])
def test_local_text_longer_than_an_answer_may_hold_is_refused_before_sending(
    local: Harness, how: str
) -> None:
    """70,000 characters in a local city are refused by row and field; nothing of that row is sent."""
    bad, good = local.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 2")
    if how == "new-row":
        bad_local_id = local.table.insert(contact_type="sponsor", company_id=2, city="x" * 70_000)
    else:
        bad_local_id = bad["local_id"]
        local.table.update(bad_local_id, city="x" * 70_000)
    local.table.update(good["local_id"], title="Good edit")
    local.table.insert(contact_type="lender_contact", company_id=3, first_name="Good")
    local.sandbox.state.reset_log()
    result = local.sync()
    assert result.outcome == "attention" and result.exit_code == 1, result
    (refusal,) = refused(local)
    assert refusal["local_id"] == bad_local_id and "city has 70,000 characters" in refusal["error"]
    sent = [e.body for e in local.sandbox.state.request_log() if e.method in ("POST", "PATCH")]
    assert len(sent) == 2 and all(b"xxxx" not in body for body in sent)
    others_still_sync(local, good["id"])
    again = local.sync()
    assert again.outcome == "attention" and again.counts["rejected"] == 0, again


@pytest.mark.parametrize("how", ["new-row", "edit"])
def test_local_text_that_is_not_utf8_is_read_losslessly_and_refused_by_name(local: Harness, how: str) -> None:
    """city = CAST(X'C328' AS TEXT) never fails the run: refused by row and field, the others sync."""
    bad, good = local.table.execute("SELECT local_id, id, city FROM contacts ORDER BY id LIMIT 2")
    if how == "new-row":
        raw_sql(
            local,
            f"INSERT INTO contacts (contact_type, company_id, city) VALUES ('sponsor', 2, {UNDECODABLE})",
        )
        bad_local_id = local.table.execute("SELECT max(local_id) AS m FROM contacts")[0]["m"]
    else:
        bad_local_id = bad["local_id"]
        raw_sql(local, f"UPDATE contacts SET city = {UNDECODABLE} WHERE local_id = ?", bad_local_id)
    local.table.update(good["local_id"], title="Good edit")
    local.table.insert(contact_type="lender_contact", company_id=3, first_name="Good")
    result = local.sync()
    assert result.outcome == "attention" and result.exit_code == 1, result
    (refusal,) = refused(local)
    assert (
        refusal["local_id"] == bad_local_id and "city holds text that is not valid UTF-8" in refusal["error"]
    )
    others_still_sync(local, good["id"])
    # The row is left as written: the bytes are still there for the person to see.
    db = sqlite3.connect(local.database_url.removeprefix("sqlite:///"))
    try:
        stored = db.execute("SELECT CAST(city AS BLOB) FROM contacts WHERE local_id = ?", (bad_local_id,))
        assert stored.fetchone()[0] == b"\xc3("
    finally:
        db.close()
    with local.store.read() as tx:
        shown = render_status(load_status(tx))
    assert f"local_id={bad_local_id} refused" in shown
    again = local.sync()
    assert again.outcome == "attention" and again.counts["rejected"] == 0, again


# --- a bug ---------------------------------------------------------------------------------


def test_an_unexpected_exception_fails_the_run_with_exit_3_and_the_next_run_goes_on(
    local: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug in a run fails it (exit 3), recorded with its type; the log stays JSON; the next run works."""
    row = local.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 1")[0]
    local.sandbox.state.admin_edit(row["id"], {"title": "Remote edit"})

    def broken(**_: Any) -> Any:
        raise ZeroDivisionError("a bug in the merge")

    monkeypatch.setattr(sync.engine, "merge_contact", broken)
    capsys.readouterr()
    result = local.sync()
    assert result.outcome == "failed" and result.exit_code == 3, result
    assert "ZeroDivisionError" in (result.error or "") and "a bug in the merge" in (result.error or "")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    (crash,) = [line for line in lines if line["event"] == "sync.run.crashed"]
    assert "ZeroDivisionError" in crash["exception"]
    runs = load_tables(local.database_url.removeprefix("sqlite:///"))["runs"]
    assert runs[-1]["outcome"] == "failed" and "ZeroDivisionError" in runs[-1]["error"]
    monkeypatch.undo()
    structlog.contextvars.clear_contextvars()
    assert local.sync().outcome == "ok"
    assert local.table.row(id=row["id"])["title"] == "Remote edit"
