"""The daemon's /healthz and /metrics endpoint, served on loopback."""

from __future__ import annotations

import httpx

from sync.health import DaemonMetrics, serve_health


def test_healthz_is_503_until_a_run_succeeds_and_metrics_count_the_runs() -> None:
    """/healthz reports the last run's outcome and age; /metrics is Prometheus text with our counters."""
    metrics = DaemonMetrics(stale_after_seconds=60)
    server = serve_health(metrics, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert httpx.get(f"{base}/healthz").status_code == 503
        metrics.record("failed", {})
        metrics.record("ok", {"created": 2, "updated": 3, "requests": 7, "rate_limited": 1, "seconds": 1.5})
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200
        assert health.json()["last_outcome"] == "ok" and health.json()["consecutive_failures"] == 0
        text = httpx.get(f"{base}/metrics").text
        assert 'contacts_sync_runs_total{outcome="ok"} 1.0' in text
        assert 'contacts_sync_runs_total{outcome="failed"} 1.0' in text
        assert 'contacts_sync_writes_total{kind="update"} 3.0' in text
        assert "contacts_sync_http_429_total 1.0" in text
        assert "contacts_sync_run_duration_seconds_count 2.0" in text
        assert httpx.get(f"{base}/nope").status_code == 404
    finally:
        server.shutdown()
        server.server_close()
