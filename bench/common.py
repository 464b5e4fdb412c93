"""Shared pieces of the benchmarks: machine facts, settings detection, child and sandbox processes.

The orchestrator (`bench.run`) stays small on purpose: every measured subject runs
in a fresh interpreter (`bench.child`), and every sandbox in a process of its own
(`python -m sync.cli sandbox ...`), so the server's CPU is not charged to the client.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PAGE_LIMIT = 200


# --- the machine --------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores ({usable} usable), "
        f"Python {platform.python_version()} ({sys.executable}), {platform.system()} {platform.release()}"
    )


def code_version() -> str:
    """The commit and the paths with uncommitted changes (read-only git; no index refresh)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = sorted(line[3:] for line in dirty if len(line) > 3)
    return head + (f" + uncommitted changes in {', '.join(changed)}" if changed else " (clean)")


# --- settings the other work may add ----------------------------------------------------


def has_setting(name: str) -> bool:
    return name in Settings.model_fields


def window_setting() -> str | None:
    """A setting that tells the client the rate-limit window, if one exists."""
    return next((name for name in Settings.model_fields if "window" in name), None)


def setting_default(name: str) -> Any:
    info = Settings.model_fields[name]
    return info.get_default(call_default_factory=True)


# --- child processes ----------------------------------------------------------------------


class ChildFailed(RuntimeError):
    pass


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds(pids: Sequence[int]) -> float:
    usage = [resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage) + sum(process_cpu_seconds(pid) for pid in pids)


def run_child(
    task: str,
    args: dict[str, Any],
    workdir: Path,
    *,
    timeout: float,
    sandbox_pids: Sequence[int] = (),
) -> dict[str, Any]:
    """Run `python -m bench.child TASK` in a fresh interpreter; its JSON answer.

    The child's stdout (the product's JSON log lines) goes to a file in `workdir`.
    The answer gets `contention`: the wall time and the CPU seconds that processes
    other than this benchmark (orchestrator, child, `sandbox_pids`) used meanwhile.
    """
    busy0, own0, wall0 = busy_cpu_seconds(), _own_cpu_seconds(sandbox_pids), time.monotonic()
    answer = _run_child(task, args, workdir, timeout=timeout)
    wall = time.monotonic() - wall0
    foreign = (busy_cpu_seconds() - busy0) - (_own_cpu_seconds(sandbox_pids) - own0)
    answer["contention"] = {"wall_seconds": wall, "foreign_cpu_seconds": max(0.0, foreign)}
    return answer


def _run_child(task: str, args: dict[str, Any], workdir: Path, *, timeout: float) -> dict[str, Any]:
    stamp = f"{task}-{time.monotonic_ns()}"
    args_path = workdir / f"{stamp}.args.json"
    out_path = workdir / f"{stamp}.out.json"
    log_path = workdir / f"{stamp}.log"
    args_path.write_text(json.dumps(args))
    with log_path.open("wb") as log:
        try:
            proc = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bench.child", task, str(args_path), str(out_path)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ChildFailed(f"{task} did not finish within {timeout:.0f} s (log: {log_path})") from None
    if proc.returncode != 0 or not out_path.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        raise ChildFailed(f"{task} exited {proc.returncode}; log tail:\n{tail}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


# --- sandboxes in their own process -------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its threads) from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class SandboxProcess:
    """`python -m sync.cli sandbox` on a free loopback port, stopped by `stop()`."""

    contacts: int
    tier: str = "unlimited"
    latency_ms: int = 0
    window_seconds: float = 60.0
    seed: int = 1
    workdir: Path = field(default_factory=Path.cwd)
    token: str = field(default_factory=lambda: "lev_sk_sandbox_bench" + secrets.token_hex(8))
    base_url: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sync.cli",
            "sandbox",
            "--port",
            "0",
            "--contacts",
            str(self.contacts),
            "--tier",
            self.tier,
            "--latency-ms",
            str(self.latency_ms),
            "--window-seconds",
            str(self.window_seconds),
            "--seed",
            str(self.seed),
            "--token",
            self.token,
        ]

    def start(self, timeout: float = 600.0) -> SandboxProcess:
        name = f"{type(self).__name__}-{self.contacts}-{self.tier}-{time.monotonic_ns()}.log"
        log_path = self.workdir / name
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith("CONTACTS_SYNC_API_URL="):
                    self.base_url = line.split("=", 1)[1].strip()
                    return self
            if self.proc.poll() is not None:
                raise ChildFailed(
                    f"the sandbox exited {self.proc.returncode}: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.1)
        self.stop()
        raise ChildFailed(f"the sandbox with {self.contacts} contacts did not start within {timeout:.0f} s")

    @property
    def root_url(self) -> str:
        return self.base_url.split("/api/", 1)[0]

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid) if self.proc else float("nan")

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.root_url + "/_admin", timeout=60.0, trust_env=False) as http:
            response = http.request(method, path, json=body)
            response.raise_for_status()
            return response.json()["data"]

    def reset(self) -> None:
        """Forget the request log, counters and rate-limit windows."""
        self.admin("POST", "/reset")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class FastServerProcess(SandboxProcess):
    """`python -m bench.fastserver`: pre-rendered pages, near-zero server CPU; writes answered
    after `latency_ms` and not kept; no limits."""

    distinct: int = 20_000
    filter_mode: str = "apply"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.fastserver",
            "--contacts",
            str(self.contacts),
            "--distinct",
            str(self.distinct),
            "--filter",
            self.filter_mode,
            "--seed",
            str(self.seed),
            "--latency-ms",
            str(self.latency_ms),
            "--token",
            self.token,
        ]

    def write_span(self) -> float | None:
        """Seconds from the first write's arrival to the last one's, since the last reset."""
        span: float | None = self.admin("GET", "/stats")["write_span_seconds"]
        return span

    def requests(self) -> dict[str, int]:
        """Requests served per endpoint since the start or the last reset."""
        counts: dict[str, int] = self.admin("GET", "/stats")["requests"]
        return counts


def settings_environ(sandbox: SandboxProcess, database_url: str) -> dict[str, str]:
    """The environment `load_settings` gets in a child, as in tests/conftest.py."""
    return {
        "CONTACTS_SYNC_API_URL": sandbox.base_url,
        "CONTACTS_SYNC_API_TOKEN": sandbox.token,
        "CONTACTS_SYNC_DATABASE_URL": database_url,
        "CONTACTS_SYNC_TIMEOUT_SECONDS": "120",
    }


# --- plain SQL on a store, as another program would -------------------------------------------


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def sql(path: str, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path, timeout=30)
    try:
        rows = db.execute(statement, params).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def sql_script(path: str, script: str) -> None:
    db = sqlite3.connect(path, timeout=30)
    try:
        db.executescript(script)
        db.commit()
    finally:
        db.close()


def copy_sqlite(source: str, target: str) -> None:
    """A consistent copy of a WAL database (the backup API, not a file copy)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
