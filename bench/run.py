"""Benchmarks of contacts-sync: `python -m bench.run [--quick] [--only 1,3,6]`.

Prints one table (benchmark, measured figure, baseline measured in the same run,
ratio, target, met?) with the machine it ran on, then notes on how each figure
was obtained. Targets are reported here, never asserted in tests. The exit code
is 0 when every selected benchmark ran (whether or not it met its target), 1 when
one of them could not run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from bench.cases import BENCHMARKS, FULL, QUICK, Context, Row, settings_summary
from bench.common import REPO, code_version, machine_line

HEADERS = ("#", "benchmark", "measured", "baseline", "ratio", "target", "met?")


def parse_only(text: str | None) -> list[int]:
    if not text:
        return sorted(BENCHMARKS)
    chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"--only: no benchmark {unknown}; they are {sorted(BENCHMARKS)}")
    return chosen


def render(rows: list[Row]) -> str:
    cells = [HEADERS, *((r.key, r.name, r.measured, r.baseline, r.ratio, r.target, r.met) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def contention_summary(ctx: Context) -> str:
    """How much CPU processes outside the benchmark took while the children ran."""
    if not ctx.contention:
        return "other load: nothing measured"
    shares = [(c["foreign_cpu_seconds"] / max(c["wall_seconds"], 1e-9), task) for task, c in ctx.contention]
    total = sum(c["foreign_cpu_seconds"] for _, c in ctx.contention)
    busy = [f"{task} {share:.2f}" for share, task in shares if share > 0.1]
    line = (
        f"other load (CPU of processes outside the benchmark while its children ran, in cores): "
        f"max {max(shares)[0]:.2f}, total {total:.1f} CPU-s"
    )
    if busy:
        line += "\nWARNING: other processes competed for the CPU during: " + ", ".join(busy)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI smoke")
    parser.add_argument("--only", metavar="N,...", help="run only these benchmarks (1-9)")
    parser.add_argument(
        "--write-concurrency",
        type=int,
        default=None,
        help="value for the write_concurrency setting, when it exists (default: its default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stores, logs)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and notes as JSON")
    options = parser.parse_args(argv)
    chosen = parse_only(options.only)
    sizes = QUICK if options.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="contacts-sync-bench-"))
    ctx = Context(sizes=sizes, workdir=workdir, write_concurrency=options.write_concurrency)
    print(machine_line(), flush=True)
    version = code_version()
    print(f"code: {REPO} at {version}")
    print(
        settings_summary()
        + f"; sync/pacing.py: {'present' if (REPO / 'sync/pacing.py').exists() else 'absent'}"
    )
    print(
        f"sizes: {'quick' if options.quick else 'full'} {asdict(sizes)}; work directory {workdir}",
        flush=True,
    )
    rows: list[Row] = []
    failed = False
    started = time.monotonic()
    try:
        for number in chosen:
            title, bench = BENCHMARKS[number]
            print(f"... {number}. {title}", file=sys.stderr, flush=True)
            step = time.monotonic()
            ctx.current = str(number)
            try:
                rows.extend(bench(ctx))
            except Exception as exc:
                failed = True
                rows.append(Row(str(number), title, f"ERROR: {str(exc).splitlines()[0][:80]}"))
                traceback.print_exc(file=sys.stderr)
            print(f"    done in {time.monotonic() - step:.1f} s", file=sys.stderr, flush=True)
    finally:
        ctx.stop_all()
    print()
    print(render(rows))
    print()
    print(
        "memory: peak RSS = VmHWM from /proc/self/status inside each fresh child process "
        "(ru_maxrss is recorded too but inherits the parent's peak across vfork+exec)"
    )
    print(
        "each subject and baseline runs in a fresh `python -m bench.child` process; each sandbox in its own "
        "`python -m sync.cli sandbox` process on loopback; on this machine they share the same cores"
    )
    for note in ctx.notes:
        print("- " + note)
    print(contention_summary(ctx))
    print(f"total {time.monotonic() - started:.0f} s")
    if code_version() != version:
        print(f"WARNING: the code changed during the run (now {code_version()}); figures may mix versions")
    if options.json:
        Path(options.json).write_text(
            json.dumps(
                {"rows": [asdict(r) for r in rows], "notes": ctx.notes, "sizes": asdict(sizes)}, indent=2
            )
        )
    if options.keep:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
