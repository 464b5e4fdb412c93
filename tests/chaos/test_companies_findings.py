"""What the company-contacts chaos suites found in the engine, the store and the client, one test each.

A test whose bug stands is marked `xfail(strict=True)`, with the proposed fix in its
reason: the suite stays green, and the mark must go once the fix lands (a strict
xfail that passes fails the run). Unmarked tests are findings already fixed, kept
as regression tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.apis.companies.sandbox.testing import running_sandbox
from tests.e2e.test_companies_sync import CompaniesHarness


@pytest.fixture
def small(tmp_path: Path) -> Iterator[CompaniesHarness]:
    with running_sandbox(accounts=1, companies=1, contacts_per_company=6, seed=3) as sandbox:
        harness = CompaniesHarness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}", companies=1)
        try:
            yield harness
        finally:
            harness.close()


def test_a_held_local_delete_conflict_is_counted_once_not_by_every_run(small: CompaniesHarness) -> None:
    """Manual policy, row deleted here, contact edited there: the run that meets it counts one
    conflict; later runs that find the same open conflict count none."""
    assert small.sync(conflict_policy="manual").outcome == "ok"
    row = next(iter(small.rows().values()))
    small.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": row["local_id"]})
    small.sandbox.state.admin_edit(row["id"], {"designation": "Edited there"})

    first = small.sync(conflict_policy="manual")
    again = small.sync(conflict_policy="manual")

    assert first.counts["conflicts"] == 1
    assert len(small.table.execute("SELECT * FROM conflicts")) == 1
    assert again.counts["conflicts"] == 0, "the same open conflict was counted again"


def test_a_row_that_twins_an_existing_contact_is_created_even_when_its_post_fails_first(
    small: CompaniesHarness,
) -> None:
    """A new row with every field of an existing contact (the API allows duplicates) whose first
    POST is refused by a proxy (503: unknown outcome, so the lookup runs) must still become a
    contact of its own, not be linked to, or refused because of, the contact it twins."""
    assert small.sync().outcome == "ok"
    twin = small.sandbox.state.all_contacts(small.company_ids[0])[0]
    fields = ("company_id", "first_name", "last_name", "email", "phone", "designation", "is_primary")
    local_id = small.table.insert(**{name: twin[name] for name in fields})
    small.sandbox.state.set_faults("503@1/POST")

    result = small.sync()

    assert result.outcome == "ok", result.error
    row = small.table.row(local_id=local_id)
    assert row["id"] is not None and row["id"] != twin["id"], small.table.execute("SELECT * FROM writes")
    assert len([c for c in small.sandbox.state.all_contacts() if c["email"] == twin["email"]]) >= 2


def test_a_lost_create_edited_by_someone_else_before_the_retry_is_still_adopted(
    small: CompaniesHarness,
) -> None:
    """The POST is applied and its answer lost (the run gives up: one attempt); another user edits
    the new contact's designation; the next run must adopt it, not create it again."""
    assert small.sync().outcome == "ok"
    small.table.insert(company_id=small.company_ids[0], first_name="Once", email="once@example.com")
    small.sandbox.state.set_faults("drop-after@1/POST")
    assert small.sync(retry_attempts=1).outcome == "failed"
    (made,) = [c for c in small.sandbox.state.all_contacts() if c["email"] == "once@example.com"]
    small.sandbox.state.admin_edit(made["id"], {"designation": "Edited meanwhile"})

    result = small.sync()

    assert result.outcome == "ok", result.error
    assert len([c for c in small.sandbox.state.all_contacts() if c["email"] == "once@example.com"]) == 1


def test_a_row_deleted_while_its_create_is_unsettled_is_deleted_at_the_api(small: CompaniesHarness) -> None:
    """Insert a row; its POST is applied but the answer lost (the run gives up); another program
    deletes the row; clean syncs must end with neither the row nor the contact."""
    assert small.sync().outcome == "ok"
    company = small.company_ids[0]
    local_id = small.table.insert(company_id=company, first_name="Gone", email="gone@example.com")
    small.sandbox.state.set_faults("drop-after@1/POST")
    assert small.sync(retry_attempts=1).outcome == "failed"
    small.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": local_id})

    assert small.sync().outcome == "ok"
    assert small.sync().outcome == "ok"

    assert small.table.execute("SELECT * FROM contacts WHERE email = 'gone@example.com'") == []
    assert [c for c in small.sandbox.state.all_contacts() if c["email"] == "gone@example.com"] == []


def test_a_held_remote_delete_whose_row_is_then_deleted_here_is_closed(small: CompaniesHarness) -> None:
    """Manual policy: the API deletes a contact whose row has local edits (held); then another
    program deletes the row. Nothing is left to decide: no open conflict, no orphan state."""
    assert small.sync(conflict_policy="manual").outcome == "ok"
    row = next(iter(small.rows().values()))
    small.table.update(row["local_id"], designation="Edited here")
    small.sandbox.state.admin_delete(row["id"])
    assert small.sync(conflict_policy="manual").outcome == "attention"
    small.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": row["local_id"]})

    small.sync(conflict_policy="manual")

    assert small.table.execute("SELECT * FROM conflicts WHERE status = 'open'") == []
    assert small.table.execute("SELECT * FROM sync_state WHERE local_id = :l", {"l": row["local_id"]}) == []


def test_a_row_deleted_while_a_field_conflict_is_open_asks_the_right_question(
    small: CompaniesHarness,
) -> None:
    """Manual policy: both sides edit one field (an open conflict); another program then deletes
    the row. The open question must be about the deletion, not about a field of a missing row."""
    assert small.sync(conflict_policy="manual").outcome == "ok"
    row = next(iter(small.rows().values()))
    small.table.update(row["local_id"], designation="Mine")
    small.sandbox.state.admin_edit(row["id"], {"designation": "Theirs"})
    assert small.sync(conflict_policy="manual").outcome == "attention"
    small.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": row["local_id"]})

    small.sync(conflict_policy="manual")

    waiting = small.table.execute("SELECT field FROM conflicts WHERE status = 'open'")
    assert [c["field"] for c in waiting] == ["(deleted)"]


def test_twin_rows_whose_answers_are_lost_in_parallel_each_get_their_own_contact(
    small: CompaniesHarness,
) -> None:
    """Three new rows with the same fields; their three POSTs are applied and the answers lost;
    pushed four at a time, each row must still end with a contact of its own. A race: tried three
    times, so that it shows whenever the bug is there."""
    assert small.sync().outcome == "ok"
    for attempt in range(3):
        fields = {
            "company_id": small.company_ids[0],
            "first_name": "Twin",
            "email": f"twin{attempt}@example.com",
        }
        rows = [small.table.insert(**fields) for _ in range(3)]
        small.sandbox.state.set_faults("drop-after@1-3/POST")
        small.sandbox.state.latency_ms = 40  # every request slow enough for the three pushes to overlap

        small.sync(write_concurrency=4)
        small.sandbox.state.latency_ms = 0
        small.sync(write_concurrency=4)

        ids = [small.table.row(local_id=local_id)["id"] for local_id in rows]
        assert None not in ids and len(set(ids)) == 3, f"attempt {attempt}: {ids}"
