"""Servers that stall, vanish or point elsewhere, met by real `contacts-sync` processes.

A trickling answer is cut at `timeout_seconds`, a stop ends the request in
flight (its write stays pending under its key), an API that cannot be reached
at all fails in seconds with advice, and a redirect says where it points.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from config.settings import load_settings
from storage.store import Store
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.runner import run_once
from tests.chaos.fakeapi import Answer, FakeApi
from tests.conftest import LocalTable
from tests.e2e.test_daemon_and_lock import Cli, created_with, wait_until, writes_received

pytestmark = pytest.mark.slow

TOKEN = "lev_sk_transport_edges_0123456789"
PAGE = {"request_id": "req-page", "data": [{"id": 1, "first_name": "Ada"}], "pagination": {"has_more": False}}


def sync_process(base_url: str, db_path: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "sync"],
        env={
            **os.environ,
            "CONTACTS_SYNC_API_URL": base_url,
            "CONTACTS_SYNC_API_TOKEN": TOKEN,
            "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{db_path}",
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.05",
            "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.1",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def seconds_between(output: str, first: str, last: str) -> float:
    """Seconds from the logged event `first` to `last`: the run itself, not the interpreter's start-up."""
    stamps = {e["event"]: datetime.fromisoformat(e["timestamp"]) for e in events(output)}
    return (stamps[last] - stamps[first]).total_seconds()


def finish(process: subprocess.Popen[str], timeout: float) -> str:
    """The process's output once it ended; a process still running after `timeout` fails the test."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"still running after {timeout} s:\n{output[-3000:]}")
    return output


@pytest.mark.parametrize("body_only", [False, True], ids=["headers-trickled", "body-trickled"])
def test_a_trickled_answer_ends_at_timeout_seconds(tmp_path: Path, body_only: bool) -> None:
    """A server sending one byte a second (headers, or body after prompt headers) is cut at 2 s per try."""
    body = json.dumps(PAGE).encode()
    with FakeApi() as api:
        api.answer("GET /contacts", Answer(200, body, byte_seconds=1.0, body_only=body_only))
        process = sync_process(
            api.base_url,
            tmp_path / "contacts.db",
            CONTACTS_SYNC_TIMEOUT_SECONDS="2",
            CONTACTS_SYNC_RETRY_ATTEMPTS="2",
        )
        output = finish(process, timeout=90)
        assert api.trickled_at is not None, "the server never got to trickle"
    assert process.returncode == 3, output
    # Two tries of 2 s each: far below the minutes 1 byte/s of the answer would take.
    assert seconds_between(output, "sync.run.started", "sync.run.finished") < 15, output
    assert len(body) > 60
    assert "GET /contacts (first page): no complete answer within 2 s" in output, output
    tries = [e for e in events(output) if e.get("path") == "/contacts"]
    assert [e["error"] for e in tries] == ["RequestDeadlineExceeded"] * 2, tries


def test_sigterm_ends_a_sync_waiting_on_a_silent_server_and_the_write_lands_once(tmp_path: Path) -> None:
    """SIGTERM while a write waits for an answer that does not come: exit 3 in seconds, run
    `interrupted`, the write pending under its key; the next run sends it again under that key
    and the contact exists once."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    table = LocalTable(database_url)
    with running_sandbox(contacts=5, seed=3) as sandbox:
        cli = Cli(sandbox, database_url)
        try:
            assert cli.run("sync").returncode == 0
            table.insert(contact_type="sponsor", company_id=1, first_name="Silent0")
            sandbox.state.set_faults("slow=120000@1/WRITE")  # applied, then two minutes of silence
            process = cli.start("sync")
            wait_until(lambda: writes_received(sandbox) >= 1)
            time.sleep(0.5)  # well inside the wait for the answer
            process.send_signal(signal.SIGTERM)
            output = finish(process, timeout=90)
            assert process.returncode == 3, output
            # Not the 30 s timeout: the request was cut when the signal came.
            assert seconds_between(output, "sync.stopping", "sync.run.finished") < 10, output
            assert cli.status()["runs"][0]["outcome"] == "interrupted"
            (pending,) = table.execute("SELECT idempotency_key, status FROM writes")
            assert pending["status"] == "pending"

            sandbox.state.set_faults("")
            assert cli.run("sync").returncode == 0
        finally:
            cli.kill_leftovers()
        posts = [e for e in sandbox.state.request_log() if e.method == "POST"]
        assert len(posts) == 2
        assert {e.header("Idempotency-Key") for e in posts} == {pending["idempotency_key"]}
        assert created_with(sandbox, "Silent") == ["Silent0"]
        assert table.execute("SELECT status FROM writes") == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_api_that_cannot_be_reached_fails_in_seconds_with_advice(tmp_path: Path) -> None:
    """A first request that cannot connect is tried twice; exit 3 names the URL and what to check."""
    base_url = f"http://127.0.0.1:{closed_port()}/api/external/v2"
    process = sync_process(base_url, tmp_path / "contacts.db")
    output = finish(process, timeout=120)
    assert process.returncode == 3, output
    # One retry after a second, not six tries with backoff.
    assert seconds_between(output, "sync.run.started", "sync.run.finished") < 10, output
    (finished,) = [e for e in events(output) if e["event"] == "sync.run.finished"]
    assert finished["requests"] == 2, finished
    error = finished["error"]
    assert f"cannot connect to {base_url}" in error, error
    assert "check api_url" in error and "network" in error and "proxy" in error, error
    assert TOKEN not in output


@pytest.fixture
def redirecting_api() -> Iterator[FakeApi]:
    with FakeApi() as api:
        moved = "https://lev.example.com/api/external/v2/contacts?limit=200&sig=s3cr3t-query"
        api.answer("GET /contacts", Answer(301, b"<html>Moved</html>", "text/html", {"Location": moved}))
        yield api


def test_a_redirect_says_where_to_and_that_it_is_not_followed(
    redirecting_api: FakeApi, tmp_path: Path
) -> None:
    """A 301 fails the run naming the new address (no query), why not followed, and the api_url to set."""
    settings, _ = load_settings(
        environ={
            "CONTACTS_SYNC_API_URL": redirecting_api.base_url,
            "CONTACTS_SYNC_API_TOKEN": TOKEN,
            "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'contacts.db'}",
        }
    )
    store = Store.open(settings.database_url)
    try:
        result = run_once(settings, store=store)
    finally:
        store.close()
    error = result.error or ""
    assert (result.outcome, result.exit_code) == ("failed", 3)
    assert (
        "GET /contacts (first page) answered 301, a redirect to https://lev.example.com/api/external/v2/contacts"
        in error
    )
    assert "not follow redirects" in error
    assert "set api_url to its new address (https://lev.example.com/api/external/v2)" in error
    assert "s3cr3t-query" not in error and "not JSON" not in error, error
    assert len([r for r in redirecting_api.requests if r.route == "GET /contacts"]) == 1  # not retried
