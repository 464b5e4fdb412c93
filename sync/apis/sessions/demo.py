"""`contacts-sync demo --api sessions`: the session-contacts sync on one machine, no network.

Starts the bundled session-contacts sandbox on loopback, syncs it into a fresh
SQLite file, inserts a row with plain SQL (created at the API once), edits and
deletes two others (this API has no update and no delete: both become rejections
that say so, and the edit stays in the row), syncs again and shows the status.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from config.settings import load_settings
from storage.status import load_status
from storage.store import Store
from sync.apis.sessions.sandbox.testing import running_sessions_sandbox
from sync.logs import configure_logging
from sync.runner import run_once
from sync.status_text import render_status


def run_demo(workdir: str) -> int:
    configure_logging(level="ERROR")  # the story below says what each run did
    folder = Path(workdir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "sessions.db"
    for leftover in folder.glob("sessions.db*"):
        leftover.unlink()
    with running_sessions_sandbox(contacts=300, seed=1) as sandbox:
        _say(f"Sandbox of the session-contacts API at {sandbox.base_url}")
        settings, _ = load_settings(
            flags={
                "api": "sessions",
                "api_url": sandbox.base_url,
                "session_cookie": sandbox.cookie,
                "database_url": f"sqlite:///{database}",
            },
            environ={},
        )
        store = Store.open(settings.database_url, settings.api)
        _say(f"1. First sync into {database}: the whole list is one streamed answer")
        first = run_once(settings, store=store)
        _say(f"   pulled {first.counts['pulled']} contacts in {first.counts['requests']} requests")

        db = sqlite3.connect(database)
        (edited_local, edited_id), (deleted_local, _) = db.execute(
            "SELECT local_id, id FROM contacts ORDER BY local_id LIMIT 2"
        ).fetchall()
        statements = [
            "INSERT INTO contacts (full_name, email, type) "
            "VALUES ('Zoë Ørsted', 'zoe@example.com', 'client')",
            f"UPDATE contacts SET title = 'Head of Demo' WHERE local_id = {edited_local}",  # noqa: S608
            f"DELETE FROM contacts WHERE local_id = {deleted_local}",  # noqa: S608
        ]
        _say("2. Another program edits the table with plain SQL:")
        for statement in statements:
            _say(f"   {statement}")
            db.execute(statement)
        db.commit()

        _say("3. Second sync (exit 1: the edit and the delete need a person)")
        second = run_once(settings, store=store)
        _say(f"   created {second.counts['created']}, rejected {second.counts['rejected']}")
        new_id = db.execute("SELECT id FROM contacts WHERE email = 'zoe@example.com'").fetchone()[0]
        (title,) = db.execute("SELECT title FROM contacts WHERE local_id = ?", (edited_local,)).fetchone()
        db.close()
        created = next((c for c in sandbox.state.all_contacts() if c["id"] == new_id), None)
        _say("4. What reached the API, and what stayed:")
        if created:
            _say(f"   contact {new_id} (new): {created['fullName']} <{created['email']}>")
        _say(
            f"   contact {edited_id}: title at the API {sandbox.state.contact(edited_id)['title']!r}, "
            f"in the row {title!r} (kept)"
        )
        _say("5. contacts-sync status")
        with store.read() as tx:
            click.echo(render_status(load_status(tx, runs=3, t=store.t)))
        store.close()
        ok = (
            created is not None and title == "Head of Demo" and second.exit_code == 1 and first.exit_code == 0
        )
    _say("Sandbox stopped. " + ("Demo complete." if ok else "Demo FAILED: see above."))
    return 0 if ok else 3


def _say(line: str) -> None:
    click.echo(line)
