"""Bad input from every side: broken API answers, broken local rows, broken settings and databases.

API answers come from `fakeapi.FakeApi`, a real socket on loopback serving
canned bytes; each bad answer must fail the run, name the request, and leave
the store as it was (a dump of every table, leaving out run history and the
lock holder and pacing checkpoints). Bad local rows are refused before any
request, naming the row and field, while the other writes go. Bad settings and
damaged or foreign database files make the CLI exit 2 or 3 with one line on
stderr and no traceback.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings, load_settings
from storage.status import load_status
from storage.store import Store
from sync.apis.lev.sandbox.contacts import public_view
from sync.apis.lev.sandbox.seed import seed_contacts
from sync.runner import RunResult, run_once
from sync.status_text import render_status
from tests.chaos.checks import SOAK, dump_store, load_tables
from tests.chaos.fakeapi import Answer, FakeApi, Request, Responder
from tests.conftest import Harness, synced_harness

RID = "req-bad-input-0001"
IGNORED_CHECKPOINTS = ("lock.holder", "pacing.")
CONTACTS = [public_view(record) for record in seed_contacts(4, 0)]
HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


def envelope(
    data: Any = CONTACTS, *, has_more: bool = False, cursor: Any = None, **extra: Any
) -> dict[str, Any]:
    return {
        "request_id": RID,
        "timestamp": "2026-03-01T00:00:00Z",
        "data": copy.deepcopy(data),
        "pagination": {"has_more": has_more, "next_cursor": cursor},
        **extra,
    }


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def contact(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CONTACTS[0]), **changes}


def pages(*answers: Answer) -> Responder:
    """Page i answers the cursor 'c<i>' (the first page has none)."""

    def respond(request: Request) -> Answer:
        cursor = request.query.get("cursor")
        return answers[0 if cursor is None else int(cursor.removeprefix("c"))]

    return respond


@dataclass(frozen=True)
class Bad:
    """One bad answer; `cursor` is what the walk may commit before it (pages that were fine)."""

    answer: Answer | Responder
    has_request_id: bool = True
    cursor: str | None = None


def raw(body: bytes, content_type: str = "application/json", status: int = 200, **headers: str) -> Answer:
    return Answer(status, body, content_type, headers)


LIST_ANSWERS: dict[str, Bad] = {
    "data-not-a-list": Bad(Answer.json(envelope({"id": 101}))),
    "data-missing": Bad(Answer.json(without(envelope(), "data"))),
    "data-null": Bad(Answer.json(envelope(None))),
    "pagination-missing": Bad(Answer.json(without(envelope(), "pagination"))),
    "has-more-not-boolean": Bad(Answer.json({**envelope(), "pagination": {"has_more": "false"}})),
    "has-more-without-cursor": Bad(Answer.json(envelope(has_more=True, cursor=None))),
    "cursor-not-text": Bad(Answer.json(envelope(has_more=True, cursor=42))),
    "contact-not-an-object": Bad(Answer.json(envelope(["101"]))),
    "null-id": Bad(Answer.json(envelope([contact(id=None)]))),
    "id-as-text": Bad(Answer.json(envelope([contact(id="101")]))),
    "id-as-boolean": Bad(Answer.json(envelope([contact(id=True)]))),
    "id-not-a-number": Bad(
        raw(json.dumps(envelope([contact(id=0)])).replace('"id": 0', '"id": NaN').encode())
    ),
    "text-as-number": Bad(Answer.json(envelope([contact(first_name=42)]))),
    "boolean-as-text": Bad(Answer.json(envelope([contact(is_primary="yes")]))),
    "phones-as-object": Bad(Answer.json(envelope([contact(phones={"raw": "212 555 0100"})]))),
    "timestamp-as-number": Bad(Answer.json(envelope([contact(updated_at=1_700_000_000)]))),
    "oversized-string": Bad(Answer.json(envelope([contact(title="x" * 70_000)]))),
    "duplicate-id-in-a-page": Bad(Answer.json(envelope([CONTACTS[0], CONTACTS[0]]))),
    "not-utf-8": Bad(
        raw(json.dumps(envelope([contact(first_name="Zoë")]), ensure_ascii=False).encode("latin-1")), False
    ),
    "empty-200": Bad(raw(b""), False),
    "whitespace-200": Bad(raw(b" \r\n "), False),
    "html-200": Bad(raw(HTML, "text/html"), False),
    "html-502": Bad(raw(HTML, "text/html", 502), False),
    "json-array": Bad(raw(b"[]"), False),
    "truncated-json": Bad(raw(json.dumps(envelope()).encode()[:120]), False),
    "deeply-nested-json": Bad(raw(b"[" * 100_000 + b"]" * 100_000), False),
    "gzip-header-on-plain-body": Bad(
        raw(json.dumps(envelope()).encode(), **{"Content-Encoding": "gzip"}), False
    ),
    "error-envelope-400": Bad(
        Answer.json({"request_id": RID, "error": {"status": 400, "message": "Bad"}}, 400)
    ),
    "duplicate-id-across-pages": Bad(
        pages(
            Answer.json(envelope(CONTACTS, has_more=True, cursor="c1")),
            Answer.json(envelope(CONTACTS[:1])),
        ),
        cursor="c1",
    ),
    "cursor-repeats": Bad(
        pages(
            Answer.json(envelope(CONTACTS[:2], has_more=True, cursor="c1")),
            Answer.json(envelope(CONTACTS[2:], has_more=True, cursor="c1")),
        ),
        cursor="c1",
    ),
    "cursor-cycles": Bad(
        pages(
            Answer.json(envelope(CONTACTS[:2], has_more=True, cursor="c1")),
            Answer.json(envelope(CONTACTS[2:3], has_more=True, cursor="c2")),
            Answer.json(envelope(CONTACTS[3:], has_more=True, cursor="c1")),
        ),
        cursor="c2",
    ),
}
# Once taken as good (found by this suite): an id past 64 bits, junk inside the lists.
LIST_ANSWERS |= {
    "id-beyond-64-bits": Bad(Answer.json(envelope([contact(id=2**63)]))),
    "phone-entries-not-objects": Bad(Answer.json(envelope([contact(phones=[42, "x"])]))),
    "contact-types-not-text": Bad(Answer.json(envelope([contact(contact_types=[1, None])]))),
}


def write_answers(kind: str) -> dict[str, Bad]:
    """Bad answers to a POST or PATCH of CONTACTS[0] (or of a new contact)."""
    good = {**CONTACTS[0], "title": "Edited"} if kind == "PATCH" else {**CONTACTS[0], "id": 9001}
    body = {"request_id": RID, "timestamp": "2026-03-01T00:00:00Z", "data": good}
    return {
        "empty-200": Bad(raw(b""), False),
        "html-200": Bad(raw(HTML, "text/html"), False),
        "html-502": Bad(raw(HTML, "text/html", 502), False),
        "not-json": Bad(raw(b"Created!"), False),
        "json-array": Bad(raw(b"[1]"), False),
        "truncated-json": Bad(raw(json.dumps(body).encode()[:60]), False),
        "not-utf-8": Bad(
            raw(
                json.dumps({**body, "data": {**good, "city": "Zürich"}}, ensure_ascii=False).encode("latin-1")
            ),
            False,
        ),
        "data-missing": Bad(Answer.json(without(body, "data"))),
        "data-null": Bad(Answer.json({**body, "data": None})),
        "null-id": Bad(Answer.json({**body, "data": {**good, "id": None}})),
        "id-as-text": Bad(Answer.json({**body, "data": {**good, "id": str(good["id"])}})),
        "text-as-number": Bad(Answer.json({**body, "data": {**good, "title": 7}})),
        "phones-as-text": Bad(Answer.json({**body, "data": {**good, "phones": "212 555 0100"}})),
        "oversized-string": Bad(Answer.json({**body, "data": {**good, "city": "y" * 70_000}})),
    }


# --- the fake API and a store synced with it ---------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi() as fake:
        fake.answer("GET /contacts", Answer.json(envelope()))
        yield fake


@dataclass
class Synced:
    api: FakeApi
    store: Store
    db_path: Path
    settings: Settings

    def run(self) -> RunResult:
        return run_once(self.settings, store=self.store)

    def dump(self) -> dict[str, list[Any]]:
        return dump_store(self.db_path, ignore_checkpoints=IGNORED_CHECKPOINTS)

    def local(self, sql: str, *params: Any) -> None:
        db = sqlite3.connect(self.db_path)
        try:
            db.execute(sql, params)
            db.commit()
        finally:
            db.close()


@pytest.fixture
def synced(api: FakeApi, tmp_path: Path) -> Iterator[Synced]:
    """A store synced once with the fake API's four contacts."""
    db_path = tmp_path / "contacts.db"
    settings, _ = load_settings(
        environ={
            "CONTACTS_SYNC_API_URL": api.base_url,
            "CONTACTS_SYNC_API_TOKEN": "lev_sk_fake",
            "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{db_path}",
            "CONTACTS_SYNC_RETRY_ATTEMPTS": "2",
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
            "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.02",
            "CONTACTS_SYNC_TIMEOUT_SECONDS": "5",
        }
    )
    store = Store.open(settings.database_url)
    try:
        synced = Synced(api, store, db_path, settings)
        first = synced.run()
        assert first.outcome == "ok", first.error
        assert len(load_tables(db_path)["contacts"]) == len(CONTACTS)
        yield synced
    finally:
        store.close()


