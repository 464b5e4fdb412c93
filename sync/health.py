"""The daemon's optional loopback endpoint: /healthz and Prometheus /metrics.

A fleet worker serves the same two paths with `FleetMetrics`: per-account series
carry an `account` label only for the accounts the fleet file allows (an allow-list,
or every account of a fleet of at most 50); every other account counts under
`account="other"`, so a fleet of thousands still makes a bounded number of series.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
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


OTHER_ACCOUNTS = "other"


def account_label(allowed: frozenset[str]) -> Callable[[str], str]:
    """The `account` label of a series: the name when allowed, else `other` (bounded cardinality)."""
    return lambda account: account if account in allowed else OTHER_ACCOUNTS


class FleetMetrics(DaemonMetrics):
    """One fleet worker: the daemon's totals plus per-account series with bounded labels.

    Healthy while the worker runs and its last contact with the database (taking a job,
    or the scheduler's tick) is recent: an idle worker is healthy, a worker cut off from
    PostgreSQL is not.
    """

    def __init__(self, *, label: Callable[[str], str], stale_after_seconds: float) -> None:
        super().__init__(stale_after_seconds=stale_after_seconds)
        self.label = label
        self.account_runs = Counter(
            "contacts_sync_account_runs",
            "Sync runs by account and outcome",
            ["account", "outcome"],
            registry=self.registry,
        )
        self.account_last_ok = Gauge(
            "contacts_sync_account_last_ok_timestamp_seconds",
            "When the account's last ok or attention run ended (Unix time)",
            ["account"],
            registry=self.registry,
        )
        self.jobs_running = Gauge(
            "contacts_sync_jobs_running", "Sync jobs running now", registry=self.registry
        )
        self.running = False
        self.draining = False
        self.last_contact: float | None = None

    def saw_database(self) -> None:
        with self._lock:
            self.last_contact = time.time()

    def record_account(self, account: str, outcome: str, counts: dict[str, Any]) -> None:
        label = self.label(account)
        self.account_runs.labels(label, outcome).inc()
        if outcome in ("ok", "attention"):
            self.account_last_ok.labels(label).set(time.time())
        if outcome not in ("locked", "removed"):
            self.record(outcome, counts)
        self.saw_database()

    def health(self) -> tuple[bool, dict[str, Any]]:
        _, body = super().health()
        with self._lock:
            age = None if self.last_contact is None else time.time() - self.last_contact
            healthy = (
                self.running and not self.draining and age is not None and age <= self.stale_after_seconds
            )
            return healthy, {
                **body,
                "healthy": healthy,
                "running": self.running,
                "draining": self.draining,
                "last_database_contact_age_seconds": None if age is None else round(age, 1),
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
