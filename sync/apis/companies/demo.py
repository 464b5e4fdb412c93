"""`contacts-sync demo --api companies`: the company-contacts sync on one machine, no network.

Starts the bundled company-contacts sandbox on loopback, syncs two companies into a
fresh SQLite file, then edits, inserts and deletes rows with plain SQL (as another
program would) while another user deletes a contact at the API, syncs again, and
shows each change on the other side and the status, then stops.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from config.settings import load_settings
from storage.status import load_status
from storage.store import Store
from sync.apis.companies.sandbox.testing import running_sandbox
from sync.logs import configure_logging
from sync.runner import run_once
from sync.status_text import render_status


def run_demo(workdir: str) -> int:
    configure_logging(level="WARNING")  # the story below says what each run did
    folder = Path(workdir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "companies.db"
    for leftover in folder.glob("companies.db*"):
        leftover.unlink()
    with running_sandbox(accounts=1, companies=2, contacts_per_company=120, seed=1) as sandbox:
        companies = sandbox.state.accounts[0].company_ids
        _say(f"Sandbox of the company-contacts API at {sandbox.base_url}, companies {', '.join(companies)}")
        settings, _ = load_settings(
            flags={
                "api": "companies",
                "api_url": sandbox.base_url,
                "api_token": sandbox.token,
                "company_ids": ",".join(companies),
                "database_url": f"sqlite:///{database}",
            },
            environ={},
        )
        store = Store.open(settings.database_url, settings.api)
        _say(f"1. First sync into {database}")
        first = run_once(settings, store=store)
        _say(f"   pulled {first.counts['pulled']} contacts in {first.counts['requests']} requests")

        db = sqlite3.connect(database)
        (edited_local, edited_id), (deleted_local, deleted_id) = db.execute(
            "SELECT local_id, id FROM contacts ORDER BY local_id LIMIT 2"
        ).fetchall()
        # Plain SQL, as another program would write it (the values are the demo's own).
        statements = [
            f"UPDATE contacts SET designation = 'Head of Demo' WHERE local_id = {edited_local}",  # noqa: S608
            f"DELETE FROM contacts WHERE local_id = {deleted_local}",  # noqa: S608
            "INSERT INTO contacts (company_id, first_name, last_name, email) "  # noqa: S608
            f"VALUES ('{companies[1]}', 'Zoë', 'Ørsted', 'zoe@example.com')",
        ]
        _say("2. Another program edits the table with plain SQL:")
        for statement in statements:
            _say(f"   {statement}")
            db.execute(statement)
        db.commit()
        gone = sandbox.state.all_contacts(companies[1])[-1]
        sandbox.state.admin_delete(gone["id"])
        _say(f"   ... and another user deletes contact {gone['id']} at the API")

        _say("3. Second sync")
        second = run_once(settings, store=store)
        counts = second.counts
        _say(
            f"   created {counts['created']}, updated {counts['updated']}, deleted at the API "
            f"{counts['deleted_remote']}, removed from the table {counts['deleted_local']}"
        )
        new_id = db.execute("SELECT id FROM contacts WHERE email = 'zoe@example.com'").fetchone()[0]
        row_of_gone = db.execute("SELECT count(*) FROM contacts WHERE id = ?", (gone["id"],)).fetchone()[0]
        db.close()
        edited = sandbox.state.contact(edited_id) or {}
        created = sandbox.state.contact(new_id) if new_id else None
        _say("4. Each change reached the other side:")
        _say(f"   contact {edited_id}: designation={edited.get('designation')!r}")
        still_there = sandbox.state.contact(deleted_id) is not None
        _say(f"   contact {deleted_id}: {'STILL THERE' if still_there else 'deleted'}")
        if created:
            name = f"{created['first_name']} {created['last_name']}"
            _say(f"   contact {new_id} (new): {name} <{created['email']}>")
        _say(f"   row of contact {gone['id']}: {'removed' if not row_of_gone else 'STILL THERE'}")
        _say("5. contacts-sync status")
        with store.read() as tx:
            click.echo(render_status(load_status(tx, runs=3, t=store.t)))
        store.close()
        ok = (
            edited.get("designation") == "Head of Demo"
            and sandbox.state.contact(deleted_id) is None
            and created is not None
            and not row_of_gone
            and first.exit_code == second.exit_code == 0
        )
    _say("Sandbox stopped. " + ("Demo complete." if ok else "Demo FAILED: see above."))
    return 0 if ok else 3


def _say(line: str) -> None:
    click.echo(line)
