"""The `contacts-sync` command: each subcommand is a short recipe.

Settings are read and checked once here; known failures become one clear
line and an exit code (see README "Exit codes"), never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

import click
import structlog

from config.settings import Settings, load_settings
from storage.status import (
    load_conflicts,
    load_status,
    parse_field_value,
    save_conflict_resolved,
    save_rejections_forgotten,
)
from storage.store import Store
from sync.apis.registry import ADAPTERS, DEFAULT_API, adapter_named
from sync.errors import ConfigError, SyncError
from sync.fleet.accounts import account_settings
from sync.fleet.cli import fleet
from sync.logs import configure_logging, masker
from sync.progress import terminal_progress
from sync.run_ending import run_ending
from sync.runner import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, exit_code_for, run_once
from sync.stopping import run_until_done

log = structlog.get_logger("sync.cli")

LOG_LEVELS = ["debug", "info", "warning", "error"]


def _settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--config", "config_path", metavar="FILE", help="TOML settings file."),
        click.option(
            "--api",
            help="Which contacts API the store syncs with: lev, companies, sessions (CONTACTS_SYNC_API).",
        ),
        click.option("--api-url", help="Base URL of the contacts API (CONTACTS_SYNC_API_URL)."),
        click.option("--database-url", help="SQLAlchemy URL of the store."),
        click.option(
            "--policy",
            "conflict_policy",
            type=click.Choice(["remote-wins", "local-wins", "manual"]),
            help="How a field changed on both sides is settled.",
        ),
        click.option("--origin-app", help="Value of the X-Origin-App header."),
        click.option(
            "--account", help="An account of the fleet file (--config or CONTACTS_SYNC_FLEET_CONFIG)."
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            default=None,
            help="Allow plain http to a non-loopback host.",
        ),
        click.option(
            "--log-level",
            # Any case is accepted; the choices and the default are shown in lower case.
            type=click.Choice(LOG_LEVELS, case_sensitive=False),
            envvar="CONTACTS_SYNC_LOG_LEVEL",
            default="info",
            show_default=True,
            help="Least severe log events printed (CONTACTS_SYNC_LOG_LEVEL).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings(
    config_path: str | None, log_level: str = "info", account: str | None = None, **flags: Any
) -> Settings:
    configure_logging(level=log_level.upper())
    settings, warnings = (
        (account_settings(account, config_path=config_path, flags=flags), [])
        if account
        else load_settings(flags=flags, config_path=config_path)
    )
    if settings.api_token is not None:
        masker.secrets.add(settings.api_token.get_secret_value())
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contacts-sync", prog_name="contacts-sync")
def cli() -> None:
    """Two-way sync between a local SQL store and a contacts API (Lev by default)."""
    configure_logging(level="INFO")


@cli.command()
@_settings_options
@click.option("--dry-run", is_flag=True, help="Print the writes the store calls for; send none.")
@click.option(
    "--full",
    "full_walk",
    is_flag=True,
    help="List every contact this run (the only walk that flags contacts gone from the list).",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=0.0,
    metavar="SECONDS",
    help="Wait this long for another sync to finish instead of exiting 75.",
)
def sync(config_path: str | None, dry_run: bool, full_walk: bool, wait_seconds: float, **flags: Any) -> None:
    """Run one two-way sync and exit (0 done, 1 needs a person, 2 bad settings or another
    account's store, 3 failed, 75 locked)."""
    settings = _settings(config_path, **flags)
    if dry_run:  # reads the store: never creates one at a mistyped location
        sys.exit(_print_dry_run(settings, Store.open_existing(settings.database_url, api=settings.api)))
    store = Store.open(settings.database_url, settings.api)
    # A terminal gets progress bars; a pipe or cron gets only the log lines.
    on_terminal = sys.stderr.isatty()
    display = terminal_progress() if on_terminal else contextlib.nullcontext(None)
    with display as progress:
        # SIGTERM (systemd, Kubernetes, a cron wrapper's timeout) or Ctrl-C stops the run
        # at its next step, recorded as interrupted (exit 3); a second signal exits at once.
        result = run_until_done(
            lambda stop: run_once(
                settings,
                store=store,
                stop=stop,
                lock_wait_seconds=wait_seconds,
                progress=progress,
                full_walk=full_walk,
            ),
            on_stop=lambda name: log.warning("sync.stopping", signal=name),
        )
    # After the display is closed, so no redraw of the bars lands below it. A person at a
    # terminal gets the gist in plain words, whatever the log level hid or buried.
    ending = run_ending(result)
    if on_terminal and ending:
        click.echo(f"contacts-sync: {ending}", err=True)
    sys.exit(result.exit_code)


def _print_dry_run(settings: Settings, store: Store) -> int:
    from sync.dry_run import preview_run

    rules = adapter_named(settings.api).wire_rules(settings)
    preview = preview_run(store, conflict_policy=settings.conflict_policy, rules=rules)
    for line in preview.lines:
        click.echo(line)
    return EXIT_ATTENTION if preview.needs_attention else EXIT_OK


@cli.command()
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
def status(config_path: str | None, as_json: bool, **flags: Any) -> None:
    """Show recent runs, pending changes, conflicts and rejected writes."""
    settings = _settings(config_path, **flags)
    store = Store.open_existing(settings.database_url, api=settings.api)
    with store.read() as tx:
        report = load_status(tx, t=store.t)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str, ensure_ascii=False))
        return
    from sync.status_text import render_status

    click.echo(render_status(report))


