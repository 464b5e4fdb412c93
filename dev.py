"""Set-up and entry point for a fresh checkout: needs only Python 3.11+.

    python3 dev.py demo    # install into .venv, then run the sandbox demo
    python3 dev.py test    # install into .venv, then run lint, types and the test suite

The virtual environment is created on first use and re-installed whenever
pyproject.toml changes, so both commands work right after a clone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - users run this with any python3
        sys.exit(f"contacts-sync needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing contacts-sync and its test tools into .venv ...", flush=True)
    run([str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([str(BIN / "python"), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"])
    STAMP.write_text(wanted)


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, cwd=ROOT, check=False)  # noqa: S603 - our own tools
    if result.returncode != 0:
        sys.exit(result.returncode)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    rest = sys.argv[2:]
    if command not in {"demo", "test"}:
        sys.exit(__doc__)
    ensure_environment()
    if command == "demo":
        run([str(BIN / "contacts-sync"), "demo", *rest])
        return
    run([str(BIN / "ruff"), "check", "sync", "storage", "config", "tests", "dev.py"])
    run([str(BIN / "mypy")])
    run([str(BIN / "python"), "-m", "pytest", *rest])


if __name__ == "__main__":
    main()
