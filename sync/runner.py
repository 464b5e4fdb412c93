"""One recorded, logged, locked sync run: what `sync` and each daemon tick do."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from config.settings import Settings
from storage.locking import sync_lock
from storage.status import load_attention
from storage.store import Store
from sync.engine import Engine, EngineOptions
from sync.errors import ConfigError, Interrupted, LockHeld, SyncError
from sync.lev.client import LevClient, open_http
from sync.logs import masker
from sync.retrying import RetryBudget, RetryPolicy

log = structlog.get_logger("sync.run")

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE, EXIT_FAILED, EXIT_LOCKED = 0, 1, 2, 3, 75


@dataclass(frozen=True)
class RunResult:
    run_id: str
    outcome: str  # ok | attention | failed | interrupted
    counts: dict[str, Any]
    error: str | None

    @property
    def exit_code(self) -> int:
        return {
            "ok": EXIT_OK,
            "attention": EXIT_ATTENTION,
        }.get(self.outcome, EXIT_FAILED)


def exit_code_for(error: SyncError) -> int:
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    if isinstance(error, LockHeld):
        return EXIT_LOCKED
    return EXIT_FAILED


def build_client(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
) -> LevClient:
    token = settings.token()
    masker.secrets.add(token)
    retry = RetryPolicy(
        attempts=settings.retry_attempts,
        base_delay=settings.retry_base_delay,
        max_delay=settings.retry_max_delay,
        budget_seconds=settings.retry_budget_seconds,
    )
    http = open_http(
        base_url=settings.api_url,
        token=token,
        origin_app=settings.origin_app,
        timeout=settings.timeout_seconds,
        transport=transport,
    )

    def pause(seconds: float) -> None:
        # A shutdown cuts a backoff wait short; the engine then stops between steps.
        if stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    return LevClient(http, retry=retry, budget=RetryBudget(retry.budget_seconds), sleep=pause)


def run_once(
    settings: Settings,
    *,
    store: Store,
    stop: threading.Event | None = None,
    lock_wait_seconds: float = 0.0,
    transport: httpx.BaseTransport | None = None,
) -> RunResult:
    """Run one sync under the store's lock, record it and log its summary.

    Raises LockHeld when another sync holds the lock; every other failure is
    recorded in the run history and returned as the outcome.
    """
    run_id = uuid.uuid4().hex[:12]
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    client = build_client(settings, stop=stop, transport=transport)
    with contextlib.closing(client), sync_lock(store, wait_seconds=lock_wait_seconds):
        store.save_run_started(run_id)
        log.info("sync.run.started", policy=settings.conflict_policy)
        started = time.monotonic()
        engine = Engine(
            store,
            client,
            EngineOptions(
                policy=settings.conflict_policy,
                max_disconnect_share=settings.max_disconnect_share,
            ),
            stop=stop,
        )
        error: str | None = None
        try:
            engine.run()
            outcome = "ok"
        except Interrupted as exc:
            outcome, error = "interrupted", str(exc)
        except SyncError as exc:
            outcome, error = "failed", str(exc)
        finally:
            client_stats = client.stats
        with store.read() as tx:
            open_conflicts, waiting_rejections = load_attention(tx)
        if outcome == "ok" and (open_conflicts or waiting_rejections):
            outcome = "attention"
        counts = {
            **engine.counts.as_dict(),
            "open_conflicts": open_conflicts,
            "waiting_rejections": waiting_rejections,
            "requests": client_stats.requests,
            "rate_limited": client_stats.rate_limited,
            "retries": client_stats.retries,
            "seconds": round(time.monotonic() - started, 3),
        }
        store.save_run_finished(run_id, outcome=outcome, counts=counts, error=error)
        summary = log.error if outcome == "failed" else log.info
        summary("sync.run.finished", outcome=outcome, error=error, **counts)
    return RunResult(run_id, outcome, counts, error)
