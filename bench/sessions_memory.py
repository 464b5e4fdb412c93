"""Peak memory of walking the session-contacts list through the client: 20k vs 200k contacts.

    .venv/bin/python -m bench.sessions_memory [--sizes 20000,200000] [--json]

For each size: the sessions sandbox in a process of its own (its contacts are
not charged to the client), then a fresh interpreter (`--child`) that makes the
client the way a run does (settings from the environment, the adapter's
`connect`), walks the whole list page by page, drops each page, and reports its
peak memory: VmHWM from /proc/self/status (ru_maxrss beside it, which on Linux
may carry a big parent's peak across vfork+exec). The cookie reaches the child
in its environment, never in argv. Targets (issue 12): the 200k peak at most
1.2 times the 20k peak, and under 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
API = "sessions"
RATIO_TARGET = 1.2
PEAK_TARGET_MB = 150.0


def memory() -> dict[str, float]:
    figures = {"vm_hwm_mb": float("nan"), "vm_rss_mb": float("nan")}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key = "vm_hwm_mb" if line.startswith("VmHWM:") else "vm_rss_mb"
            figures[key] = round(int(line.split()[1]) / 1024, 1)
    figures["ru_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def sync_child() -> dict[str, Any]:
    """A whole first sync (`--sync`): the list walked, merged and stored in a fresh SQLite file."""
    from config.settings import load_settings
    from storage.store import Store
    from sync.logs import configure_logging
    from sync.runner import run_once

    configure_logging(level="ERROR")
    settings, _ = load_settings()
    store = Store.open(settings.database_url, settings.api)
    before = memory()
    started = time.monotonic()
    result = run_once(settings, store=store)
    store.close()
    if result.outcome != "ok":
        raise RuntimeError(f"the sync ended {result.outcome}: {result.error}")
    return {
        "contacts": result.counts["pulled"],
        "pages": result.counts["requests"],
        "seconds": round(time.monotonic() - started, 2),
        "before_walk": before,
        "after_walk": memory(),
        "requests": result.counts["requests"],
        "kept_sample": True,
    }


def child() -> dict[str, Any]:
    """Walk the whole list once through the real client; what it took."""
    import random

    from config.settings import load_settings
    from sync.apis.adapter import ClientParts
    from sync.apis.registry import adapter_named
    from sync.retrying import RetryBudget, RetryPolicy

    settings, _ = load_settings()
    adapter = adapter_named(settings.api)
    adapter.check_settings(settings)
    policy = RetryPolicy()
    client = adapter.connect(settings, ClientParts(retry=policy, budget=RetryBudget(60), sleep=time.sleep))
    before = memory()
    started = time.monotonic()
    contacts = pages = 0
    sample: dict[str, Any] = {}
    try:
        page = client.fetch_page(None)
        while True:
            pages += 1
            contacts += len(page.contacts)
            if page.contacts and random.random() < 0.01:
                sample = page.contacts[-1]  # keep one, as a store would keep what it writes
            if page.next_cursor is None:
                break
            page = client.fetch_page(page.next_cursor)
    finally:
        client.close()
    seconds = time.monotonic() - started
    return {
        "contacts": contacts,
        "pages": pages,
        "seconds": round(seconds, 2),
        "before_walk": before,
        "after_walk": memory(),
        "requests": client.stats.requests,
        "kept_sample": bool(sample),
    }


def start_sandbox(contacts: int, workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """The sandbox on a free loopback port; its process, API URL and cookie (from its output)."""
    log_path = workdir / f"sandbox-{contacts}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", f"sync.apis.{API}.sandbox", "--port", "0", "--contacts", str(contacts)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        lines = dict(
            line.split("=", 1) for line in log_path.read_text(errors="replace").splitlines() if "=" in line
        )
        if "CONTACTS_SYNC_API_URL" in lines and "CONTACTS_SYNC_SESSION_COOKIE" in lines:
            return proc, lines["CONTACTS_SYNC_API_URL"].strip(), lines["CONTACTS_SYNC_SESSION_COOKIE"].strip()
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the sandbox with {contacts} contacts did not start within 300 s")


def measure(contacts: int, workdir: Path, *, whole_sync: bool = False) -> dict[str, Any]:
    proc, url, cookie = start_sandbox(contacts, workdir)
    try:
        environ = {
            key: value for key, value in os.environ.items() if not key.startswith("CONTACTS_SYNC_")
        } | {
            "CONTACTS_SYNC_API": API,
            "CONTACTS_SYNC_API_URL": url,
            "CONTACTS_SYNC_SESSION_COOKIE": cookie,
            "CONTACTS_SYNC_TIMEOUT_SECONDS": "120",
            "CONTACTS_SYNC_DATABASE_URL": f"sqlite:///{workdir / f'store-{contacts}.db'}",
        }
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.sessions_memory", "--child", *(["--sync"] if whole_sync else [])],
            cwd=REPO,
            env=environ,
            capture_output=True,
            check=False,
            timeout=900,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"the child failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if result["contacts"] != contacts:
        raise RuntimeError(f"the walk saw {result['contacts']} contacts, not {contacts}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions_memory", description=__doc__)
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="measure a whole first sync into SQLite, not the client's walk alone",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(sync_child() if args.sync else child()))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="sessions-memory-") as tmp:
        results = {size: measure(size, Path(tmp), whole_sync=args.sync) for size in sizes}
    small, large = results[min(sizes)], results[max(sizes)]
    peak_small = small["after_walk"]["vm_hwm_mb"]
    peak_large = large["after_walk"]["vm_hwm_mb"]
    ratio = peak_large / peak_small
    verdict = ratio <= RATIO_TARGET and peak_large < PEAK_TARGET_MB
    if args.json:
        print(json.dumps({"results": results, "ratio": round(ratio, 3), "met": verdict}, indent=2))
    else:
        header = ("contacts", "pages", "seconds", "peak MB", "before MB", "ru_maxrss MB")
        print("{:>9} {:>6} {:>8} {:>8} {:>10} {:>13}".format(*header))
        for size, result in results.items():
            after, before = result["after_walk"], result["before_walk"]
            row = (size, result["pages"], result["seconds"], after["vm_hwm_mb"], before["vm_rss_mb"])
            print("{:>9} {:>6} {:>8} {:>8} {:>10} {:>13}".format(*row, after["ru_maxrss_mb"]))
        met = "met" if verdict else "NOT met"
        print(
            f"peak {max(sizes)} / peak {min(sizes)} = {ratio:.3f} (target <= {RATIO_TARGET}); "
            f"{max(sizes)}: {peak_large} MB (target < {PEAK_TARGET_MB:g} MB): {met}"
        )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
