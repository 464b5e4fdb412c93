"""The daemon's optional loopback endpoint: /healthz and Prometheus /metrics."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class DaemonMetrics:
    """What the daemon has done since it started, for /metrics and /healthz."""

    def __init__(self, *, stale_after_seconds: float) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter("contacts_sync_runs", "Sync runs by outcome", ["outcome"], registry=self.registry)
        self.writes = Counter(
            "contacts_sync_writes", "Writes the API accepted", ["kind"], registry=self.registry
        )
        self.conflicts = Counter("contacts_sync_conflicts", "Same-field conflicts", registry=self.registry)
        self.rejections = Counter(
            "contacts_sync_rejections", "Writes rejected or refused", registry=self.registry
        )
        self.requests = Counter("contacts_sync_http_requests", "HTTP requests sent", registry=self.registry)
        self.rate_limited = Counter("contacts_sync_http_429", "Requests answered 429", registry=self.registry)
        self.duration = Histogram(
            "contacts_sync_run_duration_seconds",
            "Duration of sync runs",
            buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=self.registry,
        )
        self.stale_after_seconds = stale_after_seconds
        self.last_outcome: str | None = None
        self.last_finished: float | None = None
        self.consecutive_failures = 0
        self._lock = threading.Lock()

    def record(self, outcome: str, counts: dict[str, Any]) -> None:
        with self._lock:
            self.runs.labels(outcome).inc()
            self.writes.labels("create").inc(counts.get("created", 0))
            self.writes.labels("update").inc(counts.get("updated", 0))
            self.conflicts.inc(counts.get("conflicts", 0))
            self.rejections.inc(counts.get("rejected", 0))
            self.requests.inc(counts.get("requests", 0))
            self.rate_limited.inc(counts.get("rate_limited", 0))
            self.duration.observe(counts.get("seconds", 0))
            self.last_outcome = outcome
            self.last_finished = time.time()
            self.consecutive_failures = self.consecutive_failures + 1 if outcome == "failed" else 0

    def health(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            age = None if self.last_finished is None else time.time() - self.last_finished
            healthy = (
                self.last_outcome in ("ok", "attention")
                and age is not None
                and age <= self.stale_after_seconds
            )
            return healthy, {
                "healthy": healthy,
                "last_outcome": self.last_outcome,
                "last_run_age_seconds": None if age is None else round(age, 1),
                "consecutive_failures": self.consecutive_failures,
            }


def serve_health(metrics: DaemonMetrics, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                healthy, body = metrics.health()
                self._answer(200 if healthy else 503, "application/json", json.dumps(body).encode())
            elif self.path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            else:
                self._answer(404, "text/plain", b"not found\n")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the sync logs

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