@cli.command()
@_settings_options
@click.argument("conflict_id", type=int, required=False)
@click.option("--take", type=click.Choice(["local", "remote"]), help="Keep this side's value.")
@click.option("--value", help="Set this value instead (JSON for phones and booleans).")
@click.option("--all", "show_all", is_flag=True, help="List settled conflicts too.")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
def conflicts(
    config_path: str | None,
    conflict_id: int | None,
    take: str | None,
    value: str | None,
    show_all: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """List conflicts, show CONFLICT_ID, or resolve it with --take or --value."""
    resolving = take is not None or value is not None
    if resolving and conflict_id is None:
        raise ConfigError(
            "--take and --value resolve one conflict: give its id, as in "
            "`contacts-sync conflicts ID --take local`; `contacts-sync conflicts` lists the ids"
        )
    if take is not None and value is not None:
        raise ConfigError("give one of --take local|remote or --value VALUE, not both")
    settings = _settings(config_path, **flags)
    store = Store.open_existing(settings.database_url, api=settings.api)
    if conflict_id is None:
        with store.read() as tx:
            rows = load_conflicts(tx, include_settled=show_all, t=store.t)
        _print_conflicts(rows, None, as_json=as_json)
        return
    if not resolving:
        with store.read() as tx:
            rows = load_conflicts(tx, include_settled=True, t=store.t)
        _print_conflicts(rows, conflict_id, as_json=as_json)
        return
    with store.write() as tx:
        open_rows = {c["conflict_id"]: c for c in load_conflicts(tx, t=store.t)}
        field = open_rows[conflict_id]["field"] if conflict_id in open_rows else ""
        resolved = save_conflict_resolved(
            tx,
            conflict_id,
            take=take or "value",
            value=None if value is None else parse_field_value(field, value, store_columns(store)),
            t=store.t,
        )
    click.echo(
        f"conflict #{conflict_id} resolved: {resolved['field']} = "
        f"{resolved['resolution']['value']!r}; the next sync sends it where needed"
    )


def store_columns(store: Store) -> Any:
    return adapter_named(store.api).columns


def _print_conflicts(rows: list[dict[str, Any]], conflict_id: int | None, *, as_json: bool) -> None:
    if conflict_id is not None:
        rows = [row for row in rows if row["conflict_id"] == conflict_id]
        if not rows:
            raise ConfigError(
                f"there is no conflict {conflict_id}; `contacts-sync conflicts --all` lists them all"
            )
    if as_json:
        shown: Any = rows[0] if conflict_id is not None else rows
        click.echo(json.dumps(shown, indent=2, default=str, ensure_ascii=False))
        return
    for row in rows:
        click.echo(
            f"#{row['conflict_id']} [{row['status']}] local_id={row['local_id']} "
            f"contact {row['contact_id']} {row['field']}: "
            f"local={row['local_value']!r} remote={row['remote_value']!r} "
            f"(policy {row['policy']}, kept {row['winner']})"
        )
        if conflict_id is not None and row["resolution"] is not None:
            click.echo(f"  resolved {row['resolved_at']}: {row['resolution']}")
        elif conflict_id is not None and row["status"] == "open":
            click.echo(
                f"  settle it: `contacts-sync conflicts {conflict_id} --take local` (or --take remote, "
                "or --value VALUE)"
            )
    if not rows:
        click.echo("no conflicts waiting")


@cli.command()
@_settings_options
@click.argument("write_ids", type=int, nargs=-1)
def retry(config_path: str | None, write_ids: tuple[int, ...], **flags: Any) -> None:
    """Re-queue rejected writes (all, or WRITE_IDS) after the cause was fixed."""
    settings = _settings(config_path, **flags)
    store = Store.open_existing(settings.database_url, api=settings.api)
    with store.write() as tx:
        count = save_rejections_forgotten(tx, list(write_ids) or None, store.t)
    click.echo(f"{count} rejected write(s) re-queued; the next sync plans them afresh")


@cli.command()
@_settings_options
@click.option("--every", metavar="DURATION", help="Run every 30s, 5m, 1h, 1h30m ...")
@click.option("--cron", metavar="EXPRESSION", help="Run on a crontab schedule, e.g. '*/15 * * * *' (UTC).")
@click.option("--no-run-at-start", is_flag=True, help="Wait for the first slot instead of running at once.")
@click.option(
    "--health-port",
    type=int,
    default=None,
    envvar="CONTACTS_SYNC_HEALTH_PORT",
    show_envvar=True,
    help="Serve /healthz and /metrics on this port.",
)
@click.option("--health-host", default="127.0.0.1", show_default=True)
def daemon(
    config_path: str | None,
    every: str | None,
    cron: str | None,
    no_run_at_start: bool,
    health_port: int | None,
    health_host: str,
    **flags: Any,
) -> None:
    """Run syncs on a schedule until SIGTERM or SIGINT."""
    from sync.daemon import run_daemon
    from sync.schedule import schedule_from

    schedule = schedule_from(every, cron)
    settings = _settings(config_path, **flags)
    store = Store.open(settings.database_url, settings.api)
    health = (health_host, health_port) if health_port is not None else None
    sys.exit(run_daemon(settings, store, schedule, run_at_start=not no_run_at_start, health_address=health))


_API_CHOICE = click.Choice(sorted(ADAPTERS))


# Every other option belongs to the chosen API's sandbox, --help included: each parses its own.
@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
)
@click.option("--api", type=_API_CHOICE, default=DEFAULT_API, show_default=True, help="Which API to serve.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(api: str, args: tuple[str, ...]) -> None:
    """Serve a local sandbox of a contacts API on loopback until stopped.

    `contacts-sync sandbox [--api NAME] --help` lists that sandbox's options (port,
    contacts, faults, rate limits...).
    """
    sys.exit(adapter_named(api).serve_sandbox(list(args)))


@cli.command()
@click.option("--workdir", default="demo", show_default=True, help="Where the demo's SQLite file goes.")
@click.option("--api", type=_API_CHOICE, default=DEFAULT_API, show_default=True, help="Which API to show.")
def demo(workdir: str, api: str) -> None:
    """Show a two-way sync end to end against the bundled sandbox."""
    sys.exit(adapter_named(api).demo(workdir))


@cli.command()
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
def check(config_path: str | None, as_json: bool, **flags: Any) -> None:
    """Test the token, the API and the store, changing nothing (exit 0: a sync would start)."""
    from sync.checkup import render_checkup, run_checkup

    settings = _settings(config_path, **flags)
    if as_json:  # stdout carries one JSON document; the report holds what the log lines would say
        configure_logging(level="CRITICAL")
    report = run_checkup(settings)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else render_checkup(report))
    sys.exit(report["exit_code"])


