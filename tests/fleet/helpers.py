"""The fleet's test kit: a database of its own, a fleet file, account tables, worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg

from sync.apis.lev.sandbox.server import SandboxServer


@contextlib.contextmanager
def fleet_database(server_url: str) -> Iterator[str]:
    """A fresh database on the test server (procrastinate's tables live in its public schema)."""
    name = f"fleet_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def token_variable(name: str) -> str:
    return "TOKEN_" + name.upper().replace("-", "_")


def write_fleet_file(
    path: Path,
    *,
    database_url: str,
    api_url: str,
    accounts: list[str],
    every: str = "4s",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """A fleet file whose accounts take their token from TOKEN_<NAME>."""
    defaults = {
        "api_url": api_url,
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.2,
        "timeout_seconds": 5,
        # One write at a time: a run then talks on one connection at a time, which is
        # what lets the sandbox's connection spans prove that runs never overlap.
        "write_concurrency": 1,
        **(extra or {}),
    }
    lines = ["[fleet]", f"database_url = {json.dumps(database_url)}", f"every = {json.dumps(every)}", ""]
    lines += ["[defaults]", *(f"{k} = {json.dumps(v)}" for k, v in defaults.items()), ""]
    for name in accounts:
        lines += [f"[accounts.{name}]", f"api_token_env = {json.dumps(token_variable(name))}", ""]
    path.write_text("\n".join(lines))
    return path


def add_sandbox_accounts(sandbox: SandboxServer, names: list[str], *, contacts: int) -> dict[str, str]:
    """One sandbox account per name; their tokens by name."""
    tokens = {}
    for index, name in enumerate(names):
        state = sandbox.accounts.add(name, contacts=contacts, seed=100 + index)
        tokens[name] = state.token
    return tokens


class AccountTable:
    """Another program editing one account's `contacts` table with plain SQL."""

    def __init__(self, database_url: str, schema: str) -> None:
        self.database_url = database_url
        self.schema = schema

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, options=f"-csearch_path={self.schema}") as db:
            cursor = db.execute(sql.encode(), dict(params or {}))
            if cursor.description is None:
                return []
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def insert(self, **values: Any) -> None:
        columns = ", ".join(values)
        placeholders = ", ".join(f"%({name})s" for name in values)
        self.execute(f"INSERT INTO contacts ({columns}) VALUES ({placeholders})", values)

    def update_first_row(self, **values: Any) -> dict[str, Any]:
        row = self.execute(
            "SELECT local_id, id FROM contacts WHERE id IS NOT NULL ORDER BY local_id LIMIT 1"
        )[0]
        assignments = ", ".join(f"{name} = %({name})s" for name in values)
        self.execute(f"UPDATE contacts SET {assignments} WHERE local_id = %(local_id)s", {**values, **row})
        return row

    def count(self) -> int:
        return int(self.execute("SELECT count(*) AS n FROM contacts")[0]["n"])


class Workers:
    """`contacts-sync fleet worker` processes, started and stopped as a test needs."""

    def __init__(self, config: Path, env: Mapping[str, str], *options: str) -> None:
        self.config = config
        self.env = {**os.environ, **env}
        self.options = options
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: dict[int, Path] = {}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync.cli", "fleet", *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, log_dir: Path) -> subprocess.Popen[str]:
        log_path = log_dir / f"worker-{len(self.processes)}.log"
        with log_path.open("w") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sync.cli",
                    "fleet",
                    "worker",
                    "--config",
                    str(self.config),
                    *self.options,
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.processes.append(process)
        self.logs[process.pid] = log_path
        return process

    def by_pid(self, pid: int) -> subprocess.Popen[str]:
        return next(p for p in self.processes if p.pid == pid)

    def stop_all(self, timeout: float = 60) -> dict[int, int | None]:
        """SIGTERM every live worker; their exit codes by pid (None: had to be killed)."""
        live = [p for p in self.processes if p.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        for process in live:
            try:
                codes[process.pid] = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes[process.pid] = None
        return codes

    def kill_leftovers(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- worker pid {pid}\n" + "\n".join(path.read_text().splitlines()[-lines:])
            for pid, path in self.logs.items()
        )


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, tail: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tail()}")
        time.sleep(0.1)


def fleet_rows(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url) as db:
        cursor = db.execute("SELECT * FROM contacts_sync_fleet")
        names = [c.name for c in cursor.description or []]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
