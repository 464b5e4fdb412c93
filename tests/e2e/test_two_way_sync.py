"""Two-way sync against the real sandbox over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from sync.apis.lev.fields import CONTACT_FIELDS
from tests.conftest import Harness


def writes_sent(harness: Harness) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (entry.method, entry.path.split("?")[0], json.loads(entry.body))
        for entry in harness.sandbox.state.request_log()
        if entry.method in ("POST", "PATCH")
    ]


def assert_same_contact(local: dict[str, Any], remote: dict[str, Any]) -> None:
    for name in CONTACT_FIELDS:
        assert local[name] == remote[name], f"contact {remote['id']}: {name} differs"


def first_synced_row(harness: Harness) -> dict[str, Any]:
    return harness.table.execute("SELECT * FROM contacts WHERE id IS NOT NULL ORDER BY id LIMIT 1")[0]


def test_first_sync_copies_every_connected_contact(harness: Harness) -> None:
    """The first sync stores each connected contact, field by field, and nothing else."""
    result = harness.sync()
    assert result.outcome == "ok", result.error
    connected = [c for c in harness.sandbox.state.all_contacts() if c["is_connected"]]
    rows = {row["id"]: row for row in harness.table.execute("SELECT * FROM contacts")}
    assert set(rows) == {c["id"] for c in connected}
    for contact in connected:
        assert_same_contact(rows[contact["id"]], contact)
    pages = -(-len(connected) // 200)
    lists = [e for e in harness.sandbox.state.request_log() if e.path.startswith("/api/external/v2/contacts")]
    assert len(lists) == pages
    assert result.counts["requests"] == pages + 1  # and one GET /me: whose account, what budget


def test_second_sync_changes_nothing_and_sends_nothing(harness: Harness) -> None:
    """A sync right after a sync makes only the list requests and writes no row."""
    harness.sync()
    before = harness.table.execute("SELECT * FROM contacts ORDER BY local_id")
    result = harness.sync()
    assert result.counts["inserted"] == result.counts["local_updated"] == 0
    assert writes_sent(harness) == []
    assert harness.table.execute("SELECT * FROM contacts ORDER BY local_id") == before


def test_local_edits_become_patches_with_only_the_changed_fields(harness: Harness) -> None:
    """A plain SQL UPDATE reaches the API as one PATCH carrying only the edited fields."""
    harness.sync()
    row = first_synced_row(harness)
    harness.table.update(
        row["local_id"],
        title="Chief Llama Officer",
        city="Zürich",
        phones=[{"raw": "(212) 555-0199", "type": "office"}],
    )
    result = harness.sync()
    assert result.counts["updated"] == 1
    assert writes_sent(harness) == [
        (
            "PATCH",
            f"/api/external/v2/contacts/{row['id']}",
            {
                "title": "Chief Llama Officer",
                "city": "Zürich",
                "phones": [{"raw": "(212) 555-0199", "type": "office"}],
            },
        )
    ]
    remote = harness.remote(row["id"])
    assert (remote["title"], remote["city"]) == ("Chief Llama Officer", "Zürich")
    assert remote["phones"][0]["e164"] == "+12125550199"
    # The normalised phone comes back into the row, and nothing is left to send.
    assert harness.table.row(local_id=row["local_id"])["phones"] == remote["phones"]
    harness.sync()
    assert len(writes_sent(harness)) == 1


def test_value_changed_and_changed_back_sends_nothing(harness: Harness) -> None:
    """An edit undone before the next sync is no change at all."""
    harness.sync()
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], title="Temporary")
    harness.table.update(row["local_id"], title=row["title"])
    harness.sync()
    assert writes_sent(harness) == []


def test_local_insert_creates_exactly_one_remote_contact(harness: Harness) -> None:
    """A row inserted with id NULL becomes one remote contact, whose id lands on the row."""
    harness.sync()
    before = len(harness.sandbox.state.all_contacts())
    local_id = harness.table.insert(
        contact_type="sponsor", company_id=3, first_name="Łucja", last_name="Nowak", email="lucja@example.com"
    )
    harness.sync()
    harness.sync()
    contacts = harness.sandbox.state.all_contacts()
    assert len(contacts) == before + 1
    row = harness.table.row(local_id=local_id)
    remote = harness.remote(row["id"])
    assert (remote["first_name"], remote["company_id"], remote["is_connected"]) == ("Łucja", 3, False)
    assert_same_contact(row, remote)
    assert [w[0] for w in writes_sent(harness)] == ["POST"]


def test_remote_edits_come_down(harness: Harness) -> None:
    """An edit made by another user on the API side reaches the local row."""
    harness.sync()
    row = first_synced_row(harness)
    harness.sandbox.state.admin_edit(row["id"], {"department": "Capital Markets", "zip": "02110"})
    result = harness.sync()
    assert result.counts["local_updated"] == 1
    local = harness.table.row(local_id=row["local_id"])
    assert (local["department"], local["zip"]) == ("Capital Markets", "02110")
    assert_same_contact(local, harness.remote(row["id"]))


def test_edits_to_different_fields_on_both_sides_both_survive(harness: Harness) -> None:
    """A local edit of one field and a remote edit of another merge without a conflict."""
    harness.sync()
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], title="Local Title")
    harness.sandbox.state.admin_edit(row["id"], {"city": "Remote City"})
    result = harness.sync()
    assert result.counts["conflicts"] == 0
    local = harness.table.row(local_id=row["local_id"])
    remote = harness.remote(row["id"])
    assert (local["title"], local["city"]) == ("Local Title", "Remote City")
    assert (remote["title"], remote["city"]) == ("Local Title", "Remote City")


@pytest.mark.parametrize(
    ("policy", "local_after", "remote_after", "open_conflicts"),
    [
        ("remote-wins", "Remote", "Remote", 0),
        ("local-wins", "Local", "Local", 0),
        ("manual", "Local", "Remote", 1),
    ],
)
def test_same_field_conflict_follows_the_policy_and_is_recorded(
    harness: Harness, policy: str, local_after: str, remote_after: str, open_conflicts: int
) -> None:
    """The same field edited on both sides is settled by the policy and kept with both values."""
    harness.sync()
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], title="Local")
    harness.sandbox.state.admin_edit(row["id"], {"title": "Remote"})
    result = harness.sync(conflict_policy=policy)
    assert result.counts["conflicts"] == 1
    assert harness.table.row(local_id=row["local_id"])["title"] == local_after
    assert harness.remote(row["id"])["title"] == remote_after
    recorded = harness.table.execute("SELECT * FROM conflicts")
    assert len(recorded) == 1
    assert recorded[0]["field"] == "title"
    values = (recorded[0]["local_value"], recorded[0]["remote_value"])
    if not harness.table.is_postgres:  # bookkeeping JSON is text on SQLite
        values = tuple(json.loads(v) for v in values)
    assert set(values) == {"Local", "Remote"}
    assert result.counts["open_conflicts"] == open_conflicts
    assert result.exit_code == (1 if open_conflicts else 0)
    # A second run neither flips the outcome nor records the conflict twice.
    harness.sync(conflict_policy=policy)
    assert len(harness.table.execute("SELECT * FROM conflicts")) == 1


def test_a_bad_new_row_is_refused_locally_and_the_others_still_go(harness: Harness) -> None:
    """A new row without a valid contact_type is refused with its reason and no request."""
    harness.sync()
    bad = harness.table.insert(contact_type="investor", company_id=2, first_name="Bad")
    good = harness.table.insert(contact_type="sponsor", company_id=2, first_name="Good")
    result = harness.sync()
    assert result.outcome == "attention" and result.exit_code == 1
    assert [w[2]["first_name"] for w in writes_sent(harness)] == ["Good"]
    refused = harness.table.execute("SELECT * FROM writes WHERE status = 'refused'")
    assert [(r["local_id"], "contact_type" in r["error"]) for r in refused] == [(bad, True)]
    assert harness.table.row(local_id=good)["id"] is not None
    harness.sync()  # not refused twice, not sent
    assert len(harness.table.execute("SELECT * FROM writes")) == 1


def test_a_write_the_api_rejects_is_recorded_and_not_resent(harness: Harness) -> None:
    """A 422 on a write is recorded with its message and request_id and not sent again."""
    harness.sync()
    local_id = harness.table.insert(contact_type="sponsor", company_id=999_999, first_name="Nowhere")
    result = harness.sync()
    assert result.counts["rejected"] == 1
    rejected = harness.table.execute("SELECT * FROM writes WHERE status = 'rejected'")
    assert rejected[0]["local_id"] == local_id and rejected[0]["http_status"] == 422
    assert rejected[0]["request_id"]
    harness.sync()
    assert len(writes_sent(harness)) == 1


def test_email_change_is_refused_without_blocking_other_fields(harness: Harness) -> None:
    """The API cannot change emails: that edit is refused, the rest of the row still syncs."""
    harness.sync()
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], email="new@example.com", title="Still Sent")
    result = harness.sync()
    assert writes_sent(harness) == [
        ("PATCH", f"/api/external/v2/contacts/{row['id']}", {"title": "Still Sent"})
    ]
    assert result.counts["waiting_rejections"] == 1
    harness.table.update(row["local_id"], email=row["email"])  # the person reverts it
    assert harness.sync().outcome == "ok"


def test_rate_limit_wait_is_taken_from_the_body(harness: Harness) -> None:
    """A 429 is retried after at least the body's retry_after_seconds."""
    harness.sandbox.state.set_faults("429=0.3@1")
    with capture_logs() as events:
        result = harness.sync()
    assert result.outcome == "ok"
    assert result.counts["rate_limited"] == 1
    waits = [e["wait_seconds"] for e in events if e["event"] == "http.retry"]
    assert waits and waits[0] >= 0.3


