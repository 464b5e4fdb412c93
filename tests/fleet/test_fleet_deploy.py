"""The fleet's deploy files: they parse, their commands are real ones, their timings agree."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
import yaml

from sync.cli import cli
from sync.fleet.config import parsed_fleet_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
WORKER = DEPLOY / "kubernetes" / "fleet-worker.yaml"
MIGRATE = DEPLOY / "kubernetes" / "fleet-migrate.yaml"
CONFIG_MAP = DEPLOY / "kubernetes" / "fleet-config.yaml"


def parse(argv: list[str]) -> click.Context:
    """Parse `contacts-sync ...` with the real CLI, down to the innermost subcommand."""
    assert argv[0] == "contacts-sync", argv
    group: click.Command = cli
    ctx = cli.make_context("contacts-sync", argv[1:])
    while isinstance(group, click.Group):
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
        assert rest, f"{argv}: no subcommand"
        command = group.get_command(ctx, rest[0])
        assert command is not None, f"{argv}: no command {rest[0]!r}"
        ctx = command.make_context(rest[0], rest[1:], parent=ctx)
        group = command
    return ctx


def one(path: Path) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return doc  # type: ignore[no-any-return]


def container(obj: dict[str, Any]) -> dict[str, Any]:
    (only,) = obj["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def test_compose_runs_postgres_a_migration_and_two_workers() -> None:
    """Two workers start after `fleet migrate` succeeded, and outlast their drain when stopped."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "worker-1", "worker-2"} <= services.keys()
    assert parse(["contacts-sync", *services["migrate"]["command"]]).command.name == "migrate"
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        ctx = parse(["contacts-sync", *worker["command"]])
        assert ctx.command.name == "worker" and ctx.params["health_host"] == "0.0.0.0"
        assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert float(worker["stop_grace_period"].removesuffix("s")) > ctx.params["drain_seconds"]
    fleet_file = DEPLOY / "compose" / "fleet.toml"
    fleet = parsed_fleet_config(tomllib.loads(fleet_file.read_text()), path=str(fleet_file), environ={})
    assert fleet.accounts and all(account.secrets for account in fleet.accounts.values())


def test_kubernetes_workers_drain_inside_their_grace_and_probe_their_health_port() -> None:
    """Several replicas; SIGTERM's drain fits the grace period; probes GET /healthz on the served port."""
    deployment = one(WORKER)
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] >= 2
    worker = container(deployment)
    ctx = parse([*worker["command"], *worker["args"]])
    assert ctx.command.name == "worker"
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > ctx.params["drain_seconds"] + 10
    assert ctx.params["health_port"] == worker["ports"][0]["containerPort"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert worker[probe]["httpGet"]["path"] == "/healthz"
    env = {item["name"]: item for item in worker["env"]}
    assert "value" not in env["PGPASSWORD"]
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True


def test_kubernetes_fleet_file_takes_tokens_from_the_mounted_secret() -> None:
    """The ConfigMap's fleet file parses, holds no secret, and points at files the worker mounts."""
    config_map = one(CONFIG_MAP)
    fleet = parsed_fleet_config(tomllib.loads(config_map["data"]["fleet.toml"]), path="cm", environ={})
    mounts = {m["name"]: m["mountPath"] for m in container(one(WORKER))["volumeMounts"]}
    for account in fleet.accounts.values():
        (ref,) = account.secrets
        assert ref.file is not None and ref.file.startswith(mounts["tokens"] + "/")
    assert "@" in fleet.database_url and ":" not in fleet.database_url.split("@")[0].split("//")[1]


def test_migration_job_runs_fleet_migrate() -> None:
    """The Job runs the one command that sets up procrastinate's tables and every account's schema."""
    job = one(MIGRATE)
    migrate = container(job)
    assert parse([*migrate["command"], *migrate["args"]]).command.name == "migrate"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