def fails_cleanly(synced: Synced, bad: Bad, request: str, *, pulled: bool = False) -> RunResult:
    """Run once against the bad answer: failed, naming the request, the store as before.

    `pulled`: a leftover write that fails as retryable (a proxy's 5xx) no longer holds back
    the pull, so the walk's checkpoints move (no contact changes: the API did not).
    """
    before = synced.dump()
    synced.api.forget_requests()
    result = synced.run()
    assert result.outcome == "failed", f"a bad answer was taken: {result}"
    assert request in (result.error or ""), f"the error does not name {request!r}: {result.error}"
    if bad.has_request_id:
        assert RID in (result.error or ""), (
            f"the error does not quote the answer's request_id: {result.error}"
        )
    after = synced.dump()
    if bad.cursor is not None:  # the good pages before the bad one are committed, with their cursor
        saved = {c["name"]: c["value"] for c in after["checkpoints"]}
        assert saved.get("pull.cursor") == bad.cursor, "the walk did not keep the last good page's cursor"
        for dump in (before, after):
            # The walk's progress travels with its cursor, committed with each good page.
            dump["checkpoints"] = [
                c for c in dump["checkpoints"] if c["name"] not in ("pull.cursor", "pull.walk")
            ]
    if pulled:
        for dump in (before, after):
            dump["checkpoints"] = [c for c in dump["checkpoints"] if not c["name"].startswith("pull.")]
    assert after == before, "the store changed although the answer was bad"
    return result


