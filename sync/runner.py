"""One recorded, logged, locked sync run: what `sync` and each daemon tick do."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any

import httpx
import structlog

from config.settings import Settings
from storage.locking import sync_lock
from storage.status import load_attention
from storage.store import Store
from sync.apis.adapter import ClientParts
from sync.apis.registry import adapter_named
from sync.binding import check_binding
from sync.engine import Engine, EngineOptions
from sync.errors import AccountMismatch, ConfigError, Interrupted, LockHeld, SyncError
from sync.logs import MASK, masker
from sync.pacing import SlidingWindowPacer, budget_for_tier
from sync.progress import RunProgress
from sync.remote import AccountIdentity, ClosableRemote
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
    pacer: SlidingWindowPacer | None = None,
) -> ClosableRemote:
    """The client of the API the settings name, sharing the run's retry, pacing and shutdown."""
    retry = RetryPolicy(
        attempts=settings.retry_attempts,
        base_delay=settings.retry_base_delay,
        max_delay=settings.retry_max_delay,
        budget_seconds=settings.retry_budget_seconds,
    )
    parts = ClientParts(
        retry=retry,
        budget=RetryBudget(retry.budget_seconds),
        sleep=pause_until(stop),
        pacer=pacer,
        stop=stop,
        transport=transport,
    )
    return adapter_named(settings.api).connect(settings, parts)


def pause_until(stop: threading.Event | None) -> Callable[[float], None]:
    """A sleep (before a retry, or for pacing) that a shutdown ends with Interrupted.

    Raising rather than returning early: a retry loop or the pacer would otherwise
    go round again at once, and keep sending until the next step's check.
    """

    def pause(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise Interrupted("stopped by a shutdown signal while waiting to send")

    return pause


PACING_LOG = "pacing.log"


def prepare_pacer(settings: Settings, store: Store, pacer: SlidingWindowPacer) -> None:
    """Give the pacer its history and, from the tier setting, its budget; reads only."""
    if settings.tier == "unlimited":
        return
    with store.read() as tx:
        saved_log = store.load_checkpoint(tx, PACING_LOG)
    if saved_log:
        pacer.restore(json.loads(saved_log))
    if settings.tier is not None:
        pacer.budget = budget_for_tier(settings.tier, settings.rate_window_seconds)


def discover_budget(settings: Settings, pacer: SlidingWindowPacer, account: AccountIdentity) -> None:
    """The budget the adapter derives from the settings and the answer that named the account."""
    if settings.tier != "unlimited":
        pacer.budget = adapter_named(settings.api).rate_budget(settings, account)
        log.debug("sync.pacing.discovered", budget=None if pacer.budget is None else astuple(pacer.budget))


def save_pacer(store: Store, pacer: SlidingWindowPacer) -> None:
    with store.write() as tx:
        store.save_checkpoint(tx, PACING_LOG, json.dumps(pacer.snapshot()))


def run_once(
    settings: Settings,
    *,
    store: Store,
    stop: threading.Event | None = None,
    lock_wait_seconds: float = 0.0,
    transport: httpx.BaseTransport | None = None,
    progress: RunProgress | None = None,
    full_walk: bool = False,
) -> RunResult:
    """Run one sync under the store's lock, record it and log its summary.

    Raises LockHeld when another sync holds the lock, and AccountMismatch (after
    recording the run as refused) when the API reaches another account than the
    store's; every other failure is recorded in the run history and returned as the outcome.
    """
    run_id = uuid.uuid4().hex[:12]
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    pacer = SlidingWindowPacer(None, sleep=pause_until(stop))
    client = build_client(settings, stop=stop, transport=transport, pacer=pacer)
    with contextlib.closing(client), sync_lock(store, wait_seconds=lock_wait_seconds, stop=stop):
        store.save_run_started(run_id)
        log.info("sync.run.started", policy=settings.conflict_policy)
        started = time.monotonic()
        engine = Engine(
            store,
            client,
            EngineOptions(
                policy=settings.conflict_policy,
                max_disconnect_share=settings.max_disconnect_share,
                write_concurrency=settings.write_concurrency,
                full_walk=full_walk,
                full_walk_every=settings.full_walk_every,
            ),
            stop=stop,
            progress=progress,
            run_id=run_id,
        )
        error: str | None = None
        refusal: AccountMismatch | None = None
        try:
            prepare_pacer(settings, store, pacer)
            account = check_binding(store, client)  # before anything is sent or written
            discover_budget(settings, pacer, account)
            engine.run()
            outcome = "ok"
        except AccountMismatch as exc:  # recorded as refused, then raised below: exit 2
            refusal, outcome, error = exc, "refused", str(exc)
        except Interrupted as exc:
            outcome, error = "interrupted", str(exc)
        except SyncError as exc:
            outcome, error = "failed", str(exc)
        except Exception as exc:  # a bug: a failed run (exit 3) like any other, the traceback in the log
            log.error("sync.run.crashed", exc_info=True)
            said = str(exc).splitlines()[0][:300] if str(exc) else ""
            for secret in masker.secrets:  # the message goes to the runs table too
                said = said.replace(secret, MASK)
            outcome = "failed"
            error = (
                f"internal error ({type(exc).__name__}{': ' + said if said else ''}); the log has the "
                "traceback: please report it. Each step commits on its own, so the next run goes on"
            )
        finally:
            client_stats = client.stats
            if refusal is None:  # a refused run's one request went to another account
                save_pacer(store, pacer)
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
            "paced_seconds": round(pacer.waited_seconds, 3),
            "requests_by_endpoint": dict(client_stats.by_endpoint),
            "seconds": round(time.monotonic() - started, 3),
        }
        store.save_run_finished(run_id, outcome=outcome, counts=counts, error=error)
        # A run that needs a person still says so under --log-level warning.
        summary = {"failed": log.error, "ok": log.info}.get(outcome, log.warning)
        summary("sync.run.finished", outcome=outcome, error=error, **counts)
    if refusal is not None:
        raise refusal
    return RunResult(run_id, outcome, counts, error)