@pytest.mark.parametrize(
    "fault", ["500@1+3", "503@2", "html502@1", "drop-before@1+2", "malformed@1", "empty200@2"]
)
def test_pull_recovers_from_server_faults(harness: Harness, fault: str) -> None:
    """5xx, proxy pages, garbled answers and dropped connections are retried to success."""
    harness.sandbox.state.set_faults(fault)
    result = harness.sync()
    assert result.outcome == "ok", result.error
    connected = [c for c in harness.sandbox.state.all_contacts() if c["is_connected"]]
    assert result.counts["pulled"] == len(connected)


@pytest.mark.parametrize(
    "fault", ["drop-after@1/WRITE", "malformed@1/WRITE", "500@1/WRITE", "drop-before@1/WRITE"]
)
def test_writes_survive_faults_and_apply_once(harness: Harness, fault: str) -> None:
    """A write whose answer is lost is resent with its key and applied exactly once."""
    harness.sync()
    harness.sandbox.state.set_faults(fault)
    harness.table.insert(contact_type="sponsor", company_id=1, first_name="Once")
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], title="Once Only")
    result = harness.sync()
    assert result.outcome == "ok", result.error
    created = [c for c in harness.sandbox.state.all_contacts() if c["first_name"] == "Once"]
    assert len(created) == 1
    keys = [
        e.headers.get("Idempotency-Key") for e in harness.sandbox.state.request_log() if e.method == "POST"
    ]
    assert len(set(keys)) == 1
    assert harness.table.row(first_name="Once")["id"] == created[0]["id"]


