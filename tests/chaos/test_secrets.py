"""The API token never leaks, TLS is verified, files are private, and API values stay data.

A distinctive canary token is used for every run: good syncs, failing ones (401
from a sandbox with another token, 500s, garbled answers, an untrusted TLS
certificate), the daemon, `status`, `status --json`, `conflicts`, `--dry-run`
and bad settings, all at DEBUG log level. Every byte they print, every error
message, every table of each store and the raw bytes of the database, its -wal
and -shm files are searched for the token and for fragments of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import Settings, load_settings
from storage.status import load_conflicts, load_status
from storage.store import Store
from sync.apis.lev.client import open_http
from sync.apis.lev.sandbox.server import SandboxServer
from sync.apis.lev.sandbox.testing import running_sandbox
from sync.errors import ConfigError
from sync.logs import configure_logging
from sync.runner import RunResult, run_once
from sync.status_text import render_status
from tests.chaos.checks import load_tables
from tests.chaos.fakeapi import Answer, FakeApi
from tests.conftest import Harness, LocalTable

pytestmark = pytest.mark.slow

TOKEN = "lev_sk_SECRET_canary_1234567890"
# Fragments that would betray a token cut short or partly masked.
FRAGMENTS = (TOKEN, "SECRET_canary", "canary_1234567890", TOKEN[:12] + "SECRET")
HOSTILE_VALUES = (
    "'); DROP TABLE contacts; --",
    'Robert"); DELETE FROM writes WHERE ("1"="1',
    "' OR '1'='1",
    "$(touch /tmp/contacts-sync-pwned) `id` | rm -rf ~ && echo $HOME ${PATH}; exit 1",
    "{0.__class__.__mro__}",
    "{api_token}",
    "%s%n%x%d%(api_token)s",
    "\\x00 \\n back\\slashes",
    "\u202egnp.exe \u200b zero-width",
    "null",
    "[]",
    "Zoë 東京 🙂",
    "nul\x00byte",
)


def sync_once(settings: Settings) -> RunResult:
    """One run on its own store, closed after."""
    store = Store.open(settings.database_url)
    try:
        return run_once(settings, store=store)
    finally:
        store.close()


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [fragment for fragment in FRAGMENTS if fragment in text]


class Cli:
    """`python -m sync.cli` with the canary token in the environment; keeps everything it printed."""

    def __init__(self, base_env: dict[str, str]) -> None:
        self.base_env = base_env
        self.output: list[tuple[str, str]] = []
        self.stderr: dict[str, str] = {}

    def start(self, command: str, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "sync.cli", command, "--log-level", "DEBUG", *args],
            env={**os.environ, **self.base_env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, name: str, process: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
        out, err = process.communicate(timeout=timeout)
        self.output.append((name, out + err))
        self.stderr[name] = err
        return process.returncode, out, err

    def run(self, name: str, *args: str, **env: str) -> tuple[int, str, str]:
        return self.finish(name, self.start(*args, **env))


def store_bytes(db_path: Path) -> list[tuple[str, bytes]]:
    """The database, its -wal and -shm files as raw bytes, and a JSON dump of every table."""
    found = [(p.name, p.read_bytes()) for p in db_path.parent.glob(db_path.name + "*") if p.is_file()]
    dump = json.dumps(load_tables(db_path), default=str, ensure_ascii=False).encode()
    return [*found, (f"{db_path.name} tables", dump)]


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(contacts=25, seed=7, token=TOKEN) as server:
        yield server


def env_for(base_url: str, db_path: Path) -> dict[str, str]:
    return {
        "CONTACTS_SYNC_API_URL": base_url,
        "CONTACTS_SYNC_API_TOKEN": TOKEN,
        "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{db_path}",
        "CONTACTS_SYNC_RETRY_ATTEMPTS": "2",
        "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
        "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.02",
    }


def test_the_token_appears_in_no_output_no_error_and_no_store(sandbox: SandboxServer, tmp_path: Path) -> None:
    """At DEBUG, across good and failing syncs, the daemon and every command, the token is printed nowhere."""
    main_db = tmp_path / "main" / "contacts.db"
    main_db.parent.mkdir()
    cli = Cli(env_for(sandbox.base_url, main_db))
    table = LocalTable(f"sqlite:///{main_db}")

    code, _, err = cli.run("first sync", "sync")
    assert code == 0, err
    # Hold a reader open so SQLite keeps the -wal file for the byte search at the end.
    reader = sqlite3.connect(main_db)
    try:
        reader.execute("SELECT count(*) FROM contacts").fetchone()
        first = table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 1")[0]
        table.update(first["local_id"], title="Local title")
        sandbox.state.admin_edit(first["id"], {"title": "Remote title"})
        table.insert(contact_type="sponsor", company_id=1, first_name="Bad", email="not-an-email")
        code, _, err = cli.run("manual sync", "sync", "--policy", "manual")
        assert code == 1, err  # a held conflict and a refused row wait for a person
        table.update(first["local_id"], city="Pending city")

        with (
            running_sandbox(contacts=5, seed=1) as other,
            running_sandbox(contacts=5, seed=2, token=TOKEN) as flaky,
        ):
            flaky.state.set_faults("500@p0.5,malformed@p1,seed=3")
            unavailable = tmp_path / "500"
            config = tmp_path / "config.toml"
            config.write_text(f'api_token = "{TOKEN}"\ntimeout_seconds = "soon"\n')
            config.chmod(0o600)
            readable = tmp_path / "readable.toml"
            readable.write_text(f'api_token = "{TOKEN}"\n')
            readable.chmod(0o640)
            daemon_db = tmp_path / "daemon" / "contacts.db"
            for directory in (unavailable, daemon_db.parent, tmp_path / "401"):
                directory.mkdir()
            jobs = {
                "dry run": cli.start("sync", "--dry-run"),
                "status": cli.start("status"),
                "status --json": cli.start("status", "--json"),
                "conflicts": cli.start("conflicts", "--all"),
                "401": cli.start("sync", **env_for(other.base_url, tmp_path / "401" / "contacts.db")),
                "500 and garbled": cli.start("sync", **env_for(flaky.base_url, unavailable / "contacts.db")),
                "bad setting": cli.start("sync", CONTACTS_SYNC_TIMEOUT_SECONDS="-1"),
                "bad config file": cli.start(
                    "status", CONTACTS_SYNC_API_TOKEN="", CONTACTS_SYNC_CONFIG=str(config)
                ),
                "readable config": cli.start(
                    "status", CONTACTS_SYNC_API_TOKEN="", CONTACTS_SYNC_CONFIG=str(readable)
                ),
                "daemon": cli.start(
                    "daemon", "--every", "1s", CONTACTS_SYNC_DATABASE_URL=f"sqlite:///{daemon_db}"
                ),
            }
            # Ten CLI processes start at once: on a loaded 2-core machine that alone takes a while.
            deadline = time.monotonic() + 180
            while not _finished_runs(daemon_db):
                assert time.monotonic() < deadline, "the daemon never finished a run"
                time.sleep(0.05)
            jobs["daemon"].send_signal(signal.SIGTERM)
            codes = {name: cli.finish(name, process)[0] for name, process in jobs.items()}
        assert codes == {
            "dry run": 1,  # the held conflict and the refused row still wait afterwards
            "status": 0,
            "status --json": 0,
            "conflicts": 0,
            "401": 3,
            "500 and garbled": 3,
            "bad setting": 2,
            "bad config file": 2,
            "readable config": 0,
            "daemon": 0,
        }, cli.output
        assert "can be read by other users" in cli.stderr["readable config"]
        assert "PATCH" in dict(cli.output)["dry run"], "the dry run shows the pending edit"

        leaked = [name for name, text in cli.output if leaks(text)]
        stores = [main_db, tmp_path / "401" / "contacts.db", unavailable / "contacts.db", daemon_db]
        leaked += [f"{db}: {name}" for db in stores for name, data in store_bytes(db) if leaks(data)]
        assert any(name.endswith("-wal") for name, _ in store_bytes(main_db)), "no -wal file was searched"
    finally:
        reader.close()
    assert not leaked, f"the token leaked into: {leaked}"


def _finished_runs(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        db = sqlite3.connect(db_path)
        try:
            return int(db.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:  # not created yet
        return 0


def test_error_messages_and_settings_objects_never_carry_the_token(tmp_path: Path) -> None:
    """Run errors (401, 5xx, garbled), settings errors and the settings' repr hold no trace of the token."""
    messages: list[str] = []
    with (
        running_sandbox(contacts=5, seed=1) as other,
        running_sandbox(contacts=5, seed=2, token=TOKEN) as flaky,
    ):
        for name, base_url, faults in (("401", other.base_url, ""), ("5xx", flaky.base_url, "503@p1")):
            flaky.state.set_faults(faults)
            settings, _ = load_settings(environ=env_for(base_url, tmp_path / f"{name}.db"))
            messages += [repr(settings), str(settings), str(settings.model_dump())]
            result = sync_once(settings)
            assert result.outcome == "failed"
            messages.append(result.error or "")
    for environ in (
        {"CONTACTS_SYNC_API_TOKEN": TOKEN, "CONTACTS_SYNC_RETRY_ATTEMPTS": "many"},
        {"CONTACTS_SYNC_API_TOKEN": TOKEN, "CONTACTS_SYNC_API_URL": "http://lev.example.com/v2"},
        {"CONTACTS_SYNC_API_TOKEN": TOKEN, "CONTACTS_SYNC_DATABASE_URL": "nonsense"},
    ):
        with pytest.raises(ConfigError) as raised:
            settings, _ = load_settings(environ=environ)
            Store.open(settings.database_url)
        messages.append(str(raised.value))
    assert not [m for m in messages if leaks(m)], messages


