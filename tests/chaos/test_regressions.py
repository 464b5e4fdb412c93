"""Failing examples the chaos state machine found, shrunk by hand into plain tests (no Hypothesis).

Each test names the example it comes from. A product bug stays as a strict xfail
until it is fixed; the others pin behaviour the state machine relies on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.store import Store
from sync.apis.lev.sandbox.testing import running_sandbox
from tests.chaos.checks import integrity_problems, load_tables, nothing_to_do
from tests.conftest import Harness, LocalTable, synced_harness


def as_created_before_autoincrement(path: Path) -> None:
    """Rebuild `contacts` as 0001 created it before AUTOINCREMENT, and forget migration 0004.

    That is SQLAlchemy's DDL without sqlite_autoincrement: the key as a table
    constraint. Same columns and triggers, rows kept.
    """
    db = sqlite3.connect(path, isolation_level=None)
    try:
        ddl = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'contacts'"
        ).fetchone()[0]
        triggers = [
            row[0]
            for row in db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contacts'"
            )
        ]
        key = "local_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
        assert key in ddl and "UNIQUE (id)" in ddl, ddl
        old = (
            ddl.replace("CREATE TABLE contacts", "CREATE TABLE contacts_old")
            .replace(key, "local_id INTEGER NOT NULL")
            .replace("UNIQUE (id)", "PRIMARY KEY (local_id), \n\tUNIQUE (id)")
        )
        db.execute("BEGIN IMMEDIATE")
        db.execute(old)
        db.execute("INSERT INTO contacts_old SELECT * FROM contacts")
        db.execute("DROP TABLE contacts")
        db.execute("ALTER TABLE contacts_old RENAME TO contacts")
        for trigger in triggers:
            db.execute(trigger)
        db.execute("DELETE FROM schema_migrations WHERE name = '0004_contacts_never_reuse_local_ids'")
        db.execute("COMMIT")
    finally:
        db.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    # The examples were found with this sandbox: 40 contacts, seed 411.
    with synced_harness(tmp_path, contacts=40, seed=411) as h:
        yield h


def db_path(harness: Harness) -> str:
    return harness.database_url.removeprefix("sqlite:///")


def newest_row(harness: Harness) -> dict[str, int]:
    return harness.table.execute("SELECT local_id, id FROM contacts ORDER BY local_id DESC LIMIT 1")[0]


def test_deleting_the_newest_row_then_listing_a_new_contact_keeps_syncing(harness: Harness) -> None:
    """Shrunk from the soak (seed 411): syncs go on after the newest row is deleted and a contact listed."""
    # The page brings both; before AUTOINCREMENT the new contact's row took the freed local_id
    # before the deleted contact's last-synced state moved off it.
    deleted = newest_row(harness)
    never_listed = min(c["id"] for c in harness.sandbox.state.all_contacts() if not c["is_connected"])
    assert never_listed < deleted["id"]
    harness.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": deleted["local_id"]})
    harness.sandbox.state.connect(never_listed)
    first = harness.sync()
    assert first.outcome == "ok", first.error
    ids = {row["id"] for row in harness.table.execute("SELECT id FROM contacts")}
    assert {deleted["id"], never_listed} <= ids
    assert integrity_problems(load_tables(db_path(harness)), pending_allowed=False) == []


def test_deleting_the_newest_row_of_an_unlisted_contact_then_inserting_keeps_syncing(
    harness: Harness,
) -> None:
    """The newest row deleted, its contact no longer listed, a new row inserted: it gets its id once."""
    # Before AUTOINCREMENT the new row inherited the freed local_id: the pull flagged it as
    # disconnected (the stale state pointed at it) and settling its POST failed, run after run.
    deleted = newest_row(harness)
    harness.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": deleted["local_id"]})
    harness.sandbox.state.disconnect(deleted["id"])
    local_id = harness.table.insert(contact_type="sponsor", company_id=1, first_name="Reused")
    results = [harness.sync(), harness.sync()]
    assert [r.outcome for r in results] == ["ok", "ok"], [r.error for r in results]
    created = [c for c in harness.sandbox.state.all_contacts() if c["first_name"] == "Reused"]
    assert len(created) == 1
    assert harness.table.row(local_id=local_id)["id"] == created[0]["id"]
    assert (
        integrity_problems(load_tables(db_path(harness)), pending_allowed=False, deleted={deleted["id"]})
        == []
    )


def test_a_store_made_before_autoincrement_survives_a_deleted_newest_row(tmp_path: Path) -> None:
    """The first regression, on a store whose contacts table predates AUTOINCREMENT: syncs go on."""
    db = tmp_path / "contacts.db"
    Store.open(f"sqlite:///{db}").close()
    as_created_before_autoincrement(db)
    with running_sandbox(contacts=40, seed=411) as sandbox:
        harness = Harness(sandbox, f"sqlite:///{db}")
        try:
            assert harness.sync().outcome == "ok"
            deleted = newest_row(harness)
            never_listed = min(c["id"] for c in sandbox.state.all_contacts() if not c["is_connected"])
            harness.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": deleted["local_id"]})
            sandbox.state.connect(never_listed)
            result = harness.sync()
            assert result.outcome == "ok", result.error
            assert integrity_problems(load_tables(db), pending_allowed=False) == []
        finally:
            harness.close()


def test_the_upgrade_never_hands_out_an_id_that_bookkeeping_still_names(tmp_path: Path) -> None:
    """Newest row deleted while the store was old: after migration 0004 a new row gets a fresh id.

    The rebuild also keeps what other programs added: columns (a default, a generated
    one) with their values, and a view over contacts.
    """
    db = tmp_path / "contacts.db"
    with running_sandbox(contacts=40, seed=411) as sandbox:
        before = Harness(sandbox, f"sqlite:///{db}")
        try:
            assert before.sync().outcome == "ok"
            deleted = newest_row(before)
            before.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": deleted["local_id"]})
        finally:
            before.close()
        as_created_before_autoincrement(db)
        # What other programs may have added: a column with a default, a generated one, a view.
        db_conn = sqlite3.connect(db, isolation_level=None)
        db_conn.execute("ALTER TABLE contacts ADD COLUMN crm_note TEXT NOT NULL DEFAULT 'none'")
        db_conn.execute(
            "ALTER TABLE contacts ADD COLUMN full_name TEXT "
            "GENERATED ALWAYS AS (first_name || ' ' || last_name) VIRTUAL"
        )
        db_conn.execute("UPDATE contacts SET crm_note = 'keep me' WHERE local_id = 1")
        db_conn.execute("CREATE VIEW named_contacts AS SELECT local_id, full_name FROM contacts")
        db_conn.close()
        after = Harness(sandbox, f"sqlite:///{db}")
        try:
            after.store  # noqa: B018  opening the store migrates it
            ddl = after.table.execute("SELECT sql FROM sqlite_master WHERE name = 'contacts'")[0]["sql"]
            assert "AUTOINCREMENT" in ddl
            first = after.table.row(local_id=1)
            assert first["crm_note"] == "keep me"
            assert first["full_name"] == f"{first['first_name']} {first['last_name']}"
            view = after.table.execute("SELECT full_name FROM named_contacts WHERE local_id = 1")
            assert view == [{"full_name": first["full_name"]}]
            new_local_id = after.table.insert(contact_type="sponsor", company_id=1, first_name="Fresh")
            assert new_local_id > deleted["local_id"]
            assert after.table.row(local_id=new_local_id)["crm_note"] == "none"  # its default survived
            result = after.sync()
            assert result.outcome == "ok", result.error
            assert len([c for c in sandbox.state.all_contacts() if c["first_name"] == "Fresh"]) == 1
            assert integrity_problems(load_tables(db), pending_allowed=False) == []
        finally:
            after.close()


def test_the_upgrade_runs_schema_text_as_it_is_and_retries_a_table_it_does_not_recognise(
    tmp_path: Path,
) -> None:
    """A ':word' in a default or a trigger is not a parameter; an unrecognised table is left
    alone and 0004 is not recorded, so a later start tries again."""
    db = tmp_path / "contacts.db"
    Store.open(f"sqlite:///{db}").close()
    as_created_before_autoincrement(db)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("ALTER TABLE contacts ADD COLUMN note TEXT DEFAULT 'see :note'")
    raw.execute("CREATE TABLE audit (what TEXT)")
    raw.execute(
        "CREATE TRIGGER audit_contacts AFTER DELETE ON contacts "
        "BEGIN INSERT INTO audit VALUES ('deleted :id'); END"
    )
    raw.close()
    Store.open(f"sqlite:///{db}").close()
    table = LocalTable(f"sqlite:///{db}")
    assert "AUTOINCREMENT" in table.execute("SELECT sql FROM sqlite_master WHERE name = 'contacts'")[0]["sql"]
    assert table.execute("SELECT count(*) AS n FROM sqlite_master WHERE name = 'audit_contacts'") == [
        {"n": 1}
    ]

    odd = tmp_path / "odd.db"
    Store.open(f"sqlite:///{odd}").close()
    raw = sqlite3.connect(odd, isolation_level=None)
    raw.execute("BEGIN")
    raw.execute("ALTER TABLE contacts RENAME TO contacts_before")
    raw.execute("CREATE TABLE contacts AS SELECT * FROM contacts_before")  # keyless: not 0001's shape
    raw.execute("DROP TABLE contacts_before")
    raw.execute("DELETE FROM schema_migrations WHERE name = '0004_contacts_never_reuse_local_ids'")
    raw.execute("COMMIT")
    raw.close()
    Store.open(f"sqlite:///{odd}").close()
    applied = LocalTable(f"sqlite:///{odd}").execute("SELECT name FROM schema_migrations")
    assert "0004_contacts_never_reuse_local_ids" not in {row["name"] for row in applied}


def test_a_deleted_row_of_a_listed_contact_comes_back_on_the_next_pull(harness: Harness) -> None:
    """A row another program deleted (not the newest) comes back whole; the sync after has nothing to do."""
    victim = harness.table.execute("SELECT * FROM contacts ORDER BY local_id LIMIT 1")[0]
    harness.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": victim["local_id"]})
    assert harness.sync().outcome == "ok"
    back = harness.table.row(id=victim["id"])
    assert {k: v for k, v in back.items() if k != "local_id"} == {
        k: v for k, v in victim.items() if k != "local_id"
    }
    assert nothing_to_do(harness.sync())
    assert integrity_problems(load_tables(db_path(harness)), pending_allowed=False) == []


def test_a_primary_the_api_demotes_comes_down_to_the_row(harness: Harness) -> None:
    """Shrunk from an early example: A made primary locally, then B of its company remotely: A is demoted."""
    # The API keeps one primary per company, so A ends demoted on both sides and the
    # sides agree after the syncs (the check once took A's demotion for a lost edit).
    by_company: dict[int, list[int]] = {}
    for contact in harness.sandbox.state.all_contacts():
        if contact["is_connected"]:
            by_company.setdefault(contact["company_id"], []).append(contact["id"])
    a, b = next(ids for ids in by_company.values() if len(ids) >= 2)[:2]
    harness.table.update(harness.table.row(id=a)["local_id"], is_primary=True)
    assert harness.sync().outcome == "ok"
    harness.sandbox.state.admin_edit(b, {"is_primary": True})
    assert harness.sync().outcome == "ok"
    for contact_id, primary in ((a, False), (b, True)):
        assert harness.remote(contact_id)["is_primary"] is primary
        assert harness.table.row(id=contact_id)["is_primary"] is primary
    assert nothing_to_do(harness.sync())