@cli.command()
@_settings_options
@click.option("--yes", is_flag=True, help="Rebind without asking.")
def rebind(config_path: str | None, yes: bool, **flags: Any) -> None:
    """Bind the store to the account the token reaches now: the same account, renamed or at a new URL."""
    from storage.binding import load_binding
    from storage.location import store_location
    from sync.binding import save_rebind
    from sync.identity import Verdict, compared, described, rebind_preview
    from sync.runner import build_client

    settings = _settings(config_path, **flags)
    store = Store.open_existing(settings.database_url, api=settings.api)
    with contextlib.closing(build_client(settings)) as client:
        current = client.fetch_identity()
    with store.read() as tx:
        bound = load_binding(tx)
    if compared(bound, current) is Verdict.SAME:
        click.echo(f"the store already belongs to {described(current)}; nothing to do")
        return
    click.echo("\n".join(rebind_preview(bound, current, store_location(store.engine))))
    _confirm(yes, "Rebind the store?")
    run_id = save_rebind(store, current)
    click.echo(f"rebound (recorded as run {run_id}); the next sync goes to {described(current)}")


@cli.command()
@_settings_options
@click.option("--yes", is_flag=True, help="Reset without asking (required for PostgreSQL).")
def reset(config_path: str | None, yes: bool, **flags: Any) -> None:
    """Empty the store so that the next sync starts from scratch (SQLite: a copy is kept beside it)."""
    from storage.database import sqlite_file
    from storage.location import store_location
    from storage.locking import sync_lock
    from storage.reset import load_reset_summary, save_sqlite_backup, save_store_emptied

    settings = _settings(config_path, **flags)
    store = Store.open_existing(settings.database_url, api=settings.api)
    with store.read() as tx:
        summary = load_reset_summary(tx, store.t)
    click.echo(
        f"reset the store {store_location(store.engine)}: drop its {summary['contacts']} contact row(s) "
        f"({summary['created_locally']} created locally and never pushed), {summary['pending_writes']} "
        f"pending write(s), {summary['rejected_writes']} rejected write(s), {summary['open_conflicts']} open "
        "conflict(s) and the account it belongs to; the next sync pulls everything afresh"
    )
    is_sqlite = sqlite_file(store.engine.url) is not None
    if not is_sqlite:
        _confirm(yes, "Reset the store? Nothing is kept")
    with sync_lock(store):
        backup = save_sqlite_backup(store.engine) if is_sqlite else None
        with store.write() as tx:
            run_id = save_store_emptied(tx, store.t, summary=summary, backup=backup)
    kept = f"; the store as it was is kept in {backup}" if backup else ""
    click.echo(f"reset done (recorded as run {run_id}){kept}")


def _confirm(yes: bool, question: str) -> None:
    """--yes, or a yes typed on a terminal; a script without --yes changes nothing."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"no terminal to ask {question!r} on: pass --yes to confirm; nothing was changed")
    if not click.confirm(question, default=False):
        raise ConfigError("not confirmed; nothing was changed")


cli.add_command(fleet)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except SyncError as exc:
        # Several bad settings are reported at once, one line each.
        for line in str(exc).splitlines() or [""]:
            click.echo(f"contacts-sync: {line}", err=True)
        sys.exit(exit_code_for(exc))


if __name__ == "__main__":
    main()
