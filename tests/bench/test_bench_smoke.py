"""Smoke test of the benchmarks: they run and print their table. Timings are never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmarks_print_their_rows() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--only", "1,3,6"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith("machine: ")
    columns = r"\s+\| ".join(["#", "benchmark", "measured", "baseline", "ratio", "target", r"met\?"])
    header = re.search(rf"^{columns}$", out, re.M)
    assert header, out
    keys = re.findall(r"^(\w+)\s+\|", out[header.end() :], re.M)
    assert keys == ["1", "3a", "3b", "3c", "6"], out
    assert "ERROR" not in out
    for key in keys:
        row = re.search(rf"^{key}\s+\|(.*)$", out, re.M)
        assert row is not None
        cells = [cell.strip() for cell in row.group(1).split("|")]
        # benchmark, measured, baseline, ratio, target, met?
        assert len(cells) == 6 and cells[1], row.group(0)