def test_an_interrupted_pull_resumes_from_its_cursor(harness: Harness) -> None:
    """A pull that fails on page 2 keeps page 1 and resumes from its cursor next time."""
    harness.sandbox.state.set_faults("500@2-20")
    failed = harness.sync(retry_attempts=2)
    assert failed.outcome == "failed" and failed.exit_code == 3
    assert "500" in (failed.error or "")
    assert len(harness.table.execute("SELECT id FROM contacts")) == 200
    harness.sandbox.state.set_faults("")
    harness.sandbox.state.reset_log()
    assert harness.sync().outcome == "ok"
    paths = [e.path for e in harness.sandbox.state.request_log() if e.endpoint != "GET /me"]
    assert len(paths) == 1 and "cursor=" in paths[0]


def test_a_saved_cursor_the_server_rejects_restarts_the_walk(harness: Harness) -> None:
    """A checkpointed cursor answered with 400 starts the walk again from the first page."""
    harness.sync()
    harness.table.execute(
        "INSERT INTO checkpoints (name, value, updated_at) VALUES ('pull.cursor', 'bm9wZQ==', 'now') "
        "ON CONFLICT (name) DO UPDATE SET value = 'bm9wZQ=='"
    )
    result = harness.sync()
    assert result.outcome == "ok", result.error
    assert result.counts["pulled"] > 200