def test_a_token_pasted_into_the_wrong_setting_is_not_echoed() -> None:
    """A settings error masks the token even when it was pasted into another setting by mistake."""
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"CONTACTS_SYNC_API_TOKEN": TOKEN, "CONTACTS_SYNC_TIMEOUT_SECONDS": TOKEN})
    assert not leaks(str(raised.value)), str(raised.value)


def test_debug_logs_of_a_failing_run_in_process_never_carry_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Structlog output of in-process runs at DEBUG, through 401 and garbled answers, masks the token."""
    configure_logging(level="DEBUG", json=True)
    with (
        running_sandbox(contacts=5, seed=1) as other,
        running_sandbox(contacts=5, seed=2, token=TOKEN) as flaky,
    ):
        flaky.state.set_faults("malformed@p0.5,drop-after@p0.5,seed=1")
        for base_url in (other.base_url, flaky.base_url):
            settings, _ = load_settings(environ=env_for(base_url, tmp_path / "contacts.db"))
            sync_once(settings)
    captured = capsys.readouterr()
    assert '"http.request"' in captured.out, "nothing was logged, so nothing was checked"
    assert not leaks(captured.out + captured.err)


# --- TLS, plain http, file modes ---------------------------------------------------------


def test_tls_certificates_are_verified_by_default(tmp_path: Path) -> None:
    """A self-signed https server fails the run before any request reaches it, and the error has no token."""
    server_context, cert = self_signed(tmp_path)
    with FakeApi(tls=server_context) as fake:
        fake.answer(
            "GET /contacts", Answer.json({"request_id": "r", "data": [], "pagination": {"has_more": False}})
        )
        # The server itself works for a client that trusts its certificate.
        trusting = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(fake.base_url + "/contacts", verify=trusting).status_code == 200
        fake.forget_requests()
        # The client contacts-sync builds does not trust it.
        with (
            open_http(base_url=fake.base_url, token=TOKEN, origin_app="t") as http,
            pytest.raises(httpx.ConnectError) as raised,
        ):
            http.get("/contacts")
        assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
        settings, _ = load_settings(environ=env_for(fake.base_url, tmp_path / "contacts.db"))
        result = sync_once(settings)
        assert fake.requests == [], "a request got through an unverified TLS connection"
    assert result.outcome == "failed" and "GET /me" in (result.error or "")  # a run's first request
    assert not leaks(result.error or "")


def test_a_certificate_failure_says_so(tmp_path: Path) -> None:
    """A run against an untrusted certificate says the certificate is the problem, without retrying."""
    server_context, _ = self_signed(tmp_path)
    with FakeApi(tls=server_context) as fake:
        settings, _ = load_settings(environ=env_for(fake.base_url, tmp_path / "contacts.db"))
        result = sync_once(settings)
    assert "certificate" in (result.error or "").lower(), result.error
    assert result.counts["retries"] == 0, "a certificate that cannot be verified was retried"


def test_plain_http_to_another_host_needs_the_explicit_flag(tmp_path: Path) -> None:
    """http:// to a non-loopback host exits 2 naming api_url, unless --allow-insecure-http is given."""
    cli = Cli(
        {
            **env_for("http://lev.example.com/api/external/v2", tmp_path / "contacts.db"),
            "CONTACTS_SYNC_API_TOKEN": TOKEN,
        }
    )
    Store.open(f"sqlite:///{tmp_path / 'contacts.db'}").close()  # a dry run reads a store, never makes one
    refused, allowed = cli.start("sync", "--dry-run"), cli.start("sync", "--dry-run", "--allow-insecure-http")
    code, out, err = cli.finish("refused", refused)
    assert code == 2, out + err
    assert [line for line in err.splitlines() if line.strip()] == [err.strip()] and "api_url" in err.lower()
    code, out, err = cli.finish("allowed", allowed)
    assert code == 0, out + err
    assert not [name for name, text in cli.output if leaks(text)]


