"""Benchmark of the company-contacts sync: requests against their minimum, 0 refused.

    python -m bench.companies [--companies 3] [--contacts 150] [--window 6]

Against the bundled sandbox enforcing the published limits (POST /contacts 60 and
every other endpoint 120 per window; `--window 60` is the real minute, a shorter
window scales both sides alike so the run takes seconds), on a fresh SQLite store:
a full pull, a no-op sync, then a push of edits, inserts and deletes. For each,
the requests made against the minimum the API allows, the 429s, and the wall time.

Minimum, per run: one `limit=1` list per company (the binding: the token still owns
it), the 422 that teaches the client the server's largest page (the sandbox's is
100; a server that takes 1000 costs none), then ceil(contacts / page) pages per
company (one more when a company's count is a multiple of the page), one request
per write.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import tempfile
import time
from pathlib import Path

from config.settings import load_settings
from storage.store import Store
from sync.apis.companies.sandbox.testing import running_sandbox
from sync.logs import configure_logging
from sync.runner import run_once

PAGE = 100  # the sandbox's largest page (its --max-limit)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.companies")
    parser.add_argument("--companies", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=150, help="per company")
    parser.add_argument("--window", type=float, default=6.0, help="rate window in seconds (60 = real)")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--inserts", type=int, default=80, help="more than 60: pacing must wait")
    parser.add_argument("--deletes", type=int, default=10)
    args = parser.parse_args()
    configure_logging(level="ERROR")
    rows = []
    with (
        tempfile.TemporaryDirectory() as folder,
        running_sandbox(
            accounts=1,
            companies=args.companies,
            contacts_per_company=args.contacts,
            post_limit=60,
            general_limit=120,
            window_seconds=args.window,
            seed=3,
        ) as sandbox,
    ):
        database = Path(folder) / "companies.db"
        companies = sandbox.state.accounts[0].company_ids
        settings, _ = load_settings(
            flags={
                "api": "companies",
                "api_url": sandbox.base_url,
                "api_token": sandbox.token,
                "company_ids": ",".join(companies),
                "database_url": f"sqlite:///{database}",
                "rate_window_seconds": args.window,
            },
            environ={},
        )
        store = Store.open(settings.database_url, settings.api)
        pages = sum(math.floor(args.contacts / PAGE) + 1 for _ in companies)
        binding = len(companies) + 1  # one ownership check each, and the 422 that finds the page size

        def measured(name: str, minimum: int) -> None:
            sandbox.state.reset_log()
            started = time.monotonic()
            result = run_once(settings, store=store)
            wall = time.monotonic() - started
            log = sandbox.state.request_log()
            refused = sum(1 for entry in log if entry.status == 429)
            rows.append((name, len(log), minimum, refused, wall, result.outcome))

        measured("full pull", binding + pages)
        measured("no-op sync", binding + pages)
        db = sqlite3.connect(database)
        ids = [row[0] for row in db.execute("SELECT local_id FROM contacts ORDER BY local_id")]
        for local_id in ids[: args.edits]:
            db.execute("UPDATE contacts SET designation = 'bench' WHERE local_id = ?", (local_id,))
        for local_id in ids[args.edits : args.edits + args.deletes]:
            db.execute("DELETE FROM contacts WHERE local_id = ?", (local_id,))
        for n in range(args.inserts):
            db.execute(
                "INSERT INTO contacts (company_id, first_name, email) VALUES (?, 'Bench', ?)",
                (companies[n % len(companies)], f"bench{n}@example.com"),
            )
        db.commit()
        db.close()
        # The run pulls before it pushes: its walk sees the API as the last run left it.
        measured(
            f"push {args.edits} PATCH + {args.inserts} POST + {args.deletes} DELETE",
            binding + pages + args.edits + args.inserts + args.deletes,
        )
        store.close()
    print(f"company-contacts sync, {args.companies} x {args.contacts} contacts, window {args.window:g} s")
    print(f"{'run':<42} {'requests':>8} {'minimum':>8} {'ratio':>6} {'429s':>5} {'seconds':>8}  outcome")
    for name, requests, minimum, refused, wall, outcome in rows:
        ratio = requests / minimum
        print(f"{name:<42} {requests:>8} {minimum:>8} {ratio:>6.2f} {refused:>5} {wall:>8.2f}  {outcome}")


if __name__ == "__main__":
    main()
