"""`contacts-sync fleet ...`: many accounts, many workers, one PostgreSQL.

Each command is a short recipe: read the fleet file, act, exit code. procrastinate
is imported only by the commands that use it, so the single-account commands do
not pay for it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from sync.fleet.config import FLEET_CONFIG_ENV, FleetConfig, load_fleet_config
from sync.logs import configure_logging

LOG_LEVELS = ["debug", "info", "warning", "error"]


def _fleet(config_path: str | None, log_level: str) -> FleetConfig:
    configure_logging(level=log_level.upper())
    if log_level.lower() != "debug":
        # procrastinate logs every job at INFO; the fleet's own events say what matters.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    return load_fleet_config(config_path)


def _common(command: Any) -> Any:
    command = click.option(
        "--config",
        "config_path",
        metavar="FILE",
        help=f"The fleet's TOML file ({FLEET_CONFIG_ENV}).",
    )(command)
    return click.option(
        "--log-level",
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        envvar="CONTACTS_SYNC_LOG_LEVEL",
        default="info",
        show_default=True,
        help="Least severe log events printed (CONTACTS_SYNC_LOG_LEVEL).",
    )(command)


@click.group()
def fleet() -> None:
    """Sync many accounts with a fleet of workers sharing one PostgreSQL database.

    The fleet file lists the accounts (see `contacts-sync fleet check --help`); each
    account has its own schema of the database, and every command of contacts-sync
    takes `--account NAME` to act on one of them.
    """


@fleet.command()
@_common
def check(config_path: str | None, log_level: str) -> None:
    """Read the fleet file and say what it holds; exit 2 with every problem found."""
    config = _fleet(config_path, log_level)
    click.echo(f"{config.path}: {len(config.accounts)} account(s)")
    for account in config.accounts.values():
        secrets = ", ".join(f"{ref.setting} from {ref.described()}" for ref in account.secrets) or "no secret"
        paused = "" if account.enabled else " (paused)"
        click.echo(
            f"  {account.name}: schema {account.schema}, {account.schedule.described()}, {secrets}{paused}"
        )


@fleet.command()
@_common
def migrate(config_path: str | None, log_level: str) -> None:
    """Set up the database: procrastinate's tables, the fleet's, and every account's schema."""
    from procrastinate.schema import SchemaManager

    from sync.fleet.schema import migrate_fleet

    config = _fleet(config_path, log_level)
    migrate_fleet(config, SchemaManager.get_schema(), say=click.echo)


@fleet.command()
@_common
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Accounts this worker syncs at once.",
)
@click.option(
    "--tick-seconds",
    type=click.Choice(["1", "2", "3", "5", "10", "15", "30", "60"]),
    default="5",
    show_default=True,
    help="How often the scheduler looks for due accounts.",
)
@click.option(
    "--heartbeat-seconds",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    help="How often this worker tells the database it is alive.",
)
@click.option(
    "--stalled-after-seconds",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="A worker silent this long is dead: its jobs go to another worker.",
)
@click.option(
    "--drain-seconds",
    type=click.FloatRange(0, 3600),
    default=20.0,
    show_default=True,
    help="After SIGTERM, how long running syncs may go on before they are parked.",
)
@click.option(
    "--poll-seconds",
    type=click.FloatRange(0.1, 60),
    default=5.0,
    show_default=True,
    help="Longest wait between looks at the queue (new jobs are also notified at once).",
)
@click.option(
    "--health-port",
    type=int,
    default=None,
    envvar="CONTACTS_SYNC_HEALTH_PORT",
    show_envvar=True,
    help="Serve /healthz and /metrics on this port.",
)
@click.option("--health-host", default="127.0.0.1", show_default=True)
def worker(
    config_path: str | None,
    log_level: str,
    concurrency: int,
    tick_seconds: str,
    heartbeat_seconds: float,
    stalled_after_seconds: float,
    drain_seconds: float,
    poll_seconds: float,
    health_port: int | None,
    health_host: str,
) -> None:
    """Run sync jobs of the fleet's accounts until SIGTERM (drains, then exits 0)."""
    from sync.fleet.jobs import FleetOptions
    from sync.fleet.worker import Drain, run_worker

    config = _fleet(config_path, log_level)
    options = FleetOptions(
        concurrency=concurrency,
        tick_seconds=int(tick_seconds),
        heartbeat_seconds=heartbeat_seconds,
        stalled_after_seconds=stalled_after_seconds,
        poll_seconds=poll_seconds,
    )
    health = (health_host, health_port) if health_port is not None else None
    sys.exit(run_worker(config, options, drain=Drain(drain_seconds), health_address=health))


@fleet.command()
@_common
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
def status(config_path: str | None, log_level: str, as_json: bool) -> None:
    """Each account: last run, outcome, next run, pending writes, conflicts, rejections, worker."""
    from sync.fleet.status import load_fleet_status, render_fleet_status

    config = _fleet(config_path, "error" if as_json else log_level)
    entries = load_fleet_status(config)
    if as_json:
        click.echo(json.dumps(entries, indent=2, default=str, ensure_ascii=False))
    else:
        click.echo(render_fleet_status(entries))