# --- list answers -------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(LIST_ANSWERS))
def test_bad_list_answer_fails_the_run_and_changes_nothing(synced: Synced, case: str) -> None:
    """A list answer outside the envelope fails the run, names the request and request_id, stores nothing."""
    bad = LIST_ANSWERS[case]
    # Pending local work the failed run must not touch.
    synced.local("UPDATE contacts SET title = 'Local edit' WHERE id = ?", CONTACTS[1]["id"])
    synced.local("INSERT INTO contacts (contact_type, company_id, first_name) VALUES ('sponsor', 1, 'New')")
    synced.api.answer("GET /contacts", bad.answer)
    fails_cleanly(synced, bad, "GET /contacts")
    assert {r.method for r in synced.api.requests} == {"GET"}, "a write went out after a bad list answer"


# --- write answers ------------------------------------------------------------------------


def pending_write(synced: Synced, kind: str) -> tuple[str, str]:
    """Leave one write pending (its first run met 503s); its request line and key."""
    if kind == "PATCH":
        synced.local("UPDATE contacts SET title = 'Edited' WHERE id = ?", CONTACTS[0]["id"])
        request = f"PATCH /contacts/{CONTACTS[0]['id']}"
    else:
        synced.local(
            "INSERT INTO contacts (contact_type, company_id, first_name) VALUES ('sponsor', 1, 'New')"
        )
        request = "POST /contacts"
    unavailable = Answer.json({"request_id": "req-503", "error": {"status": 503, "message": "Down"}}, 503)
    synced.api.answer(f"{kind} /contacts" + ("/{id}" if kind == "PATCH" else ""), unavailable)
    assert synced.run().outcome == "failed"
    (write,) = load_tables(synced.db_path)["writes"]
    assert write["status"] == "pending"
    return request, write["idempotency_key"]


