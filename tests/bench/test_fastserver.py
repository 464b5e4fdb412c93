"""bench/fastserver.py speaks the Lev wire the client checks, and bench/bare.py walks it whole."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bench.bare import walk
from bench.fastserver import API_PREFIX, Catalogue, Server
from sync.apis.lev.client import LevClient, open_http
from sync.incremental import format_instant, parse_instant

TOKEN = "lev_sk_fastserver_test"
GTE = "filter[updated_at][gte]"


@pytest.fixture
def server() -> Iterator[Server]:
    # 30 seeded contacts repeated to 450: three pages of 200, emails and ids unique.
    httpd = Server(("127.0.0.1", 0), Catalogue.seeded(450, 30), TOKEN, "apply")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def base_url(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}{API_PREFIX}"


def test_the_product_client_walks_every_contact_once(server: Server) -> None:
    """LevClient's checks accept every page; ids and emails are unique across the repeats."""
    client = LevClient(open_http(base_url=base_url(server), token=TOKEN, origin_app="test"))
    contacts, cursor = [], None
    while True:
        page = client.fetch_page(cursor)
        contacts += page.contacts
        if not page.has_more:
            break
        cursor = page.next_cursor
    client.close()
    assert len({c["id"] for c in contacts}) == 450
    emails = [c["email"] for c in contacts if c["email"] is not None]
    assert len(set(emails)) == len(emails) > 0
    assert page.total == 450


def test_the_filter_lists_only_contacts_updated_since_in_updated_order(server: Server) -> None:
    """apply: contacts at or after the bound, oldest first; ignore: all; reject: 400."""
    stamps = sorted(set(_all_updated(server)))
    bound = stamps[len(stamps) // 2]
    with httpx.Client(base_url=base_url(server), headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        page = http.get("/contacts", params={"limit": 200, GTE: bound}).json()
        listed = [parse_instant(c["updated_at"]) for c in page["data"]]
        assert listed and listed == sorted(listed)
        assert all(format_instant(m) >= bound for m in listed if m is not None) and None not in listed
        assert page["pagination"]["total"] == sum(1 for s in _all_updated(server) if s >= bound)
        server.filter_mode = "ignore"
        assert http.get("/contacts", params={GTE: bound}).json()["pagination"]["total"] == 450
        server.filter_mode = "reject"
        assert http.get("/contacts", params={GTE: bound}).status_code == 400


def test_bare_walk_stores_every_contact_once_and_again_without_duplicates(
    server: Server, tmp_path: Path
) -> None:
    """The baseline writes one row per contact; a second walk into the same file replaces them."""
    path = tmp_path / "bare.db"
    first = walk(base_url(server), TOKEN, sqlite_path=str(path))
    again = walk(base_url(server), TOKEN, sqlite_path=str(path))
    assert first["rows"] == again["rows"] == 450 and first["pages"] == 3
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*), count(DISTINCT id) FROM contacts").fetchone() == (450, 450)
    far = walk(base_url(server), TOKEN, gte="2999-01-01T00:00:00Z")
    assert far["rows"] == 0 and far["pages"] == 1


def _all_updated(server: Server) -> list[str]:
    catalogue = server.catalogue
    stamps = [format_instant(datetime.fromtimestamp(t, UTC)) for t in catalogue.updated]
    return [stamps[i % len(stamps)] for i in range(catalogue.count)]
