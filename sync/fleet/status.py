"""`contacts-sync fleet status`: every account at a glance, from the fleet's tables and each store.

Per account: its last run and outcome (the store's run history), the next run (the
schedule table), pending writes, open conflicts and rejected writes (the store), and
who holds it now: the procrastinate job running it and the worker that took it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.status import load_status
from storage.store import Store
from sync.errors import SyncError
from sync.fleet.accounts import settings_for
from sync.fleet.config import FleetConfig
from sync.fleet.schema import connect

SCHEDULE_ROWS_SQL = (
    "SELECT account, next_run_at, last_outcome, last_error, last_finished_at, holder, last_job_id "
    "FROM contacts_sync_fleet"
)
SCHEDULE_COLUMNS = (
    "account",
    "next_run_at",
    "job_outcome",
    "job_error",
    "job_finished_at",
    "holder",
    "job_id",
)
JOBS_SQL = (
    "SELECT lock, status::text, count(*), min(id), min(worker_id) FROM procrastinate_jobs "
    "WHERE task_name = 'fleet.sync_account' AND status IN ('todo', 'doing') GROUP BY lock, status"
)


def load_fleet_status(fleet: FleetConfig) -> list[dict[str, Any]]:
    """One entry per account of the file (and per account the tables know that the file dropped)."""
    with connect(fleet.database_url) as connection:
        rows: dict[str, dict[str, Any]] = {
            str(row[0]): dict(zip(SCHEDULE_COLUMNS, row, strict=True))
            for row in connection.execute(SCHEDULE_ROWS_SQL)
        }
        jobs: dict[str, dict[str, Any]] = {}
        for lock, status, count, job_id, worker_id in connection.execute(JOBS_SQL):
            jobs.setdefault(str(lock), {})[str(status)] = {
                "count": count,
                "job_id": job_id,
                "worker_id": worker_id,
            }
    entries = [
        _entry(fleet, name, rows.get(name, {}), jobs.get(name, {}))
        for name in sorted(set(fleet.accounts) | set(rows))
    ]
    return entries


def _entry(
    fleet: FleetConfig, name: str, row: Mapping[str, Any], jobs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    account = fleet.accounts.get(name)
    running = jobs.get("doing")
    entry: dict[str, Any] = {
        "account": name,
        "in_configuration": account is not None,
        "enabled": account.enabled if account else False,
        "schema": account.schema if account else None,
        "schedule": account.schedule.described() if account else None,
        "next_run": _iso(row.get("next_run_at")),
        "waiting_job": (jobs.get("todo") or {}).get("job_id"),
        "running_job": running["job_id"] if running else None,
        "worker": (row.get("holder") or f"worker {running['worker_id']}") if running else None,
        "last_job": {
            "outcome": row.get("job_outcome"),
            "error": row.get("job_error"),
            "finished_at": _iso(row.get("job_finished_at")),
        },
    }
    if account is None:
        return entry
    entry.update(_store_part(fleet, name))
    return entry


def _store_part(fleet: FleetConfig, name: str) -> dict[str, Any]:
    account = fleet.accounts[name]
    placeholders = {ref.setting: "unused-for-status" for ref in account.secrets}  # status sends nothing
    try:
        settings = settings_for(fleet, account, environ={}, flags=placeholders)
        store = Store.open_existing(settings.database_url, migrate=False, api=settings.api)
    except SyncError as exc:
        return {"store": None, "store_problem": str(exc).splitlines()[0]}
    try:
        with store.read() as tx:
            report = load_status(tx, runs=1, t=store.t)
    except SyncError as exc:
        return {"store": None, "store_problem": str(exc).splitlines()[0]}
    finally:
        store.close()
    last = report["runs"][0] if report["runs"] else None
    return {
        "last_run": None
        if last is None
        else {
            "run_id": last.get("run_id"),
            "started_at": last.get("started_at"),
            "finished_at": last.get("finished_at"),
            "outcome": last.get("outcome"),
            "error": last.get("error"),
        },
        "contacts": report["contacts"],
        "pending_writes": report["pending_writes"],
        "conflicts": len(report["conflicts"]),
        "rejections": len(report["rejected_writes"]),
        "lock_holder": report["lock_holder"],
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def render_fleet_status(entries: list[dict[str, Any]]) -> str:
    """A table a person reads: one line per account."""
    header = ("ACCOUNT", "LAST RUN", "OUTCOME", "NEXT RUN", "PENDING", "CONFLICTS", "REJECTED", "WORKER")
    lines = [header]
    for entry in entries:
        last = entry.get("last_run") or {}
        outcome = last.get("outcome") or entry["last_job"]["outcome"] or "-"
        if not entry["in_configuration"]:
            outcome = "(not in the configuration)"
        elif not entry["enabled"]:
            outcome += " (paused)"
        elif entry.get("store_problem"):
            outcome = "no store: " + entry["store_problem"][:60]
        lines.append(
            (
                entry["account"],
                _short(last.get("finished_at") or last.get("started_at")),
                outcome,
                _short(entry["next_run"]),
                str(entry.get("pending_writes", "-")),
                str(entry.get("conflicts", "-")),
                str(entry.get("rejections", "-")),
                entry["worker"] or ("waiting" if entry["waiting_job"] else "-"),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _short(stamp: str | None) -> str:
    return "-" if not stamp else stamp[:19].replace("T", " ")
