"""serve() and ``python -m sync.apis.sessions.sandbox``: the foreground entry points."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import httpx

from sync.apis.sessions.sandbox import serve


def test_serve_prints_url_cookie_and_admin_then_stops() -> None:
    """serve prints the API URL, session cookie and admin URL, answers on them, and returns on stop."""
    out = io.StringIO()
    stop = threading.Event()
    options = {"port": 0, "contacts": 4, "role": "admin", "chunked": True, "stop": stop, "out": out}
    runner = threading.Thread(target=serve, kwargs=options)
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
        url = lines["CONTACTS_SYNC_API_URL"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
        assert lines["CONTACTS_SYNC_SANDBOX_ADMIN_URL"] == url.removesuffix("/api") + "/_admin"
        cookies = {"connect.sid": lines["CONTACTS_SYNC_SESSION_COOKIE"]}
        response = httpx.get(url + "/contacts", cookies=cookies)
        assert response.status_code == 200 and len(response.json()) == 4
        assert response.headers["transfer-encoding"] == "chunked"
        sessions = httpx.get(lines["CONTACTS_SYNC_SANDBOX_ADMIN_URL"] + "/sessions").json()
        assert sessions == [{"number": 1, "role": "admin", "live": True}]
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()


def test_module_refuses_a_bad_fault_spec() -> None:
    """``python -m`` with a fault SPEC it cannot parse exits 2 with the problem on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "sync.apis.sessions.sandbox", "--port", "0", "--faults", "boom@1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "sessions sandbox:" in result.stderr and "boom" in result.stderr
    assert result.stdout == ""


def test_module_serves_until_terminated() -> None:
    """``python -m`` serves the printed URL with the printed cookie and exits 0 on SIGTERM."""
    command = [sys.executable, "-m", "sync.apis.sessions.sandbox", "--port", "0", "--contacts", "3"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        cookies = {"connect.sid": lines["CONTACTS_SYNC_SESSION_COOKIE"]}
        response = httpx.get(lines["CONTACTS_SYNC_API_URL"] + "/contacts", cookies=cookies)
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert response.status_code == 200 and len(response.json()) == 3