WRITE_SAMPLE = {
    "empty-200",
    "html-502",
    "truncated-json",
    "not-utf-8",
    "data-null",
    "null-id",
    "oversized-string",
}


@pytest.mark.parametrize("kind", ["POST", "PATCH"])
@pytest.mark.parametrize("case", sorted(c for c in write_answers("POST") if SOAK or c in WRITE_SAMPLE))
def test_bad_write_answer_fails_the_run_and_keeps_the_write_pending(
    synced: Synced, kind: str, case: str
) -> None:
    """A garbled answer to a write fails the run, names the request and keeps the write pending, same key."""
    request, key = pending_write(synced, kind)
    bad = write_answers(kind)[case]
    synced.api.answer(f"{kind} /contacts" + ("/{id}" if kind == "PATCH" else ""), bad.answer)
    fails_cleanly(synced, bad, request, pulled=case == "html-502")
    keys = {r.headers.get("Idempotency-Key") for r in synced.api.requests if r.method == kind}
    assert keys == {key}, "the write was resent under another key"


def test_patch_answered_with_another_contact_fails_naming_the_request(synced: Synced) -> None:
    """A PATCH answered with a different contact's id is a bad answer naming the request and request_id."""
    request, _ = pending_write(synced, "PATCH")
    bad = Bad(Answer.json({"request_id": RID, "data": {**CONTACTS[1], "title": "Edited"}}))
    synced.api.answer("PATCH /contacts/{id}", bad.answer)
    fails_cleanly(synced, bad, request)


@pytest.mark.parametrize(
    "answer",
    [
        raw(b"not json"),
        Answer.json({"request_id": RID, "data": "tier"}),
        Answer.json({"request_id": RID, "data": {"account": {"slug": "no-id"}}}),
        raw(HTML, "text/html", 502),
    ],
    ids=["not-json", "data-not-an-object", "account-without-id", "html-502"],
)
def test_bad_me_answer_stops_the_run_before_anything_is_pulled(tmp_path: Path, answer: Answer) -> None:
    """A garbled GET /me cannot tell whose account it is: the run fails naming it and stores nothing."""
    with FakeApi() as fake:
        fake.answer("GET /contacts", Answer.json(envelope()))
        fake.answer("GET /me", answer)
        settings, _ = load_settings(
            environ={
                "CONTACTS_SYNC_API_URL": fake.base_url,
                "CONTACTS_SYNC_API_TOKEN": "lev_sk_fake",
                "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'contacts.db'}",
                "CONTACTS_SYNC_RETRY_ATTEMPTS": "2",
                "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
            }
        )
        store = Store.open(settings.database_url)
        try:
            result = run_once(settings, store=store)
        finally:
            store.close()
        routes = {r.route for r in fake.requests}
    assert result.outcome == "failed" and "GET /me" in (result.error or ""), result
    assert routes == {"GET /me"}, routes
    tables = load_tables(tmp_path / "contacts.db")
    assert tables["contacts"] == [] and not any(c["name"] == "binding" for c in tables["checkpoints"])


# --- bad local rows -----------------------------------------------------------------------

# name: (columns of a new row, or an edit of a synced row; the field the reason must name)
BAD_NEW_ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-contact-type": ({"contact_type": "investor"}, "contact_type"),
    "no-contact-type": ({"contact_type": None}, "contact_type"),
    "missing-company": ({"company_id": None}, "company_id"),
    "company-as-text": ({"company_id": "abc"}, "company_id"),
    "company-negative": ({"company_id": -4}, "company_id"),
    "malformed-email": ({"email": "someone@"}, "email"),
    "unparseable-phone": ({"phones": json.dumps([{"raw": "call me maybe"}])}, "phones"),
    "phones-not-json": ({"phones": "not json"}, "phones"),
    "phones-not-a-list": ({"phones": json.dumps({"raw": "212 555 0100"})}, "phones"),
    "phone-type-unknown": ({"phones": json.dumps([{"raw": "212 555 0100", "type": "pager"}])}, "phones"),
    "impossible-phone": ({"phones": json.dumps([{"raw": "123"}])}, "phones"),
    "is-primary-as-text": ({"is_primary": "yes"}, "is_primary"),
    "is-primary-as-blob": ({"is_primary": b"\x01"}, "is_primary"),
    "name-as-blob": ({"first_name": b"\xff\xfe"}, "first_name"),
}
BAD_EDITS: dict[str, tuple[dict[str, Any], str]] = {
    "phones-not-json": ({"phones": "not json"}, "phones"),
    "unparseable-phone": ({"phones": json.dumps([{"raw": "call me maybe"}])}, "phones"),
    "impossible-phone": ({"phones": json.dumps([{"raw": "+1 555"}])}, "phones"),
    "is-primary-as-text": ({"is_primary": "maybe"}, "is_primary"),
    "title-as-blob": ({"title": b"\x00\x01"}, "title"),
    "email-changed": ({"email": "new.address@example.com"}, "email"),
}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with synced_harness(tmp_path, contacts=20, seed=4) as h:
        yield h


