"""`contacts-sync daemon`: runs on an APScheduler schedule until a signal stops it.

One run at a time (max_instances=1, and the store's lock against cron runs);
missed slots are coalesced into one; failed runs back off. SIGTERM or SIGINT
lets the run in flight stop at its next step, the same write committed or left
pending under its key, and exits 0; a second signal exits at once (every store
write is a transaction, so nothing is half-written).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import undefined

from config.settings import Settings
from storage.store import Store
from sync.apis.registry import adapter_named
from sync.errors import LockHeld, SyncError
from sync.health import DaemonMetrics, serve_health
from sync.runner import run_once
from sync.schedule import Schedule, failure_backoff
from sync.stopping import POLL_SECONDS, install_stop_signals, wait_for_signal

log = structlog.get_logger("sync.daemon")

STOP_GRACE_SECONDS = 8.0  # the in-flight run gets this long; systemd's TimeoutStopSec is longer


class Daemon:
    def __init__(self, settings: Settings, store: Store, schedule: Schedule) -> None:
        self.settings = settings
        self.store = store
        self.schedule = schedule
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.metrics = DaemonMetrics(stale_after_seconds=schedule.period.total_seconds() * 3 + 60)
        self.backoff_until: datetime | None = None
        self.next_run: datetime | None = None
        self.started_at = datetime.now(UTC)

    def tick(self) -> None:
        # Busy before looking at the stop flag: a stop that comes in between then
        # waits for this tick instead of exiting under it.
        self.idle.clear()
        try:
            if not self.stop.is_set():
                self._tick()
        finally:
            self.idle.set()

    def _tick(self) -> None:
        now = datetime.now(UTC)
        if self.backoff_until is not None and now < self.backoff_until:
            log.warning("daemon.run.backing_off", until=self.backoff_until.isoformat())
            self._save_state(last_outcome=self.metrics.last_outcome)
            return
        outcome = "failed"
        try:
            result = run_once(self.settings, store=self.store, stop=self.stop)
            outcome = result.outcome
            self.metrics.record(outcome, result.counts)
        except LockHeld as exc:
            outcome = "skipped"
            log.info("daemon.run.skipped", reason=str(exc))
        except SyncError as exc:
            self.metrics.record("failed", {})
            log.error("daemon.run.failed", error=str(exc))
        except Exception:  # a bug must not kill the schedule; it is logged with its traceback
            self.metrics.record("failed", {})
            log.exception("daemon.run.crashed")
        finally:
            pause = failure_backoff(self.metrics.consecutive_failures, self.schedule.period)
            self.backoff_until = datetime.now(UTC) + pause if pause else None
        self._save_state(last_outcome=outcome)

    def _save_state(self, *, last_outcome: str | None) -> None:
        if self.stop.is_set():  # stopping: the record is cleared, a late tick must not bring it back
            return
        state: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "schedule": self.schedule.description,
            "started_at": self.started_at.isoformat(),
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_outcome": last_outcome,
            "consecutive_failures": self.metrics.consecutive_failures,
            "backing_off_until": self.backoff_until.isoformat() if self.backoff_until else None,
        }
        self._save_record(json.dumps(state))

    def clear_state(self) -> None:
        """A daemon that stopped cleanly leaves no record: `status` must not show its next run."""
        self._save_record(None)

    def _save_record(self, record: str | None) -> None:
        try:
            with self.store.write() as tx:
                self.store.save_checkpoint(tx, "daemon", record)
        except SyncError as exc:
            log.warning("daemon.state.not_saved", error=str(exc))


def run_daemon(
    settings: Settings,
    store: Store,
    schedule: Schedule,
    *,
    run_at_start: bool = True,
    health_address: tuple[str, int] | None = None,
) -> int:
    adapter_named(settings.api).check_settings(settings)  # fail at start-up, not at the first slot
    daemon = Daemon(settings, store, schedule)
    grace = max(1, int(schedule.period.total_seconds() / 2))
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
    )

    def on_event(event: JobEvent) -> None:
        names = {
            EVENT_JOB_MISSED: "missed",
            EVENT_JOB_MAX_INSTANCES: "still_running",
            EVENT_JOB_ERROR: "error",
        }
        log.warning(f"daemon.slot.{names.get(event.code, 'event')}")

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    job = scheduler.add_job(
        _tick_and_note_next,
        schedule.trigger,
        args=[daemon],
        id="sync",
        next_run_time=datetime.now(UTC) if run_at_start else undefined,
    )
    daemon.next_run = getattr(job, "next_run_time", None) or _scheduler_next(daemon)
    server = serve_health(daemon.metrics, *health_address) if health_address else None
    signals = install_stop_signals()
    log.info("daemon.started", schedule=schedule.description, health=health_address)
    daemon._save_state(last_outcome=None)
    scheduler.start()  # in the background: the main thread must stay free to see signals
    log.info("daemon.stopping", signal=wait_for_signal(signals))
    daemon.stop.set()
    scheduler.shutdown(wait=False)
    finished = _wait_polling(daemon.idle, STOP_GRACE_SECONDS)
    daemon.clear_state()
    if server is not None:
        server.shutdown()
    log.info("daemon.stopped", run_in_flight_finished=finished)
    sys.stdout.flush()
    if not finished:
        # The run's next write is still pending under its key: the next run resends it.
        os._exit(0)
    return 0


def _wait_polling(event: threading.Event, timeout: float) -> bool:
    """Event.wait in short steps, so that a second signal is handled at once."""
    deadline = time.monotonic() + timeout
    while not event.wait(POLL_SECONDS):
        if time.monotonic() >= deadline:
            return False
    return True


def _tick_and_note_next(daemon: Daemon) -> None:
    job_next = _scheduler_next(daemon)
    daemon.next_run = job_next
    daemon.tick()


def _scheduler_next(daemon: Daemon) -> datetime | None:
    now = datetime.now(UTC)
    next_fire: datetime | None = daemon.schedule.trigger.get_next_fire_time(now, now)
    return next_fire
