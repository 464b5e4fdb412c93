"""`contacts-sync demo`: the whole product on one machine, with no account and no network.

Starts the bundled sandbox on loopback, syncs it into a fresh SQLite file,
edits a contact and inserts one with plain SQL (as another program would),
syncs again, shows both changes on the API side and the status, then stops.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import click

from config.settings import load_settings
from storage.status import load_status
from storage.store import Store
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.logs import configure_logging
from sync.runner import run_once
from sync.status_text import render_status


def run_demo(workdir: str) -> int:
    configure_logging(level="WARNING")  # the story below says what each run did
    folder = Path(workdir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "contacts.db"
    for leftover in folder.glob("contacts.db*"):
        leftover.unlink()
    with running_sandbox(contacts=500, seed=1) as sandbox:
        _say(f"Sandbox of the Lev contacts API at {sandbox.base_url}")
        settings, _ = load_settings(
            flags={
                "api_url": sandbox.base_url,
                "api_token": sandbox.token,
                "database_url": f"sqlite:///{database}",
            },
            environ={},
        )
        store = Store.open(settings.database_url)
        _say(f"1. First sync into {database}")
        first = run_once(settings, store=store)
        _say(f"   pulled {first.counts['pulled']} contacts in {first.counts['requests']} requests")

        db = sqlite3.connect(database)
        local_id, contact_id, title = db.execute(
            "SELECT local_id, id, title FROM contacts WHERE id IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
        edit = "UPDATE contacts SET title = 'Head of Demo', city = 'Lisboa' WHERE local_id = ?"
        insert = (
            "INSERT INTO contacts (contact_type, company_id, first_name, last_name, email, phones) "
            "VALUES ('sponsor', 1, 'Zoë', 'Ørsted', 'zoe@example.com', ?)"
        )
        _say("2. Another program edits the table with plain SQL:")
        _say(f"   {edit.replace('?', str(local_id))}   -- title was {title!r}")
        _say(f"   {insert.replace('?', repr(json.dumps([{'raw': '+351 21 123 4567'}])))}")
        db.execute(edit, (local_id,))
        db.execute(insert, (json.dumps([{"raw": "+351 21 123 4567"}]),))
        db.commit()

        _say("3. Second sync")
        second = run_once(settings, store=store)
        _say(f"   created {second.counts['created']}, updated {second.counts['updated']}")

        edited = sandbox.state.contact(contact_id) or {}
        new_id = db.execute("SELECT id FROM contacts WHERE email = 'zoe@example.com'").fetchone()[0]
        created = sandbox.state.contact(new_id) if new_id else None
        db.close()
        _say("4. The API side now holds both changes:")
        _say(f"   contact {contact_id}: title={edited.get('title')!r}, city={edited.get('city')!r}")
        if created:
            _say(
                f"   contact {new_id} (new): {created['first_name']} {created['last_name']}, "
                f"phone {created['phones'][0]['e164']}, connected={created['is_connected']}"
            )
        _say("5. contacts-sync status")
        with store.read() as tx:
            click.echo(render_status(load_status(tx, runs=3, t=store.t)))
        store.close()
        ok = (
            edited.get("title") == "Head of Demo"
            and created is not None
            and first.exit_code == second.exit_code == 0
        )
    _say("Sandbox stopped. " + ("Demo complete." if ok else "Demo FAILED: see above."))
    _say(f"Explore the store: sqlite3 {database} 'SELECT id, first_name, title FROM contacts LIMIT 5'")  # noqa: S608
    return 0 if ok else 3


def _say(line: str) -> None:
    click.echo(line)
