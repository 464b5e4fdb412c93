"""serve(): the foreground entry point the CLI calls."""

from __future__ import annotations

import io
import threading
import time

import httpx

from sync.apis.lev.sandbox import serve


def test_serve_prints_url_and_token_then_serves_until_stopped() -> None:
    """serve prints CONTACTS_SYNC_API_URL and CONTACTS_SYNC_API_TOKEN, answers, and returns on stop."""
    out = io.StringIO()
    stop = threading.Event()
    runner = threading.Thread(
        target=serve,
        kwargs={"port": 0, "contacts": 5, "token": "lev_sk_cli", "stop": stop, "out": out},
    )
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
        assert lines["CONTACTS_SYNC_API_TOKEN"] == "lev_sk_cli"
        url = lines["CONTACTS_SYNC_API_URL"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/external/v2")
        response = httpx.get(
            url + "/contacts",
            headers={"Authorization": "Bearer lev_sk_cli", "X-Origin-App": "t"},
        )
        assert response.status_code == 200
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()
