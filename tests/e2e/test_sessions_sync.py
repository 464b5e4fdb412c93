"""Sync with the session-cookie contacts API (seed 003), against its sandbox over loopback.

The API lists and creates, nothing else: an edit or a delete of an existing row is a
rejection said plainly, kept, never retried in a loop; the cookie is a secret like a token.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings, load_settings
from storage.store import Store
from sync.apis.sessions.sandbox.server import SessionsSandboxServer
from sync.apis.sessions.sandbox.testing import running_sessions_sandbox
from sync.runner import RunResult, run_once
from tests.conftest import LocalTable


class SessionsHarness:
    def __init__(self, sandbox: SessionsSandboxServer, database_url: str) -> None:
        self.sandbox = sandbox
        self.database_url = database_url
        self.table = LocalTable(database_url)
        self._store: Store | None = None

    @property
    def environ(self) -> dict[str, str]:
        return {
            "CONTACTS_SYNC_API": "sessions",
            "CONTACTS_SYNC_API_URL": self.sandbox.base_url,
            "CONTACTS_SYNC_SESSION_COOKIE": self.sandbox.cookie,
            "CONTACTS_SYNC_DATABASE_URL": self.database_url,
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
            "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.05",
            "CONTACTS_SYNC_TIMEOUT_SECONDS": "10",
        }

    def settings(self, **overrides: Any) -> Settings:
        settings, _ = load_settings(environ=self.environ, flags=overrides)
        return settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.database_url, "sessions")
        return self._store

    def sync(self, **overrides: Any) -> RunResult:
        return run_once(self.settings(**overrides), store=self.store)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync.cli", *args],
            env={**os.environ, **self.environ},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionsHarness]:
    with running_sessions_sandbox(contacts=40, seed=3) as sandbox:
        harness = SessionsHarness(sandbox, database_url)
        yield harness
        harness.close()


def lists(harness: SessionsHarness) -> list[Any]:
    return [e for e in harness.sandbox.state.request_log() if e.method == "GET" and e.status == 200]


def test_the_first_pull_of_5000_contacts_takes_one_list_request(tmp_path: Path) -> None:
    with running_sessions_sandbox(contacts=5000, seed=1) as sandbox:
        harness = SessionsHarness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
        try:
            result = harness.sync()
            assert result.outcome == "ok", result.error
            assert harness.table.execute("SELECT count(*) AS n FROM contacts")[0]["n"] == 5000
            # One GET /contacts proves the session (status only), one is the walk.
            assert len(lists(harness)) == 2
            row = harness.table.execute("SELECT * FROM contacts ORDER BY id LIMIT 1")[0]
            remote = sandbox.state.contact(row["id"])
            assert (row["full_name"], row["email"], row["is_active"]) == (
                remote["fullName"],
                remote["email"],
                remote["isActive"],
            )
        finally:
            harness.close()


def test_an_insert_by_sql_creates_one_contact_even_when_the_answer_is_lost(database_url: str) -> None:
    with running_sessions_sandbox(contacts=10, seed=2, faults="drop-after@1/POST") as sandbox:
        harness = SessionsHarness(sandbox, database_url)
        try:
            harness.sync()
            local_id = harness.table.insert(full_name="Ada Lovelace", email="ada@example.com", type="client")
            result = harness.sync()
            assert result.outcome == "ok", result.error
            made = [c for c in sandbox.state.all_contacts() if c["email"] == "ada@example.com"]
            assert len(made) == 1
            assert harness.table.row(local_id=local_id)["id"] == made[0]["id"]
            assert made[0]["canLogin"] is False  # never asked for
        finally:
            harness.close()


def test_edits_and_deletes_of_existing_rows_are_rejections_and_the_edit_survives(
    sessions: SessionsHarness,
) -> None:
    sessions.sync()
    edited, deleted = sessions.table.execute("SELECT * FROM contacts ORDER BY id LIMIT 2")
    sessions.table.update(edited["local_id"], title="Head of Llamas")
    sessions.table.execute("DELETE FROM contacts WHERE local_id = :l", {"l": deleted["local_id"]})
    sessions.sandbox.state.reset_log()

    result = sessions.cli("sync")

    assert result.returncode == 1, result.stderr
    assert [e.method for e in sessions.sandbox.state.request_log() if e.method != "GET"] == []
    status = sessions.cli("status")
    assert "this API cannot update contacts" in status.stdout
    assert "this API cannot delete contacts" in status.stdout
    assert sessions.table.row(local_id=edited["local_id"])["title"] == "Head of Llamas"
    assert sessions.table.execute("SELECT count(*) AS n FROM contacts WHERE id = :id", deleted)[0]["n"] == 1

    again = sessions.cli("sync")  # nothing new: no loop, no second rejection
    assert again.returncode == 1
    assert sessions.table.row(local_id=edited["local_id"])["title"] == "Head of Llamas"
    refusals = sessions.table.execute("SELECT error FROM writes WHERE status = 'refused'")
    assert len([r for r in refusals if "cannot update" in r["error"]]) == 1

    sessions.sandbox.state.admin_edit(edited["id"], {"title": "Changed there"})
    sessions.cli("sync")  # the API changed the field: remote-wins takes it, the edit in the conflict record
    assert sessions.table.row(local_id=edited["local_id"])["title"] == "Changed there"
    recorded = sessions.table.execute("SELECT * FROM conflicts WHERE field = 'title'")
    assert [c["local_value"] for c in recorded] in (["Head of Llamas"], ['"Head of Llamas"'])


def test_an_expired_cookie_exits_3_with_one_line_saying_to_sign_in_again(sessions: SessionsHarness) -> None:
    sessions.sync()
    sessions.sandbox.state.expire_session(sessions.sandbox.state.session.number)
    result = sessions.cli("sync")
    assert result.returncode == 3
    assert "sign in again" in result.stderr + result.stdout
    assert "CONTACTS_SYNC_SESSION_COOKIE" in result.stderr + result.stdout


def test_the_cookie_reaches_no_output_table_or_file(sessions: SessionsHarness, tmp_path: Path) -> None:
    cookie = sessions.sandbox.cookie
    outputs = [sessions.cli("sync", "--log-level", "debug")]
    assert outputs[0].returncode == 0, outputs[0].stderr[-2000:]
    sessions.table.insert(full_name="Bo", email="bo@example.com", type="client")
    outputs += [sessions.cli("sync", "--log-level", "debug"), sessions.cli("status", "--json")]
    sessions.sandbox.state.expire_session(sessions.sandbox.state.session.number)
    outputs.append(sessions.cli("sync", "--log-level", "debug"))
    for output in outputs:
        assert cookie not in output.stdout + output.stderr
    for table in ("contacts", "writes", "runs", "checkpoints", "conflicts", "sync_state"):
        assert cookie not in repr(sessions.table.execute(f"SELECT * FROM {table}"))
    if sessions.database_url.startswith("sqlite:///"):
        path = Path(sessions.database_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            assert cookie.encode() not in file.read_bytes()
