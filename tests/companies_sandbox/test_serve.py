"""serve() and ``python -m sync.apis.companies.sandbox``: the foreground entry points."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from sync.apis.companies.sandbox import serve


def _settings(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if not line.startswith("#"))


def test_serve_prints_url_token_and_companies_then_serves_until_stopped() -> None:
    """serve prints URL, first token and companies, a comment per other account; stop ends it."""
    out = io.StringIO()
    stop = threading.Event()
    runner = threading.Thread(
        target=serve,
        kwargs={"port": 0, "contacts_per_company": 3, "tokens": ["tok-cli"], "stop": stop, "out": out},
    )
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while out.getvalue().count("\n") < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        lines = out.getvalue().splitlines()
        settings = _settings(lines)
        assert settings["CONTACTS_SYNC_API_TOKEN"] == "tok-cli"
        url = settings["CONTACTS_SYNC_API_URL"]
        assert url.startswith("http://127.0.0.1:")
        companies = settings["CONTACTS_SYNC_COMPANY_IDS"].split(",")
        assert len(companies) == 2
        assert lines[3].startswith("# account 2: CONTACTS_SYNC_API_TOKEN=cmp_sk_sandbox_")
        response = httpx.get(
            url + "/contacts",
            params={"company_id": companies[0]},
            headers={"Authorization": "Bearer tok-cli"},
        )
        assert response.status_code == 200 and len(response.json()) == 3
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()


def test_module_entry_point_serves_and_stops_on_sigterm() -> None:
    """python -m sync.apis.companies.sandbox --port 0 prints its settings, serves, and exits 0 on SIGTERM."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync.apis.companies.sandbox",
            "--port",
            "0",
            "--accounts",
            "1",
            "--contacts",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            assert process.stdout is not None
            settings = _settings([process.stdout.readline().strip() for _ in range(3)])
            company = settings["CONTACTS_SYNC_COMPANY_IDS"].split(",")[0]
            response = httpx.get(
                settings["CONTACTS_SYNC_API_URL"] + "/contacts",
                params={"company_id": company},
                headers={"Authorization": f"Bearer {settings['CONTACTS_SYNC_API_TOKEN']}"},
                timeout=10,
            )
            assert len(response.json()) == 2
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_module_entry_point_refuses_a_bad_fault_spec_with_exit_2() -> None:
    """A fault SPEC that does not parse exits 2 with a message naming it, before listening."""
    result = subprocess.run(
        [sys.executable, "-m", "sync.apis.companies.sandbox", "--port", "0", "--faults", "boom@1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "boom@1" in result.stderr
    assert result.stdout == ""
