"""The fleet's queue on PostgreSQL: migrations, the scheduler's deferrals, stalled-job recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from procrastinate.schema import SchemaManager

from sync.fleet.config import FleetConfig, load_fleet_config
from sync.fleet.jobs import SYNC_TASK, FleetOptions, defer_due, fleet_app, requeue_stalled
from sync.fleet.schema import migrate_fleet
from tests.fleet.helpers import fleet_database, write_fleet_file

pytestmark = pytest.mark.postgres


@pytest.fixture
def fleet(pg_server_url: str, tmp_path: Path) -> Iterator[FleetConfig]:
    with fleet_database(pg_server_url) as database_url:
        path = write_fleet_file(
            tmp_path / "fleet.toml",
            database_url=database_url,
            api_url="http://127.0.0.1:9/api/external/v2",
            accounts=["alpha", "beta"],
            every="1h",
        )
        yield load_fleet_config(str(path), environ={})


def rows(fleet: FleetConfig, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(fleet.database_url.replace("+psycopg", "")) as db:
        return db.execute(sql.encode()).fetchall()


def test_migrate_applies_everything_once(fleet: FleetConfig) -> None:
    """One command sets up procrastinate, the fleet table and each account's store; again, nothing."""
    said: list[str] = []
    migrate_fleet(fleet, SchemaManager.get_schema(), say=said.append)
    migrate_fleet(fleet, SchemaManager.get_schema(), say=said.append)
    assert said[0] == "procrastinate: schema applied" and said[4] == "procrastinate: schema already there"
    assert said[1] == "fleet tables: 0001_schedule" and said[5] == "fleet tables: up to date"
    tables = rows(fleet, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'contacts'")
    assert sorted(str(r[0]) for r in tables) == ["cs_alpha", "cs_beta"]


async def _defer_twice(fleet: FleetConfig) -> tuple[int, int, int]:
    app = fleet_app(fleet.database_url, None, FleetOptions())
    async with app.open_async():
        first = await defer_due(app, fleet)
        not_due = await defer_due(app, fleet)
        async with app.connector.pool.connection() as db:  # due again while one still waits
            await db.execute("UPDATE contacts_sync_fleet SET next_run_at = now() - interval '1 minute'")
        waiting = await defer_due(app, fleet)
    return first, not_due, waiting


def test_tick_defers_one_job_per_due_account_and_never_a_second_waiting(fleet: FleetConfig) -> None:
    """Each due account gets one job with lock and queueing lock = its name; a waiting job is enough."""
    migrate_fleet(fleet, SchemaManager.get_schema())
    assert asyncio.run(_defer_twice(fleet)) == (2, 0, 0)
    jobs = rows(
        fleet, "SELECT lock, queueing_lock, status::text, task_name FROM procrastinate_jobs ORDER BY lock"
    )
    assert jobs == [("alpha", "alpha", "todo", SYNC_TASK), ("beta", "beta", "todo", SYNC_TASK)]
    planned = rows(
        fleet, "SELECT count(*) FROM contacts_sync_fleet WHERE next_run_at > now() + interval '50 minutes'"
    )
    assert planned == [(2,)]


async def _stall_and_recover(fleet: FleetConfig) -> tuple[int, list[tuple[object, ...]]]:
    app = fleet_app(fleet.database_url, None, FleetOptions())
    async with app.open_async():
        await defer_due(app, fleet)
        worker_id = await app.job_manager.register_worker()
        # The dead worker took both jobs, then stopped beating.
        assert await app.job_manager.fetch_job(queues=None, worker_id=worker_id) is not None
        assert await app.job_manager.fetch_job(queues=None, worker_id=worker_id) is not None
        async with app.connector.pool.connection() as db:
            await db.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
            # A newer job of beta waits already: beta's stalled one must not come back beside it.
            await db.execute(
                "UPDATE contacts_sync_fleet SET next_run_at = now() - interval '1 minute' "
                "WHERE account = 'beta'"
            )
        await defer_due(app, fleet)
        requeued = await requeue_stalled(app, seconds_since_heartbeat=30)
        async with app.connector.pool.connection() as db:
            cursor = await db.execute(
                "SELECT lock, status::text, attempts FROM procrastinate_jobs ORDER BY lock, id"
            )
            return requeued, await cursor.fetchall()


def test_stalled_jobs_go_back_to_the_queue_unless_a_newer_one_waits(fleet: FleetConfig) -> None:
    """A dead worker's job is retried; where the account already has a waiting job, it is dropped."""
    migrate_fleet(fleet, SchemaManager.get_schema())
    requeued, jobs = asyncio.run(_stall_and_recover(fleet))
    assert requeued == 1
    assert jobs == [("alpha", "todo", 1), ("beta", "failed", 1), ("beta", "todo", 0)]
