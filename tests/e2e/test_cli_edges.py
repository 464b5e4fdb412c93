"""The command line at a first user's edges, through real `python -m sync.cli` processes.

Mistyped database URLs, `--version`, the log level's spelling, showing and
resolving conflicts, re-queueing a write that does not exist, what a dry run
promises, and the last line a person at a terminal reads (a pseudo-terminal).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.status import load_conflicts, load_status
from storage.store import Store
from sync.apis.lev.sandbox.server import SandboxServer
from tests.conftest import Harness, LocalTable

TIMEOUT = 90  # a whole CLI process on a loaded 2-core machine; far above what it takes


def cli_env(harness: Harness | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTACTS_SYNC_")}
    if harness is not None:
        env |= {
            "CONTACTS_SYNC_API_URL": harness.sandbox.base_url,
            "CONTACTS_SYNC_API_TOKEN": harness.sandbox.token,
            "CONTACTS_SYNC_DATABASE_URL": harness.database_url,
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.01",
            "CONTACTS_SYNC_RETRY_MAX_DELAY": "0.05",
        }
    return env | extra


def start(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sync.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, list[str]]:
    """Exit code, stdout, and the non-blank stderr lines."""
    out, err = process.communicate(timeout=TIMEOUT)
    assert "Traceback" not in out + err, out + err
    return process.returncode, out, [line for line in err.splitlines() if line.strip()]


def run(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str, list[str]]:
    return finish(start(*args, env=env, cwd=cwd))


@pytest.fixture
def sqlite_harness(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Harness]:
    """The sandbox and a SQLite store after one good sync."""
    h = Harness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
    try:
        assert h.sync().outcome == "ok"
        yield h
    finally:
        h.close()


def held_conflict(harness: Harness) -> dict[str, int]:
    """A title edited on both sides and synced under `manual`: one open conflict."""
    row = harness.table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 1")[0]
    harness.table.update(row["local_id"], title="Local title")
    harness.sandbox.state.admin_edit(row["id"], {"title": "Remote title"})
    assert harness.sync(conflict_policy="manual").outcome == "attention"
    return row


# --- database URLs --------------------------------------------------------------------


def test_sqlite_url_with_two_slashes_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    """`--database-url sqlite://tmp/x.db` exits 2 with one line naming the flag and the forms; no file."""
    code, _, err = run(
        "sync",
        "--database-url",
        "sqlite://tmp/x.db",
        env=cli_env(CONTACTS_SYNC_API_TOKEN="lev_sk_cli_edges"),
        cwd=tmp_path,
    )
    assert code == 2
    assert len(err) == 1 and err[0].startswith("contacts-sync: --database-url: sqlite://tmp/x.db"), err
    assert "sqlite:///tmp/x.db" in err[0] and "sqlite:////tmp/x.db" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_bad_database_url_in_a_config_file_is_named_by_file_and_key(tmp_path: Path) -> None:
    """A bad database_url in the config file is reported under the file and key, not as a variable."""
    config = tmp_path / "contacts-sync.toml"
    config.write_text('database_url = "sqlite://data/contacts.db"\n')
    config.chmod(0o600)
    code, _, err = run("sync", "--config", str(config), env=cli_env(), cwd=tmp_path)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"contacts-sync: {config}: database_url: "), err
    assert "CONTACTS_SYNC_DATABASE_URL" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts-sync.toml"]


def test_every_bad_setting_gets_a_line_of_its_own(tmp_path: Path) -> None:
    """Two bad file keys and a bad flag exit 2 with three stderr lines, each naming its setting."""
    config = tmp_path / "contacts-sync.toml"
    config.write_text('timeout_seconds = -1\npolicy = "manual"\n')
    config.chmod(0o600)
    code, _, err = run(
        "status", "--config", str(config), "--database-url", "contacts.db", env=cli_env(), cwd=tmp_path
    )
    assert code == 2
    assert sorted(err) == sorted(
        [
            f"contacts-sync: {config}: timeout_seconds: Input should be greater than 0 (got -1)",
            f"contacts-sync: {config}: policy: unknown setting; did you mean conflict_policy?",
            "contacts-sync: --database-url: 'contacts.db' is not a database URL; use "
            "sqlite:///relative/path.db (from the working directory), sqlite:////absolute/path.db "
            "or postgresql://user@host/dbname",
        ]
    ), err


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_url_of_heroku_and_render_syncs(sandbox: SandboxServer, database_url: str) -> None:
    """A postgres:// URL (as Heroku and Render hand out) is used as PostgreSQL: a sync exits 0."""
    given = database_url.replace("postgresql+psycopg://", "postgres://")
    assert given.startswith("postgres://")
    harness = Harness(sandbox, database_url)
    code, out, err = run("sync", env=cli_env(harness, CONTACTS_SYNC_DATABASE_URL=given))
    assert code == 0, (out, err)
    count = LocalTable(database_url).execute("SELECT count(*) AS n FROM contacts")[0]["n"]
    assert count == sum(1 for contact in sandbox.state.all_contacts() if contact["is_connected"])


# --- version and log level --------------------------------------------------------------


