"""`contacts-sync fleet worker`: one worker process, until SIGTERM drains it.

SIGTERM (or SIGINT): the worker takes no new job; running syncs get `drain_seconds`
to finish, then are told to stop at their next step. A stopped sync is *parked*: its
pending writes are saved with their idempotency keys, its account is due again at
once, and the next tick gives it to another worker. The worker then leaves the queue
(unregisters) and exits 0. A second signal parks the running syncs at once.

A worker that dies without that (SIGKILL, a lost machine) stops sending heartbeats;
`fleet.retry_stalled` on another worker puts its jobs back in the queue.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

import structlog

from sync.fleet.config import FleetConfig
from sync.fleet.jobs import FleetOptions, FleetRuntime, fleet_app
from sync.fleet.schema import connect, ensure_fleet_tables
from sync.health import serve_health

log = structlog.get_logger("sync.fleet.worker")


@dataclass(frozen=True)
class Drain:
    seconds: float = 20.0  # how long running syncs may go on after SIGTERM before they park


def run_worker(
    fleet: FleetConfig,
    options: FleetOptions,
    *,
    drain: Drain = Drain(),
    health_address: tuple[str, int] | None = None,
) -> int:
    """Serve the fleet's queue until a signal; exit code 0 after a drain."""
    with connect(fleet.database_url) as connection:  # a clear error now rather than in a loop
        ensure_fleet_tables(connection)
    runtime = FleetRuntime(fleet, concurrency=options.concurrency)
    server = serve_health(runtime.metrics, *health_address) if health_address else None
    try:
        asyncio.run(_serve(fleet, options, runtime, drain))
    finally:
        runtime.executor.shutdown(wait=True)
        if server is not None:
            server.shutdown()
    log.info("fleet.worker.stopped")
    return 0


async def _serve(fleet: FleetConfig, options: FleetOptions, runtime: FleetRuntime, drain: Drain) -> None:
    app = fleet_app(fleet.database_url, runtime, options)
    loop = asyncio.get_running_loop()
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                name=runtime.holder,
                # One slot for the fleet's own short tasks beside the sync slots.
                concurrency=options.concurrency + 1,
                install_signal_handlers=False,
                update_heartbeat_interval=options.heartbeat_seconds,
                stalled_worker_timeout=options.stalled_after_seconds,
                fetch_job_polling_interval=options.poll_seconds,
                abort_job_polling_interval=options.poll_seconds,
                # No shutdown_graceful_timeout: running syncs are waited for; the drain parks them.
                delete_jobs="successful",
            )
        )
        signals: list[str] = []

        def on_signal(name: str) -> None:
            signals.append(name)
            if len(signals) == 1:
                log.warning("fleet.worker.draining", signal=name, drain_seconds=drain.seconds)
                runtime.metrics.draining = True
                worker.cancel()  # procrastinate stops taking jobs and waits for the running ones
                loop.call_later(drain.seconds, _park, runtime, "the drain time is over")
            else:
                _park(runtime, f"a second {name}")

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
        runtime.metrics.running = True
        runtime.metrics.saw_database()
        log.info("fleet.worker.started", worker=runtime.holder, concurrency=options.concurrency)
        try:
            await worker
        except asyncio.CancelledError:
            if not signals:
                raise
        finally:
            runtime.metrics.running = False
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def _park(runtime: FleetRuntime, why: str) -> None:
    if not runtime.stop.is_set():
        log.warning("fleet.worker.parking", reason=why)
        runtime.stop.set()
