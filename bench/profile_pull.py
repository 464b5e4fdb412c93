"""Where a full pull's client CPU goes: `python -m bench.profile_pull [--contacts N] [--top K]`.

Starts bench/fastserver.py, runs the sync child of benchmark 7 under cProfile into a
fresh SQLite store (and the bare walk beside it, for its CPU), then prints the child's
CPU figures and the functions with the most own and cumulative time. The profiler's own
overhead inflates the figures; read the shares, and take CPU ratios from `bench.run --only 7`.
"""

from __future__ import annotations

import argparse
import pstats
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import FastServerProcess, run_child, settings_environ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_pull", description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stores, pstats)")
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only, without cProfile")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each (a fresh store each), for medians"
    )
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="contacts-sync-profile-"))
    server = FastServerProcess(contacts=options.contacts, workdir=workdir).start()
    stats_path = workdir / "pull.pstats"
    syncs: list[float] = []
    bares: list[float] = []
    try:
        for run in range(options.repeat):  # alternated, so both meet the same other load
            bare = run_child(
                "baseline_walk",
                {
                    "base_url": server.base_url,
                    "token": server.token,
                    "sqlite_path": str(workdir / f"bare{run}.db"),
                },
                workdir,
                timeout=600,
            )
            args = {
                "environ": settings_environ(server, f"sqlite:///{workdir / f'store{run}.db'}"),
                "flags": {"tier": "unlimited"},
            }
            if not options.no_profile:
                args["profile"] = str(stats_path)
            answer = run_child("sync", args, workdir, timeout=600)
            syncs.append(answer["cpu_seconds"])
            bares.append(bare["cpu_seconds"])
            print(
                f"sync: {answer['outcome']} {answer['counts']['pulled']} pulled, CPU {syncs[-1]:.3f} s; "
                f"bare: CPU {bares[-1]:.3f} s; ratio {syncs[-1] / bares[-1]:.2f}"
            )
        sync_cpu, bare_cpu = statistics.median(syncs), statistics.median(bares)
        print(
            f"median of {options.repeat}: sync {sync_cpu:.3f} s, bare {bare_cpu:.3f} s, "
            f"ratio {sync_cpu / bare_cpu:.2f}; fastest: sync {min(syncs):.3f} s, bare {min(bares):.3f} s, "
            f"ratio {min(syncs) / min(bares):.2f}"
        )
        if not options.no_profile:
            stats = pstats.Stats(str(stats_path))
            stats.sort_stats("tottime").print_stats(options.top)
            stats.sort_stats("cumulative").print_stats(options.top)
    finally:
        server.stop()
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
