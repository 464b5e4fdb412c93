"""The procrastinate app of a fleet worker and its three tasks.

    fleet.tick           periodic (every few seconds, one at a time fleet-wide): defers a
                         sync job for each account that is due (sync.fleet.scheduling)
    fleet.sync_account   one sync run of one account: `lock=account` (never two running
                         anywhere), `queueing_lock=account` (never two waiting), and the
                         store's advisory lock under it as a guard
    fleet.retry_stalled  periodic: jobs of workers whose heartbeat stopped (SIGKILL, a lost
                         machine) go back to the queue; another worker runs them, and the
                         store's idempotency keys make the rerun write each change once

A sync job runs in a thread (the engine is blocking code), one per concurrency slot.
The fleet file is read again when it changes, so accounts come and go without a restart.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import procrastinate
import structlog
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Status

from storage.store import Store
from sync.errors import AccountMismatch, ConfigError, LockHeld, SyncError
from sync.fleet.accounts import settings_for
from sync.fleet.config import SECRET_SETTINGS, FleetConfig, load_fleet_config
from sync.fleet.scheduling import due_accounts, tick_cron
from sync.fleet.schema import ensure_account_schema, libpq_url
from sync.health import FleetMetrics, account_label
from sync.logs import masker
from sync.runner import run_once

log = structlog.get_logger("sync.fleet")

SYNC_TASK = "fleet.sync_account"
TICK_TASK = "fleet.tick"
STALLED_TASK = "fleet.retry_stalled"
# The fleet's own tasks go first: a queue full of sync jobs must not starve the scheduler.
FLEET_PRIORITY = 10
MAX_OPEN_STORES = 256


@dataclass(frozen=True)
class FleetOptions:
    """How a worker runs; every worker of a fleet should use the same tick and stalled times."""

    concurrency: int = 2
    tick_seconds: int = 5
    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 30.0
    poll_seconds: float = 5.0


@dataclass(frozen=True)
class JobOutcome:
    outcome: str  # a run's outcome, or locked | parked | removed | failed (before a run)
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)


class FleetRuntime:
    """What one worker process's jobs share: the fleet file, the stop event, metrics, threads."""

    def __init__(
        self,
        fleet: FleetConfig,
        *,
        concurrency: int,
        environ: dict[str, str] | None = None,
        metrics: FleetMetrics | None = None,
    ) -> None:
        self.path = fleet.path
        self._fleet = fleet
        self._mtime = _mtime(fleet.path)
        self._environ = environ
        self.stop = threading.Event()  # set: running syncs stop at their next step (parked)
        self.metrics = metrics or FleetMetrics(
            label=account_label(fleet.labelled_accounts()), stale_after_seconds=120
        )
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sync")
        self.holder = f"pid {os.getpid()} on {socket.gethostname()}"
        self._ready: set[str] = set()
        self._lock = threading.Lock()
        # Opened stores by (URL, API), reused run after run as the daemon does: opening one
        # checks its schema (~30 ms of CPU). Their connections are closed after each run, so
        # a thousand idle accounts hold no connection; the oldest are dropped past the cap.
        self._stores: OrderedDict[tuple[str, str], Store] = OrderedDict()

    def config(self) -> FleetConfig:
        """The fleet file as it is now; the last good one (and an error logged) if an edit broke it."""
        mtime = _mtime(self.path)
        with self._lock:
            if mtime == self._mtime:
                return self._fleet
            try:
                self._fleet = load_fleet_config(self.path, environ=self._environ)
                log.info("fleet.config.reloaded", accounts=len(self._fleet.accounts))
            except ConfigError as exc:
                log.error("fleet.config.invalid", error=str(exc), kept="the last valid configuration")
            self._mtime = mtime
            self.metrics.label = account_label(self._fleet.labelled_accounts())
            return self._fleet

    def run_account(self, name: str) -> JobOutcome:
        """One sync run of the account `name` (blocking: runs in a sync thread)."""
        if self.stop.is_set():
            return JobOutcome("parked", "the worker is draining; the job goes back to the queue")
        fleet = self.config()
        if name not in fleet.accounts:
            return JobOutcome("removed", "the account is no longer in the fleet configuration")
        account = fleet.accounts[name]
        try:
            settings = settings_for(fleet, account, environ=self._environ)
        except ConfigError as exc:
            return JobOutcome("failed", str(exc))
        for secret_name in SECRET_SETTINGS:  # never in a log line, whatever logs it
            secret = getattr(settings, secret_name, None)
            if secret is not None:
                masker.secrets.add(secret.get_secret_value())
        try:
            if account.schema not in self._ready:
                ensure_account_schema(settings, account)  # an account added since `fleet migrate`
                self._ready.add(account.schema)
            store = self._store(settings.database_url, settings.api)
        except SyncError as exc:
            return JobOutcome("failed", str(exc))
        try:
            result = run_once(settings, store=store, stop=self.stop)
        except LockHeld as exc:  # a `sync --account` by hand, or a job still ending: not a failure
            return JobOutcome("locked", str(exc))
        except AccountMismatch as exc:
            return JobOutcome("refused", str(exc))
        except SyncError as exc:
            return JobOutcome("failed", str(exc))
        finally:
            store.engine.dispose()  # no idle connection per account between runs
        if result.outcome == "interrupted" and self.stop.is_set():
            return JobOutcome("parked", result.error, result.counts)
        return JobOutcome(result.outcome, result.error, result.counts)

    def _store(self, url: str, api: str) -> Store:
        key = (url, api)
        with self._lock:
            store = self._stores.pop(key, None)
        if store is None:
            store = Store.open(url, api)
        with self._lock:
            self._stores[key] = store
            while len(self._stores) > MAX_OPEN_STORES:
                _, oldest = self._stores.popitem(last=False)
                oldest.close()
        return store


