"""A server or proxy that echoes the Authorization header back: the token still goes nowhere.

A fake Lev API answers 400, 401, 422, 500 and a redirect with the token in the
body (plain, JSON-escaped with `\\/`, URL-encoded, cut short after "Bearer")
or in the Location header. Real `contacts-sync` processes at DEBUG go through
all of them; their output, `status`, `status --json`, every table and the bytes
of the SQLite file and its -wal file are then searched for the token.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.chaos.checks import load_tables
from tests.chaos.fakeapi import Answer, FakeApi, Request
from tests.chaos.test_secrets import Cli, env_for, store_bytes
from tests.conftest import LocalTable

pytestmark = pytest.mark.slow

TOKEN = "lev_sk_ECHO/canary+1234567890"
FRAGMENTS = (TOKEN, "ECHO/canary", "ECHO\\/canary", "canary+1234567890", quote(TOKEN, safe=""), TOKEN[:14])
PAGE = {"request_id": "req-page", "data": [{"id": 1, "first_name": "Ada"}], "pagination": {"has_more": False}}


def leaks(data: str | bytes) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [fragment for fragment in FRAGMENTS if fragment in text]


def echoing(status: int, message: str) -> Answer:
    """An error envelope whose message is `message` written into the JSON as is (escapes included)."""
    body = f'{{"request_id": "req-echo-{status}", "error": {{"status": {status}, "message": "{message}"}}}}'
    return Answer(status, body.encode())


def received(request: Request) -> str:
    return request.headers.get("Authorization", "")


class EchoingApi:
    """What GET /contacts answers is switched between runs; writes are always refused with an echo."""

    def __init__(self, api: FakeApi) -> None:
        self.mode = "ok"
        api.answer("GET /contacts", self.list_contacts)
        # 422 quoting the request headers as a Python dict would; 400 URL-encoded.
        api.answer(
            "PATCH /contacts/{id}",
            lambda r: echoing(422, f"bad request; headers: {{'authorization': '{received(r)}'}}"),
        )
        api.answer("POST /contacts", lambda r: echoing(400, "refused Authorization=" + quote(received(r))))

    def list_contacts(self, request: Request) -> Answer:
        header = received(request)
        if self.mode == "500":  # JSON-escaped, as a JSON encoder that escapes "/" writes it
            return echoing(500, "upstream saw Authorization: " + header.replace("/", "\\/"))
        if self.mode == "401":  # cut short, as a log line or a proxy might
            return echoing(401, f"token {header[:21]}... is not valid")
        if self.mode == "302":  # a login proxy sending us away, the token in the target
            target = "https://login.example.com/sso/" + quote(header.removeprefix("Bearer "), safe="")
            return Answer(302, b"", "text/html", {"Location": target})
        return Answer.json(PAGE)


def test_a_token_echoed_by_the_server_reaches_no_sink(tmp_path: Path) -> None:
    """Echoes in 400/401/422/500 bodies and a Location header leave no trace in output, tables or files."""
    db_path = tmp_path / "contacts.db"
    with FakeApi() as fake:
        api = EchoingApi(fake)
        cli = Cli({**env_for(fake.base_url, db_path), "CONTACTS_SYNC_API_TOKEN": TOKEN})
        assert cli.run("first sync", "sync")[0] == 0, cli.output
        table = LocalTable(f"sqlite:///{db_path}")
        table.update(table.row(id=1)["local_id"], title="Edited")
        table.insert(contact_type="sponsor", company_id=1, first_name="New")
        # Keep a reader open so SQLite keeps the -wal file for the byte search at the end.
        reader = sqlite3.connect(db_path)
        try:
            reader.execute("SELECT count(*) FROM contacts").fetchone()
            codes = {"writes refused": cli.run("writes refused", "sync")[0]}
            for mode in ("500", "401", "302"):
                api.mode = mode
                codes[mode] = cli.run(mode, "sync")[0]
            codes["status"], status_text, _ = cli.run("status", "status")
            codes["status --json"], status_json, _ = cli.run("status --json", "status", "--json")
            stored = store_bytes(db_path)
            tables = load_tables(db_path)
        finally:
            reader.close()
    assert codes == {"writes refused": 1, "500": 3, "401": 3, "302": 3, "status": 0, "status --json": 0}, (
        cli.output
    )
    assert any(name.endswith("-wal") for name, _ in stored), "no -wal file was searched"
    assert sum(1 for request in fake.requests if received(request) == f"Bearer {TOKEN}") >= 6

    # The messages still say what happened, with the token masked.
    report: dict[str, Any] = json.loads(status_json)
    errors = [run["error"] for run in report["runs"] if run["error"]]
    assert any("answered 500: upstream saw Authorization: Bearer ***" in e for e in errors), errors
    assert any("answered 401" in e for e in errors) and any(
        "a redirect to https://login" in e for e in errors
    )
    assert "-> 422: bad request" in status_text and "Bearer ***" in status_text, status_text
    writes = {w["method"]: w["error"] for w in tables["writes"]}
    assert "answered 422" in writes["PATCH"] and "***" in writes["PATCH"], writes
    assert "answered 400" in writes["POST"] and "***" in writes["POST"], writes

    leaked = [name for name, text in cli.output if leaks(text)]
    leaked += [f"table {name}" for name, rows in tables.items() if leaks(json.dumps(rows, default=str))]
    leaked += [f"file {name}" for name, data in stored if leaks(data)]
    assert not leaked, f"the token leaked into: {leaked}"
    assert {"runs", "writes", "conflicts", "checkpoints"} <= tables.keys()
