"""One measured subject in a fresh interpreter: `python -m bench.child TASK ARGS.json OUT.json`.

Tasks:
  sync           one `run_once` with settings from `load_settings(flags=..., environ=...)`;
                 with `profile`, under cProfile, its stats dumped to that path
  baseline_walk  `bench.bare.walk`: a bare httpx loop over the same pages; with a SQLite
                 path, one `executemany` per page into a plain table with the same columns
  plan           `Engine.plan()` over the store, repeated (pending writes removed between runs)
  select_all     `SELECT * FROM contacts` through sqlite3, repeated

Each answer carries the peak memory of this process: VmHWM from /proc/self/status
(the high-water mark of this process image) and ru_maxrss for reference. On Linux
ru_maxrss survives vfork+exec, so a child started by a big parent reports the
parent's peak; VmHWM does not, so it is the figure the benchmarks use.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def memory() -> dict[str, float]:
    hwm = float("nan")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return {
        "peak_rss_mb": round(hwm, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the subject: one sync run -----------------------------------------------------------


def task_sync(args: dict[str, Any]) -> dict[str, Any]:
    from config.settings import load_settings
    from storage.store import Store
    from sync.logs import configure_logging
    from sync.runner import run_once

    configure_logging(level=args.get("log_level", "INFO"), json=True)
    settings, _ = load_settings(flags=args.get("flags") or {}, environ=args["environ"])
    profiler = None
    if args.get("profile"):  # a pstats file of the run, for bench/profile notes
        import cProfile

        profiler = cProfile.Profile()
    cpu0, wall0 = cpu(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    store = Store.open(settings.database_url)
    try:
        result = run_once(settings, store=store)
    finally:
        store.close()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args["profile"])
    wall, cpu_used = time.perf_counter() - wall0, cpu() - cpu0
    concurrency = getattr(settings, "write_concurrency", None)
    return {
        "outcome": result.outcome,
        "error": result.error,
        "counts": result.counts,
        "seconds": wall,
        "cpu_seconds": cpu_used,
        "settings": {
            "tier": getattr(settings, "tier", None),
            "write_concurrency": concurrency,
            **{name: getattr(settings, name) for name in type(settings).model_fields if "window" in name},
        },
        **memory(),
    }


# --- the baseline: a bare page walk (bench/bare.py) ------------------------------------------


def task_baseline_walk(args: dict[str, Any]) -> dict[str, Any]:
    from bench.bare import walk

    figures = walk(
        args["base_url"],
        args["token"],
        sqlite_path=args.get("sqlite_path"),
        limit=args.get("limit", 200),
        gte=args.get("gte"),
    )
    return {**figures, **memory()}


# --- planning ------------------------------------------------------------------------------


class _PlanOnlyRemote:
    """The engine's remote for `plan()` alone: only the wire rules are used."""

    def __init__(self) -> None:
        from config.settings import Settings
        from sync.apis.registry import DEFAULT_API, adapter_named
        from sync.remote import RequestStats

        self.rules = adapter_named(DEFAULT_API).wire_rules(Settings())
        self.stats = RequestStats()

    def fetch_page(self, cursor: str | None) -> Any:
        raise AssertionError("plan() must not fetch")

    def send_write(self, request: Any, idempotency_key: str, **options: Any) -> Any:
        raise AssertionError("plan() must not send")


def task_plan(args: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import text

    from storage.store import Store
    from sync.engine import Engine, EngineOptions
    from sync.logs import configure_logging

    configure_logging(level="WARNING", json=True)
    store = Store.open(args["database_url"])
    engine = Engine(store, _PlanOnlyRemote(), EngineOptions())  # type: ignore[arg-type]
    times: list[float] = []
    planned: list[int] = []
    with store.read() as tx:  # the rows the edits marked, to mark again before each run
        marked = [local_id for _, local_id in store.load_marks(tx)]
    cpu0 = cpu()
    for _ in range(args["repeats"]):
        started = time.perf_counter()
        writes, rejections = engine.plan()
        times.append(time.perf_counter() - started)
        planned.append(len(writes) + len(rejections))
        with store.write() as tx:  # undo, so the next run plans the same writes
            tx.execute(text("DELETE FROM writes"))
            store.save_marks(tx, marked)
    store.close()
    return {
        "times": times,
        "median_seconds": statistics.median(times),
        "planned": planned,
        "cpu_seconds": cpu() - cpu0,
        **memory(),
    }


def task_select_all(args: dict[str, Any]) -> dict[str, Any]:
    times: list[float] = []
    rows = 0
    db = sqlite3.connect(args["sqlite_path"])
    for _ in range(args["repeats"]):
        started = time.perf_counter()
        rows = len(db.execute("SELECT * FROM contacts").fetchall())
        times.append(time.perf_counter() - started)
    db.close()
    return {"times": times, "median_seconds": statistics.median(times), "rows": rows, **memory()}


TASKS = {
    "sync": task_sync,
    "baseline_walk": task_baseline_walk,
    "plan": task_plan,
    "select_all": task_select_all,
}


def main(argv: list[str]) -> int:
    task, args_path, out_path = argv
    args = json.loads(Path(args_path).read_text())
    result = TASKS[task](args)
    Path(out_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