def _mtime(path: str) -> float | None:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return None


START_SQL = """
INSERT INTO contacts_sync_fleet (account, last_job_id, last_started_at, holder)
VALUES (%(account)s, %(job_id)s, now(), %(holder)s)
ON CONFLICT (account) DO UPDATE
SET last_job_id = EXCLUDED.last_job_id, last_started_at = now(), holder = EXCLUDED.holder
"""
FINISH_SQL = """
UPDATE contacts_sync_fleet
SET last_finished_at = now(), last_outcome = %(outcome)s, last_error = %(error)s, holder = NULL,
    next_run_at = CASE WHEN %(again)s THEN now() ELSE next_run_at END
WHERE account = %(account)s AND last_job_id = %(job_id)s
"""
SCHEDULE_SQL = "SELECT account, next_run_at FROM contacts_sync_fleet"
DEFERRED_SQL = """
INSERT INTO contacts_sync_fleet (account, next_run_at, last_deferred_at)
VALUES (%(account)s, %(next_run_at)s, CASE WHEN %(deferred)s THEN now() END)
ON CONFLICT (account) DO UPDATE
SET next_run_at = EXCLUDED.next_run_at,
    last_deferred_at = COALESCE(EXCLUDED.last_deferred_at, contacts_sync_fleet.last_deferred_at)
"""