def raw_sql(harness: Harness, sql: str, params: dict[str, Any]) -> None:
    """Plain SQL as another program writes it, values bound as they are (no JSON encoding)."""
    db = sqlite3.connect(harness.database_url.removeprefix("sqlite:///"))
    try:
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def refusal_checks(harness: Harness, bad_local_id: int, field: str, *, good_marker: str) -> None:
    tables = load_tables(harness.database_url.removeprefix("sqlite:///"))
    refused = [w for w in tables["writes"] if w["status"] == "refused"]
    assert [w["local_id"] for w in refused] == [bad_local_id], refused
    assert field in refused[0]["error"], f"the reason does not name {field}: {refused[0]['error']}"
    assert refused[0]["request_id"] is None and refused[0]["http_status"] is None
    created = [c for c in harness.sandbox.state.all_contacts() if c["first_name"] == good_marker]
    assert len(created) == 1, "the good row next to the bad one was not created"
    with harness.store.read() as tx:
        shown = render_status(load_status(tx))
    line = [text for text in shown.splitlines() if f"local_id={bad_local_id} refused" in text]
    assert line and field in line[0], f"`status` does not show the refusal of row {bad_local_id}:\n{shown}"


@pytest.mark.parametrize("case", sorted(BAD_NEW_ROWS))
def test_bad_new_row_is_refused_locally_and_the_others_still_go(harness: Harness, case: str) -> None:
    """A new row that cannot be valid is refused without a request, naming row and field; others still go."""
    columns, field = BAD_NEW_ROWS[case]
    values = {"contact_type": "sponsor", "company_id": 2, "first_name": "Bad", **columns}
    raw_sql(
        harness,
        f"INSERT INTO contacts ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})",
        values,
    )
    bad_local_id = harness.table.execute("SELECT max(local_id) AS m FROM contacts")[0]["m"]
    harness.table.insert(contact_type="lender_contact", company_id=3, first_name="Good")
    harness.sandbox.state.reset_log()
    result = harness.sync()
    assert result.outcome == "attention" and result.exit_code == 1, result
    sent = [e.body.decode() for e in harness.sandbox.state.request_log() if e.method in ("POST", "PATCH")]
    assert len(sent) == 1 and '"Good"' in sent[0], sent
    refusal_checks(harness, bad_local_id, field, good_marker="Good")
    assert harness.sync().counts["rejected"] == 0, "refused a second time"


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_bad_edit_of_a_synced_row_is_refused_locally(harness: Harness, case: str) -> None:
    """An edit no API could take is refused before any request, naming row and field; others still go."""
    columns, field = BAD_EDITS[case]
    bad, good = harness.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 2")
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    raw_sql(harness, f"UPDATE contacts SET {assignments} WHERE local_id = :local_id", {**columns, **bad})
    harness.table.update(good["local_id"], title="Good edit")
    harness.table.insert(contact_type="lender_contact", company_id=3, first_name="Good")
    harness.sandbox.state.reset_log()
    result = harness.sync()
    assert result.outcome == "attention", result
    patched = [e.path.rsplit("/", 1)[-1] for e in harness.sandbox.state.request_log() if e.method == "PATCH"]
    assert patched == [str(good["id"])], "the bad row was sent, or the good edit was not"
    refusal_checks(harness, bad["local_id"], field, good_marker="Good")