def test_version_and_log_level_spelling(tmp_path: Path) -> None:
    """--version prints the installed version; --log-level takes any case and is shown in lower case."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    Store.open(database_url).close()  # status reads a store that exists
    env = cli_env(CONTACTS_SYNC_DATABASE_URL=database_url)
    jobs = {
        "version": start("--version", env=env),
        "help": start("sync", "--help", env=env),
        "upper": start("status", "--log-level", "WARNING", env=env),
        "mixed": start("status", "--log-level", "Debug", env=env),
        "variable": start("status", env=env | {"CONTACTS_SYNC_LOG_LEVEL": "error"}),
    }
    results = {name: finish(process) for name, process in jobs.items()}
    assert results["version"][:2] == (
        0,
        f"contacts-sync, version {importlib.metadata.version('contacts-sync')}\n",
    )
    code, help_text, _ = results["help"]
    assert code == 0
    flat = " ".join(help_text.split())
    assert "--log-level [debug|info|warning|error]" in flat
    assert "[default: info]" in flat
    assert all(results[name][0] == 0 for name in ("upper", "mixed", "variable")), results


# --- conflicts and retry ------------------------------------------------------------------


def test_conflicts_show_one_as_json_and_refuse_an_id_less_resolution(sqlite_harness: Harness) -> None:
    """`conflicts --json`, `conflicts ID` show; `--take` without an id and unknown ids exit 2."""
    row = held_conflict(sqlite_harness)
    with sqlite_harness.store.read() as tx:
        (conflict,) = load_conflicts(tx)
    conflict_id = str(conflict["conflict_id"])
    env = cli_env(sqlite_harness)
    jobs = {
        "list json": start("conflicts", "--json", env=env),
        "show": start("conflicts", conflict_id, env=env),
        "show json": start("conflicts", conflict_id, "--json", env=env),
        "take without id": start("conflicts", "--take", "local", env=env),
        "value without id": start("conflicts", "--value", "x", env=env),
        "unknown conflict": start("conflicts", "99999", env=env),
        "unknown write": start("retry", "999", env=env),
    }
    results = {name: finish(process) for name, process in jobs.items()}

    code, out, _ = results["list json"]
    assert code == 0
    (listed,) = json.loads(out)
    assert (listed["local_id"], listed["field"], listed["status"]) == (row["local_id"], "title", "open")
    assert (listed["local_value"], listed["remote_value"]) == ("Local title", "Remote title")
    code, out, _ = results["show"]
    assert code == 0
    assert out.startswith(f"#{conflict_id} [open] local_id={row['local_id']}")
    assert f"contacts-sync conflicts {conflict_id} --take local" in out
    code, out, _ = results["show json"]
    assert code == 0 and json.loads(out)["conflict_id"] == conflict["conflict_id"]
    for name in ("take without id", "value without id"):
        code, _, err = results[name]
        assert code == 2 and len(err) == 1 and "give its id" in err[0], (name, err)
    code, _, err = results["unknown conflict"]
    assert code == 2 and err == [
        "contacts-sync: there is no conflict 99999; `contacts-sync conflicts --all` lists them all"
    ]
    code, _, err = results["unknown write"]
    assert code == 2 and len(err) == 1 and "no rejected or refused write 999" in err[0], err

    with sqlite_harness.store.read() as tx:
        assert [c["status"] for c in load_conflicts(tx, include_settled=True)] == ["open"]


def test_retry_of_a_known_and_an_unknown_write_requeues_neither(sqlite_harness: Harness) -> None:
    """`retry GOOD BAD` exits 2 naming BAD and leaves GOOD rejected (nothing half-done)."""
    sqlite_harness.table.insert(contact_type="nobody", company_id=1, first_name="Refused")
    assert sqlite_harness.sync().outcome == "attention"
    with sqlite_harness.store.read() as tx:
        (refused,) = load_status(tx)["rejected_writes"]
    code, _, err = run("retry", str(refused["write_id"]), "424242", env=cli_env(sqlite_harness))
    assert code == 2 and len(err) == 1 and "424242" in err[0], err
    with sqlite_harness.store.read() as tx:
        assert [w["write_id"] for w in load_status(tx)["rejected_writes"]] == [refused["write_id"]]


# --- dry run ------------------------------------------------------------------------------


def test_dry_run_exits_like_the_real_run_and_lists_local_deletions(sqlite_harness: Harness) -> None:
    """--dry-run says it did not ask the API, lists deleted rows and refusals, and exits 1 as the run does."""
    env = cli_env(sqlite_harness)
    table, sandbox = sqlite_harness.table, sqlite_harness.sandbox
    code, out, _ = run("sync", "--dry-run", env=env)
    assert code == 0, out
    assert "the API was not contacted" in out

    gone = table.execute("SELECT local_id, id FROM contacts ORDER BY id LIMIT 1")[0]
    table.execute("DELETE FROM contacts WHERE local_id = :local_id", gone)
    table.insert(contact_type="nobody", company_id=1, first_name="Refused")
    requests_before = len(sandbox.state.request_log())
    code, out, _ = run("sync", "--dry-run", env=env)
    assert len(sandbox.state.request_log()) == requests_before, "the dry run sent a request"
    assert code == 1, out
    assert "the API was not contacted" in out
    assert (
        f"# contact {gone['id']} (local_id {gone['local_id']}) was deleted locally; the Lev API has no "
        "DELETE, so nothing is sent and the next pull re-creates the row from the API"
    ) in out
    assert "would be refused" in out and "contact_type" in out
    assert "(exit 1)" in out

    assert sqlite_harness.sync().outcome == "attention"  # what the dry run foretold
    assert table.execute("SELECT count(*) AS n FROM contacts WHERE id = :id", gone)[0]["n"] == 1
    code, out, _ = run("sync", "--dry-run", env=env)
    assert code == 1, out
    assert "stays refused" in out and "contacts-sync retry" in out
    assert "was deleted locally" not in out


def test_dry_run_shows_put_backs_and_drops_refusals_of_deleted_rows(sqlite_harness: Harness) -> None:
    """--dry-run foretells the run's put-back of API-owned columns and its dropping of orphan refusals."""
    env = cli_env(sqlite_harness)
    table = sqlite_harness.table
    refused = table.insert(contact_type="nobody", company_id=1, first_name="Refused")
    assert sqlite_harness.sync().outcome == "attention"
    table.execute("DELETE FROM contacts WHERE local_id = :local_id", {"local_id": refused})
    owned = table.execute("SELECT local_id FROM contacts WHERE id IS NOT NULL ORDER BY id LIMIT 1")[0]
    table.update(owned["local_id"], owner_account_id=999)
    code, out, _ = run("sync", "--dry-run", env=env)
    assert code == 0, out  # the only refusal goes with its row
    assert f"(local_id {refused}) is dropped: its row is gone" in out
    assert f"# local_id {owned['local_id']}: owner_account_id belong to the API" in out


