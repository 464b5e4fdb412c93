"""A pull's rows written through the precompiled SQL (storage/bulk.py) are stored exactly as
SQLAlchemy Core stores them, on SQLite and PostgreSQL: other programs read the same text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from storage.store import MergedContact, Store
from storage.tables import UnreadableJSON
from sync.merge import Merge

CONTACT: dict[str, Any] = {
    "id": 41,
    "contact_type": "sponsor",
    "contact_types": ["sponsor", "lender_contact"],
    "first_name": "Zoë 名前",
    "last_name": "O'Brien",
    "email": None,
    "phones": None,
    "is_primary": True,
    "is_connected": False,
    "owner_account_id": 7,
    "nickname": "a field the store does not know",  # kept in `extra`
}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


def stored_text(store: Store, contact_id: int) -> dict[str, Any]:
    """Each column as the database holds it, JSON as its text, booleans as they are."""
    names = [c.name for c in store.t.contacts.columns if c.name != "local_id"]
    casts = ", ".join(
        f"CAST({name} AS TEXT)" if name in ("contact_types", "phones", "extra") else name for name in names
    )
    with store.read() as tx:
        row = tx.execute(text(f"SELECT {casts} FROM contacts WHERE id = :id"), {"id": contact_id}).one()
        state = tx.execute(
            text(
                "SELECT CAST(fields AS TEXT), connected, remote_digest FROM sync_state WHERE contact_id = :id"
            ),
            {"id": contact_id},
        ).one()
    return {**dict(zip(names, row, strict=True)), "_state": tuple(state)}


def test_new_and_updated_rows_are_stored_as_core_stores_them(store: Store) -> None:
    """A contact saved by a pull and the same values written through Core read back as the same text."""
    merged = MergedContact(41, None, None, Merge(local_changes=dict(CONTACT), base=dict(CONTACT)), "d41")
    with store.write() as tx:
        local_ids = store.save_merges(tx, [merged], policy="remote-wins")
    twin = {**CONTACT, "id": 42}
    with store.write() as tx:
        values = store._column_values(twin, None)
        tx.execute(
            insert(store.t.contacts).values(
                {name: values.get(name) for name in (*store.t.record_columns, "extra")}
            )
        )
        local_42 = tx.execute(
            select(store.t.contacts.c.local_id).where(store.t.contacts.c.id == 42)
        ).scalar_one()
        tx.execute(
            insert(store.t.state).values(
                contact_id=42, local_id=local_42, fields=twin, connected=False, remote_digest="d41"
            )
        )
    ours, core = stored_text(store, 41), stored_text(store, 42)
    assert {**ours, "id": 42, "_state": None} == {**core, "_state": None}
    assert ours["_state"][1:] == core["_state"][1:]
    assert ours["_state"][0] == core["_state"][0].replace("42", "41")

    with store.read() as tx:
        local, bases = store.load_page_state(tx, [41])
    assert local[41].record["first_name"] == "Zoë 名前"
    assert local[41].record["is_primary"] is True
    assert local[41].record["nickname"] == "a field the store does not know"
    assert bases[41].fields == CONTACT
    assert local_ids == {41: local[41].local_id}

    # An update of some columns: the other columns, and `extra`'s other keys, stay.
    changes = {"first_name": "Zoé", "phones": [{"raw": "+15550100"}], "is_primary": False, "badge": 3}
    base = {**CONTACT, **changes}
    again = MergedContact(41, local[41], bases[41], Merge(local_changes=changes, base=base), "d41b")
    with store.write() as tx:
        store.save_merges(tx, [again], policy="remote-wins")
    with store.read() as tx:
        local, bases = store.load_page_state(tx, [41])
        digests = store.load_digests(tx, [41, 42, 43])
    record = local[41].record
    assert (record["first_name"], record["phones"], record["is_primary"]) == (
        "Zoé",
        [{"raw": "+15550100"}],
        False,
    )
    assert (record["nickname"], record["badge"], record["last_name"]) == (
        "a field the store does not know",
        3,
        "O'Brien",
    )
    assert bases[41].fields == base
    assert digests == {41: "d41b", 42: "d41"}


def test_unreadable_json_and_odd_booleans_left_by_another_program_survive_an_update(store: Store) -> None:
    """Text another program left in a JSON or boolean column goes back unchanged when other columns change."""
    if not store.holds_nul:
        pytest.skip("PostgreSQL refuses bad JSON and non-boolean values itself")
    merged = MergedContact(41, None, None, Merge(local_changes=dict(CONTACT), base=dict(CONTACT)), "d")
    with store.write() as tx:
        store.save_merges(tx, [merged], policy="remote-wins")
        tx.execute(text("UPDATE contacts SET phones = '{not json', is_primary = 'no' WHERE id = 41"))
    with store.read() as tx:
        local, bases = store.load_page_state(tx, [41])
    assert local[41].record["phones"] == UnreadableJSON("{not json")
    assert local[41].record["is_primary"] == "no"
    kept = {"phones": local[41].record["phones"], "is_primary": "no", "first_name": "Zed"}
    again = MergedContact(41, local[41], bases[41], Merge(local_changes=kept, base=bases[41].fields), "d2")
    with store.write() as tx:
        store.save_merges(tx, [again], policy="remote-wins")
    assert stored_text(store, 41)["phones"] == "{not json"
    assert stored_text(store, 41)["is_primary"] == "no"
    assert stored_text(store, 41)["first_name"] == "Zed"