def test_sqlite_booleans_written_as_numbers_are_sent_as_booleans(harness: Harness) -> None:
    """is_primary = 1, TRUE or 0 (SQLite has no boolean) is sent as true/false, not refused."""
    rows = harness.table.execute("SELECT local_id, id, is_primary FROM contacts ORDER BY id")
    off = [r for r in rows if not r["is_primary"]][:2]
    on = next(r for r in rows if r["is_primary"])
    raw_sql(harness, "UPDATE contacts SET is_primary = 1 WHERE local_id = :local_id", off[0])
    raw_sql(harness, "UPDATE contacts SET is_primary = TRUE WHERE local_id = :local_id", off[1])
    raw_sql(harness, "UPDATE contacts SET is_primary = 0 WHERE local_id = :local_id", on)
    harness.sandbox.state.reset_log()
    result = harness.sync()
    assert result.outcome == "ok" and result.counts["rejected"] == 0, result
    sent = {
        int(e.path.rsplit("/", 1)[-1]): json.loads(e.body)
        for e in harness.sandbox.state.request_log()
        if e.method == "PATCH"
    }
    assert sent == {
        off[0]["id"]: {"is_primary": True},
        off[1]["id"]: {"is_primary": True},
        on["id"]: {"is_primary": False},
    }


def test_a_refused_boolean_survives_a_remote_edit_of_the_same_row(harness: Harness) -> None:
    """A row refused for is_primary = 'maybe' keeps that value when a remote edit comes down."""
    row = harness.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 1")[0]
    raw_sql(harness, "UPDATE contacts SET is_primary = 'maybe' WHERE local_id = :local_id", row)
    harness.sandbox.state.admin_edit(row["id"], {"title": "Remote title"})
    assert harness.sync().outcome == "attention"
    kept = harness.table.execute("SELECT is_primary, title FROM contacts WHERE local_id = :local_id", row)
    assert kept == [{"is_primary": "maybe", "title": "Remote title"}]


@pytest.mark.parametrize("policy", ["remote-wins", "local-wins", "manual"])
@pytest.mark.parametrize(("column", "blob"), [("title", b"\x00\x01"), ("phones", b"\xff")])
def test_a_refused_blob_meeting_a_remote_edit_does_not_stop_the_syncs(
    harness: Harness, policy: str, column: str, blob: bytes
) -> None:
    """A BLOB refused in a row, then the same field edited remotely: later runs still go on."""
    bad, good = harness.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 2")
    raw_sql(harness, f"UPDATE contacts SET {column} = :v WHERE local_id = :local_id", {"v": blob, **bad})
    assert harness.sync(conflict_policy=policy).outcome == "attention"
    remote_value = "Remote title" if column == "title" else [{"raw": "+1 212 555 0100"}]
    harness.sandbox.state.admin_edit(bad["id"], {column: remote_value})
    harness.table.update(good["local_id"], first_name="Still synced")
    for _ in range(2):
        result = harness.sync(conflict_policy=policy)
        assert result.outcome in ("ok", "attention"), result.error
    assert harness.remote(good["id"])["first_name"] == "Still synced"


# --- bad settings and bad database files, through the real CLI ---------------------------


@dataclass(frozen=True)
class CliCase:
    env: dict[str, str]
    code: int
    says: str  # a piece of the one stderr line
    setup: Callable[[Path], None] | None = None
    args: tuple[str, ...] = ("sync",)


def random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 64)


def foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
    db.execute("INSERT INTO contacts VALUES ('Ada', '555')")
    db.commit()
    db.close()


def truncated_store(path: Path) -> None:
    Store.open(f"sqlite:///{path}").close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def a_directory(path: Path) -> None:
    path.mkdir()


