"""`contacts-sync demo [--api NAME]` tells its story to the end against the bundled sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("api", ["lev", "companies", "sessions"])
def test_the_demo_completes(api: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sync.cli", "demo", "--api", api, "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo complete." in result.stdout
    assert "FAILED" not in result.stdout and "STILL THERE" not in result.stdout
