"""Fleet throughput: accounts synced per minute with 1, 2, 3 workers (`python -m bench.fleet`).

A sandbox process serves N accounts (one token each) with a fixed latency on every
answer; a fresh PostgreSQL database holds the queue and the accounts' schemas. Every
account is due every second, so the workers never run out of work: the figure is
how many account runs the workers finish per minute, not the schedule.

Each phase starts W workers, lets every account finish one run (the first pull, not
counted), then counts the runs that start and finish inside a measuring window, with
the workers' CPU seconds over the window (from /proc). Per-run cost (requests, wall
seconds) comes from the runs the stores recorded. Then the workers get SIGTERM.

    python -m bench.fleet [--accounts 30] [--contacts 50] [--latency-ms 50]
                          [--workers 1,2,3] [--concurrency 2] [--seconds 40] [--quick]

Timings are printed, never asserted. On a 2-core machine the sandbox, PostgreSQL and
the workers share the cores: read the scaling with the CPU column beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.common import REPO, SandboxProcess, busy_cpu_seconds, machine_line, process_cpu_seconds

DEFAULT_SERVER = os.environ.get("CONTACTS_SYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Lev's standard tier: 100 requests a minute per account, 20 a minute per endpoint.
STANDARD_ACCOUNT_PER_MINUTE = 100
STANDARD_ENDPOINT_PER_MINUTE = 20


@dataclass(frozen=True)
class Phase:
    workers: int
    runs: int
    window_seconds: float
    worker_cpu_seconds: float
    sandbox_cpu_seconds: float
    run_seconds_median: float
    requests_per_run: float
    machine_busy: float  # share of all cores busy during the window (every process)

    @property
    def runs_per_minute(self) -> float:
        return 60 * self.runs / self.window_seconds

    @property
    def cpu_per_run(self) -> float:
        return self.worker_cpu_seconds / self.runs if self.runs else float("nan")


def schema_of(name: str) -> str:
    return "cs_" + name.replace("-", "_")


def write_fleet_file(path: Path, database_url: str, api_url: str, accounts: list[str]) -> None:
    lines = [
        "[fleet]",
        f'database_url = "{database_url}"',
        'every = "1s"',
        "metrics_accounts = []",
        "",
        "[defaults]",
        f'api_url = "{api_url}"',
        "timeout_seconds = 10",
        "",
    ]
    for name in accounts:
        lines += [f"[accounts.{name}]", f'api_token_env = "TOKEN_{name.upper().replace("-", "_")}"', ""]
    path.write_text("\n".join(lines))


def finished_runs(database_url: str, accounts: list[str], since: str, until: str) -> list[dict[str, Any]]:
    """Runs that started at or after `since` and finished by `until` (ISO stamps, UTC)."""
    found = []
    with psycopg.connect(database_url) as db:
        for name in accounts:
            query = (
                f"SELECT counts FROM {schema_of(name)}.runs WHERE outcome IN ('ok', 'attention') "  # noqa: S608
                "AND started_at >= %s AND finished_at <= %s"
            )
            for (counts,) in db.execute(query.encode(), (since, until)):
                found.append(json.loads(counts) if isinstance(counts, str) else counts)
    return found


def accounts_with_a_run(database_url: str, accounts: list[str]) -> int:
    with psycopg.connect(database_url) as db:
        done = 0
        for name in accounts:
            query = f"SELECT 1 FROM {schema_of(name)}.runs WHERE outcome = 'ok' LIMIT 1"  # noqa: S608
            done += db.execute(query.encode()).fetchone() is not None
        return done


def now_iso() -> str:
    from storage.store import now

    return now()


def start_workers(
    count: int, *, config: Path, env: dict[str, str], concurrency: int, workdir: Path
) -> list[Any]:
    command = [
        sys.executable, "-m", "sync.cli", "fleet", "worker", "--config", str(config),
        "--concurrency", str(concurrency), "--tick-seconds", "1", "--poll-seconds", "0.5",
        "--log-level", "warning",
    ]  # fmt: skip
    processes = []
    for n in range(count):
        log = (workdir / f"worker-{count}-{n}-{time.monotonic_ns()}.log").open("w")
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))  # noqa: S603
    return processes


def stop_workers(processes: list[Any]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def run_phase(
    workers: int, *, config: Path, env: dict[str, str], args: argparse.Namespace, workdir: Path, sandbox: Any
) -> Phase:
    processes = start_workers(workers, config=config, env=env, concurrency=args.concurrency, workdir=workdir)
    try:
        time.sleep(args.warmup)  # imports, registration, the first jobs
        start_cpu = sum(process_cpu_seconds(p.pid) for p in processes)
        start_sandbox = sandbox.cpu_seconds()
        start_busy = busy_cpu_seconds()
        since, started = now_iso(), time.monotonic()
        time.sleep(args.seconds)
        until, window = now_iso(), time.monotonic() - started
        cpu = sum(process_cpu_seconds(p.pid) for p in processes) - start_cpu
        sandbox_cpu = sandbox.cpu_seconds() - start_sandbox
        busy = (busy_cpu_seconds() - start_busy) / (window * (os.cpu_count() or 1))
    finally:
        stop_workers(processes)
    runs = finished_runs(env["BENCH_DATABASE_URL"], args.names, since, until)
    seconds = [float(c.get("seconds", 0)) for c in runs]
    requests = [float(c.get("requests", 0)) for c in runs]
    return Phase(
        workers=workers,
        runs=len(runs),
        window_seconds=window,
        worker_cpu_seconds=cpu,
        sandbox_cpu_seconds=sandbox_cpu,
        run_seconds_median=statistics.median(seconds) if seconds else float("nan"),
        requests_per_run=statistics.mean(requests) if requests else float("nan"),
        machine_busy=busy,
    )


def estimate(phase: Phase, *, concurrency: int, period_minutes: float) -> list[str]:
    """Accounts one worker serves at the standard tier, from one phase's per-run cost."""
    slots = concurrency * period_minutes * 60 / phase.run_seconds_median
    cpu = period_minutes * 60 / phase.cpu_per_run if phase.cpu_per_run == phase.cpu_per_run else float("nan")
    budget = STANDARD_ACCOUNT_PER_MINUTE * period_minutes
    return [
        f"per run (nothing changed): {phase.requests_per_run:.1f} requests, {phase.run_seconds_median:.3f} s "
        f"wall (median), {phase.cpu_per_run:.3f} CPU-s in the worker",
        f"one worker, --concurrency {concurrency}, every account every {period_minutes:g} min: "
        f"~{slots:,.0f} accounts by wall time (slots x period / run time), ~{cpu:,.0f} by one core of CPU",
        f"standard tier: a run of {phase.requests_per_run:.1f} requests uses that many of the "
        f"account's {budget:g} requests per {period_minutes:g} min; the tier binds per account, not per "
        "worker. What it costs a worker is waiting: a change of N contacts takes N/20 min of a slot "
        f"(PATCH: {STANDARD_ENDPOINT_PER_MINUTE}/min per endpoint), a first pull of M contacts M/4000 min "
        "(200 a page, 20 pages a minute); size --concurrency for those waits, not for CPU.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL (a database is made)")
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--contacts", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40.0, help="measuring window of each phase")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--period-minutes", type=float, default=15.0, help="schedule assumed by the estimate")
    parser.add_argument("--quick", action="store_true", help="10 accounts, 10 s windows (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.seconds, args.warmup = 10, 10.0, 6.0
    args.names = [f"b{n:03d}" for n in range(args.accounts)]
    print(machine_line())
    database = f"bench_fleet_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}".encode())
    database_url = args.server.rsplit("/", 1)[0] + "/" + database
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    sandbox = SandboxProcess(contacts=1, latency_ms=args.latency_ms, workdir=workdir).start()
    try:
        env = {**os.environ, "BENCH_DATABASE_URL": database_url}
        for index, name in enumerate(args.names):
            added = sandbox.admin(
                "POST",
                "/accounts",
                {"name": name, "contacts": args.contacts, "seed": index, "latency_ms": args.latency_ms},
            )
            env[f"TOKEN_{name.upper()}"] = added["token"]
        config = workdir / "fleet.toml"
        write_fleet_file(config, database_url, sandbox.base_url, args.names)
        migrate = [sys.executable, "-m", "sync.cli", "fleet", "migrate", "--config", str(config)]
        subprocess.run(migrate, cwd=REPO, env=env, check=True, capture_output=True)  # noqa: S603
        # Every account's first (full) pull, outside the measurements.
        warming = start_workers(3, config=config, env=env, concurrency=args.concurrency, workdir=workdir)
        try:
            deadline = time.monotonic() + 180
            while accounts_with_a_run(database_url, args.names) < len(args.names):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the first runs did not finish in 180 s; see the logs in {workdir}")
                time.sleep(1)
        finally:
            stop_workers(warming)
        phases = [
            run_phase(int(w), config=config, env=env, args=args, workdir=workdir, sandbox=sandbox)
            for w in args.workers.split(",")
        ]
    finally:
        sandbox.stop()
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {database} WITH (FORCE)".encode())
    print(
        f"{args.accounts} accounts x {args.contacts} contacts, {args.latency_ms} ms per answer, "
        f"--concurrency {args.concurrency}, window {args.seconds:g} s"
    )
    print(
        "workers | runs/min | vs 1 | run wall s (median) | requests/run | worker CPU-s/run | sandbox CPU-s "
        "| cores busy"
    )
    base = phases[0].runs_per_minute if phases else float("nan")
    for p in phases:
        print(
            f"{p.workers:7d} | {p.runs_per_minute:8.1f} | {p.runs_per_minute / base:4.2f} | "
            f"{p.run_seconds_median:19.3f} | {p.requests_per_run:12.1f} | {p.cpu_per_run:16.3f} | "
            f"{p.sandbox_cpu_seconds:13.1f} | {p.machine_busy:.0%}"
        )
    if phases:
        for line in estimate(phases[0], concurrency=args.concurrency, period_minutes=args.period_minutes):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