def test_the_store_files_are_private_to_their_owner(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A store created by a sync is mode 0600, and so are its -wal, -shm and lock files."""
    harness = Harness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
    old_umask = os.umask(0o022)
    try:
        assert harness.sync().outcome == "ok"
        reader = sqlite3.connect(tmp_path / "contacts.db")  # keeps -wal and -shm in place
        try:
            reader.execute("SELECT count(*) FROM contacts").fetchone()
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("contacts.db*")}
        finally:
            reader.close()
    finally:
        os.umask(old_umask)
        harness.close()
    assert {"contacts.db", "contacts.db-wal", "contacts.db-shm", "contacts.db.lock"} <= set(modes), modes
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o600} == {}


# --- API values are data -----------------------------------------------------------------


def test_hostile_values_round_trip_verbatim_both_ways(tmp_path: Path) -> None:
    """SQL, shell and format-string text from the API lands verbatim in the store, and goes back verbatim."""
    with running_sandbox(contacts=40, seed=7) as sandbox:
        round_trip(Harness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}"))
    assert not Path("/tmp/contacts-sync-pwned").exists()


def round_trip(harness: Harness) -> None:
    sandbox = harness.sandbox
    try:
        assert harness.sync().outcome == "ok"
        rows = harness.table.execute("SELECT local_id, id FROM contacts WHERE id IS NOT NULL ORDER BY id")
        fields = ("first_name", "last_name", "title", "department", "city", "address2")
        expected: dict[int, dict[str, Any]] = {}
        for n, value in enumerate(HOSTILE_VALUES):  # API -> store
            row = rows[n]
            changes = {name: value for name in fields[: 1 + n % len(fields)]}
            sandbox.state.admin_edit(row["id"], changes)
            expected[row["id"]] = changes
        for n, value in enumerate(HOSTILE_VALUES):  # store -> API, on other rows
            row = rows[len(HOSTILE_VALUES) + n]
            harness.table.update(row["local_id"], title=value, zip=value[::-1])
            expected[row["id"]] = {"title": value, "zip": value[::-1]}
        # A held conflict whose both sides are hostile: status and conflicts must show them as text.
        conflicted = rows[-1]
        harness.table.update(conflicted["local_id"], department=HOSTILE_VALUES[0])
        sandbox.state.admin_edit(conflicted["id"], {"department": HOSTILE_VALUES[4]})
        result = harness.sync(conflict_policy="manual")
        assert result.outcome == "attention", result.error
        assert harness.sync(conflict_policy="manual").counts["updated"] == 0
        for contact_id, changes in expected.items():
            local = harness.table.row(id=contact_id)
            remote = harness.remote(contact_id)
            for name, value in changes.items():
                assert local[name] == value == remote[name], (contact_id, name, local[name], remote[name])
        assert harness.table.execute("SELECT count(*) AS n FROM contacts")[0]["n"] == len(rows)
        with harness.store.read() as tx:
            (conflict,) = load_conflicts(tx)
            text = render_status(load_status(tx))
        assert (conflict["local_value"], conflict["remote_value"]) == (HOSTILE_VALUES[0], HOSTILE_VALUES[4])
        assert f"local={HOSTILE_VALUES[0]!r} remote={HOSTILE_VALUES[4]!r}" in text
    finally:
        harness.close()