# --- the last line on a terminal ----------------------------------------------------------


def in_terminal(*args: str, env: dict[str, str], stdout_too: bool) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (and stdout too, or on a pipe).

    Returns the exit code, what the terminal showed and what the pipe got.
    """
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "sync.cli", *args],
        env=env | {"TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    streams = {master: bytearray()}
    if process.stdout is not None:
        streams[process.stdout.fileno()] = bytearray()
    deadline = time.monotonic() + TIMEOUT
    open_fds = set(streams)
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side closed with the process
                chunk = b""
            if chunk:
                streams[fd] += chunk
            else:
                open_fds.discard(fd)
    code = process.wait(timeout=TIMEOUT)
    os.close(master)
    piped = bytes(streams.get(process.stdout.fileno(), b"")) if process.stdout is not None else b""
    if process.stdout is not None:
        process.stdout.close()
    return code, bytes(streams[master]).decode(errors="replace"), piped.decode(errors="replace")


def after_last(text: str, marker: str) -> str:
    return text[text.rindex(marker) + len(marker) :]


def test_a_failed_run_ends_with_one_plain_line_on_the_terminal(sqlite_harness: Harness) -> None:
    """On a terminal a 401 ends with one plain stderr line, what failed and what to do, after the bars."""
    env = cli_env(sqlite_harness, CONTACTS_SYNC_API_TOKEN="lev_sk_not_the_right_one")
    code, terminal, piped = in_terminal("sync", env=env, stdout_too=False)
    assert code == 3, terminal + piped
    assert "contacts pulled" in terminal, "the progress bars were not shown"
    last = "contacts-sync: the sync failed (run "
    assert last in terminal and last not in piped
    line, _, rest = after_last(terminal, last).partition("\n")
    assert "answered 401" in line and "check CONTACTS_SYNC_API_TOKEN" in line
    assert rest.strip() == "", f"something was drawn after the last line: {rest!r}"
    assert terminal.index("contacts pulled") < terminal.rindex(last)


def test_an_attention_run_says_so_even_when_the_log_level_hides_the_summary(sqlite_harness: Harness) -> None:
    """With --log-level warning, a run leaving a conflict still ends with one plain line naming it."""
    held_conflict(sqlite_harness)
    env = cli_env(sqlite_harness)
    code, terminal, _ = in_terminal(
        "sync", "--policy", "manual", "--log-level", "warning", env=env, stdout_too=True
    )
    assert code == 1, terminal
    last = "contacts-sync: the sync finished, but 1 conflict(s) (`contacts-sync conflicts`)"
    assert last in terminal, terminal
    line, _, rest = after_last(terminal, last).partition("\n")
    assert "`contacts-sync status` shows them" in line
    assert rest.strip() == "", f"something was drawn after the last line: {rest!r}"


def test_a_run_that_needs_a_person_logs_its_summary_at_warning(
    sqlite_harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under --log-level warning (the tests' level), an attention run still logs sync.run.finished."""
    sqlite_harness.table.insert(contact_type="nobody", company_id=1, first_name="Refused")
    capsys.readouterr()
    assert sqlite_harness.sync().outcome == "attention"
    summaries = [line for line in capsys.readouterr().out.splitlines() if '"sync.run.finished"' in line]
    assert len(summaries) == 1 and '"outcome": "attention"' in summaries[0], summaries