def toml(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        config = path.with_name("config.toml")
        config.write_text(text)
        config.chmod(0o600)

    return write


CLI_CASES: dict[str, CliCase] = {
    "timeout-not-a-number": CliCase(
        {"CONTACTS_SYNC_TIMEOUT_SECONDS": "soon"}, 2, "CONTACTS_SYNC_TIMEOUT_SECONDS"
    ),
    "retry-attempts-zero": CliCase({"CONTACTS_SYNC_RETRY_ATTEMPTS": "0"}, 2, "CONTACTS_SYNC_RETRY_ATTEMPTS"),
    "disconnect-share-above-one": CliCase(
        {"CONTACTS_SYNC_MAX_DISCONNECT_SHARE": "2"}, 2, "CONTACTS_SYNC_MAX_DISCONNECT_SHARE"
    ),
    "policy-unknown": CliCase(
        {"CONTACTS_SYNC_CONFLICT_POLICY": "newest"}, 2, "CONTACTS_SYNC_CONFLICT_POLICY"
    ),
    "api-url-not-http": CliCase(
        {"CONTACTS_SYNC_API_URL": "ftp://lev.example.com/v2"}, 2, "CONTACTS_SYNC_API_URL"
    ),
    "token-missing": CliCase({"CONTACTS_SYNC_API_TOKEN": ""}, 2, "CONTACTS_SYNC_API_TOKEN"),
    "database-url-garbage": CliCase(
        {"CONTACTS_SYNC_DATABASE_URL": "contacts.db"}, 2, "CONTACTS_SYNC_DATABASE_URL"
    ),
    "database-url-unsupported": CliCase(
        {"CONTACTS_SYNC_DATABASE_URL": "mysql://u@localhost/db"}, 2, "CONTACTS_SYNC_DATABASE_URL"
    ),
    "database-url-flag-unsupported": CliCase(
        {}, 2, "contacts-sync: --database-url: mysql://", args=("sync", "--database-url", "mysql://u@h/db")
    ),
    "config-not-toml": CliCase(
        {"CONTACTS_SYNC_CONFIG": "{dir}/config.toml"}, 2, "config.toml", toml("a = [")
    ),
    "config-unknown-key": CliCase(
        {"CONTACTS_SYNC_CONFIG": "{dir}/config.toml"}, 2, "unknown setting", toml('polcy = "manual"\n')
    ),
    "config-missing": CliCase({"CONTACTS_SYNC_CONFIG": "{dir}/nowhere.toml"}, 2, "nowhere.toml"),
    "database-random-bytes": CliCase({}, 3, "not a database", random_bytes),
    "database-foreign-sqlite": CliCase({}, 3, "did not create", foreign_sqlite),
    "database-truncated": CliCase({}, 3, "contacts.db", truncated_store),
    "database-is-a-directory": CliCase({}, 3, "contacts.db", a_directory),
    "database-postgres-unreachable": CliCase(
        {"CONTACTS_SYNC_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"},
        3,
        "127.0.0.1",
        args=("status",),
    ),
}


# Cases that share a code path with another one run only under CONTACTS_SYNC_SOAK=1.
CLI_SOAK_ONLY = {
    "timeout-not-a-number",
    "retry-attempts-zero",
    "disconnect-share-above-one",
    "database-url-unsupported",
    "config-missing",
    "database-is-a-directory",
}


@pytest.mark.slow
def test_bad_settings_and_database_files_exit_with_one_clear_line(tmp_path: Path) -> None:
    """Each bad setting or database file exits 2 or 3 with one line on stderr that names it, no traceback."""
    processes = {}
    for name, case in CLI_CASES.items():
        if name in CLI_SOAK_ONLY and not SOAK:
            continue
        directory = tmp_path / name
        directory.mkdir()
        db_path = directory / "contacts.db"
        if case.setup is not None:
            case.setup(db_path)
        env = {
            **os.environ,
            "CONTACTS_SYNC_API_URL": "http://127.0.0.1:9/api/external/v2",
            "CONTACTS_SYNC_API_TOKEN": "lev_sk_bad_input",
            "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{db_path}",
            **{k: v.format(dir=directory) for k, v in case.env.items()},
        }
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "sync.cli", *case.args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    wrong = []
    for name, process in processes.items():
        out, err = process.communicate(timeout=60)
        case = CLI_CASES[name]
        lines = [line for line in err.splitlines() if line.strip()]
        if (
            process.returncode != case.code
            or len(lines) != 1
            or case.says not in lines[0]
            or "Traceback" in out + err
        ):
            wrong.append(
                f"{name}: exit {process.returncode} (want {case.code}), stderr {err!r}, stdout {out[-300:]!r}"
            )
    assert not wrong, "\n".join(wrong)