def test_a_disconnected_contact_is_flagged_not_deleted(harness: Harness) -> None:
    """A contact the list stops returning keeps its row, flagged as not connected."""
    harness.sync()
    row = first_synced_row(harness)
    harness.sandbox.state.disconnect(row["id"])
    result = harness.sync()
    assert result.counts["disconnected"] == 1
    assert harness.table.row(local_id=row["local_id"])["is_connected"] is False


def test_an_emptied_account_is_refused_not_mirrored(harness: Harness) -> None:
    """A pull that would flag most contacts at once stops and says why."""
    harness.sync()
    for contact in harness.sandbox.state.all_contacts()[:200]:
        harness.sandbox.state.disconnect(contact["id"])
    result = harness.sync()
    assert result.outcome == "failed"
    assert "no longer lists" in (result.error or "")
    connected = harness.table.execute("SELECT count(*) AS n FROM contacts WHERE is_connected")[0]["n"]
    assert connected > 200


def test_bad_token_stops_the_run(harness: Harness) -> None:
    """A 401 fails the run at once with advice, and the token is not in the message."""
    settings = harness.settings()
    object.__setattr__(settings, "api_token", type(settings.api_token)("lev_sk_wrong_secret"))
    from sync.runner import run_once

    result = run_once(settings, store=harness.store)
    assert result.outcome == "failed"
    assert "CONTACTS_SYNC_API_TOKEN" in (result.error or "")
    assert "lev_sk_wrong_secret" not in (result.error or "")


def test_every_request_the_client_sends_matches_the_openapi_document(harness: Harness) -> None:
    """Lists, PATCHes (cleared fields, phones) and POSTs all validate against the published schemas."""
    from tests.openapi_check import validate_exchange

    harness.sync()
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], title=None, phones=[{"raw": "+44 20 7946 0958", "country": "GB"}])
    harness.table.insert(contact_type="lender_contact", company_id=2, first_name="Schema", is_primary=True)
    harness.sync()
    log = harness.sandbox.state.request_log()
    assert {entry.method for entry in log} == {"GET", "PATCH", "POST"}
    for entry in log:
        validate_exchange(entry)


def test_the_planner_reads_only_rows_written_since_it_last_looked(harness: Harness) -> None:
    """Triggers mark rows other programs write; a sync consumes the marks, an edit adds one."""
    harness.sync()
    assert harness.table.execute("SELECT * FROM local_changes") == []
    row = first_synced_row(harness)
    harness.table.update(row["local_id"], department="Marked")
    assert [m["local_id"] for m in harness.table.execute("SELECT local_id FROM local_changes")] == [
        row["local_id"]
    ]
    harness.sync()
    assert harness.remote(row["id"])["department"] == "Marked"
    # Rows the worker writes itself (the pull, the PATCH's answer) leave no marks behind.
    assert harness.table.execute("SELECT * FROM local_changes") == []