def fleet_app(database_url: str, runtime: FleetRuntime | None, options: FleetOptions) -> procrastinate.App:
    """The app every fleet process builds; `runtime` is None for commands that only read or defer."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=libpq_url(database_url)),
        # A worker started late does not defer ticks older than this.
        periodic_defaults={"max_delay": 60},
    )

    @app.task(name=SYNC_TASK, queue="sync", pass_context=True)
    async def sync_account(context: procrastinate.JobContext, account: str) -> str:
        assert runtime is not None, "only a worker runs jobs"
        job_id = context.job.id
        connector = context.app.connector
        await connector.execute_query_async(START_SQL, account=account, job_id=job_id, holder=runtime.holder)
        log.info("fleet.job.started", account=account, job_id=job_id)
        runtime.metrics.jobs_running.inc()
        started = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(runtime.executor, runtime.run_account, account)
        except Exception as exc:  # a bug: recorded like a failed run, the traceback in the log
            log.error("fleet.job.crashed", account=account, job_id=job_id, exc_info=True)
            done = JobOutcome("failed", f"internal error ({type(exc).__name__}); the log has the traceback")
        finally:
            runtime.metrics.jobs_running.dec()
        await connector.execute_query_async(
            FINISH_SQL,
            account=account,
            job_id=job_id,
            outcome=done.outcome,
            error=done.error,
            again=done.outcome == "parked",  # the next tick defers it again, to any worker
        )
        runtime.metrics.record_account(account, done.outcome, done.counts)
        summary = (
            log.info if done.outcome in ("ok", "attention", "locked", "parked", "removed") else log.warning
        )
        summary(
            "fleet.job.finished",
            account=account,
            job_id=job_id,
            outcome=done.outcome,
            error=done.error,
            seconds=round(time.monotonic() - started, 3),
        )
        return done.outcome

    @app.periodic(cron=tick_cron(options.tick_seconds), periodic_id="tick")
    @app.task(
        name=TICK_TASK,
        queue="fleet",
        priority=FLEET_PRIORITY,
        lock=TICK_TASK,
        queueing_lock=TICK_TASK,
        pass_context=True,
    )
    async def tick(context: procrastinate.JobContext, timestamp: int) -> int:
        assert runtime is not None, "only a worker runs jobs"
        return await defer_due(context.app, runtime.config(), on_contact=runtime.metrics.saw_database)

    @app.periodic(cron=tick_cron(options.tick_seconds), periodic_id="stalled")
    @app.task(
        name=STALLED_TASK,
        queue="fleet",
        priority=FLEET_PRIORITY,
        lock=STALLED_TASK,
        queueing_lock=STALLED_TASK,
        pass_context=True,
    )
    async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
        return await requeue_stalled(context.app, seconds_since_heartbeat=options.stalled_after_seconds)

    return app


async def defer_due(
    app: procrastinate.App, fleet: FleetConfig, *, on_contact: Callable[[], None] = lambda: None
) -> int:
    """Defer a sync job for each due account; how many were deferred."""
    connector = app.connector
    rows = await connector.execute_query_all_async(SCHEDULE_SQL)
    on_contact()
    now = datetime.now(UTC)
    deferred = 0
    task = app.tasks[SYNC_TASK]
    for due in due_accounts(fleet.accounts, {row["account"]: row["next_run_at"] for row in rows}, now):
        try:
            await task.configure(lock=due.account, queueing_lock=due.account).defer_async(account=due.account)
            deferred += 1
            queued = True
        except queue_errors.AlreadyEnqueued:  # one waits already: it is enough
            queued = False
        await connector.execute_query_async(
            DEFERRED_SQL, account=due.account, next_run_at=due.next_run_at, deferred=queued
        )
    if deferred:
        log.info("fleet.tick.deferred", jobs=deferred)
    return deferred


async def requeue_stalled(app: procrastinate.App, *, seconds_since_heartbeat: float) -> int:
    """Put back in the queue the jobs of workers whose heartbeat stopped; how many."""
    manager = app.job_manager
    count = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat):
        assert job.id is not None
        try:
            await manager.retry_job(job)
            log.warning("fleet.job.requeued", job_id=job.id, task=job.task_name, lock=job.lock)
            count += 1
        except queue_errors.UniqueViolation:
            # A newer job of the same account waits already (queueing lock): it does the work.
            await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
            log.warning("fleet.job.stalled_dropped", job_id=job.id, task=job.task_name, lock=job.lock)
    return count
