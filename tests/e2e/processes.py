"""Real `contacts-sync` processes for the end-to-end tests: run, start, wait for, inspect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sync.apis.lev.sandbox.server import SandboxServer
from tests.conftest import LocalTable


class Cli:
    """`contacts-sync` as a user runs it: a subprocess with settings in the environment."""

    def __init__(self, sandbox: SandboxServer, database_url: str, **extra_env: str) -> None:
        self.env = {
            **os.environ,
            "CONTACTS_SYNC_API_URL": sandbox.base_url,
            "CONTACTS_SYNC_API_TOKEN": sandbox.token,
            "CONTACTS_SYNC_DATABASE_URL": database_url,
            "CONTACTS_SYNC_RETRY_BASE_DELAY": "0.05",
            **extra_env,
        }
        self.started: list[subprocess.Popen[str]] = []

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "sync.cli", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append(process)
        return process

    def kill_leftovers(self) -> None:
        """A failed test must not leave its daemon running into the next one."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()

    def status(self) -> dict[str, Any]:
        done = self.run("status", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def writes_received(sandbox: SandboxServer) -> int:
    return len([e for e in sandbox.state.request_log() if e.method in ("POST", "PATCH")])


def mid_push(
    setup: tuple[SandboxServer, Cli, LocalTable],
    prefix: str,
    *,
    count: int,
    slow_ms: int,
    command: tuple[str, ...] = ("daemon", "--every", "1h"),
) -> subprocess.Popen[str]:
    """`command` started after `count` local inserts, once its first slow write has reached the API."""
    sandbox, cli, table = setup
    assert cli.run("sync").returncode == 0
    for n in range(count):
        table.insert(contact_type="sponsor", company_id=1, first_name=f"{prefix}{n}")
    sandbox.state.set_faults(f"slow={slow_ms}@p1/WRITE")
    process = cli.start(*command)
    wait_until(lambda: writes_received(sandbox) >= 1)
    return process


def created_with(sandbox: SandboxServer, prefix: str) -> list[str]:
    names = [c["first_name"] or "" for c in sandbox.state.all_contacts()]
    return sorted(name for name in names if name.startswith(prefix))


def json_events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def read_until(process: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    """The output of a started process up to the first line holding `text` (killed after `timeout`)."""
    assert process.stdout is not None
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if text in line:
                return "".join(lines)
    finally:
        timer.cancel()
    raise AssertionError(f"{text!r} never appeared in: {''.join(lines)[-2000:]}")
