"""The deployment files in deploy/: they parse, and every command they run is a real one.

The key check parses each `contacts-sync ...` command line that a unit, crontab, image,
Compose file, manifest or the deploy README runs with the real click CLI, so a misspelt
subcommand or flag (or a bad --every / --cron value) fails here instead of in production.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import click
import pytest
import yaml
from sqlalchemy.engine import make_url

from config.settings import ENV_PREFIX, Settings
from sync.cli import cli
from sync.daemon import STOP_GRACE_SECONDS
from sync.errors import ConfigError
from sync.fleet.config import FLEET_CONFIG_ENV
from sync.health import DaemonMetrics, serve_health
from sync.schedule import parse_every, schedule_from

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
UNITS = ("contacts-sync.service", "contacts-sync-once.service", "contacts-sync.timer")
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HEALTH_PORT_VARIABLE = ENV_PREFIX + "HEALTH_PORT"
COMPOSE = DEPLOY / "docker" / "compose.yaml"
CRONJOB = DEPLOY / "kubernetes" / "cronjob.yaml"
DEPLOYMENT = DEPLOY / "kubernetes" / "deployment.yaml"
CRONTAB = DEPLOY / "cron" / "crontab.example"
ENV_EXAMPLE = SYSTEMD / "env.example"
DEPLOY_README = DEPLOY / "README.md"
INSTALLED_BINARY = "/opt/contacts-sync/bin/contacts-sync"
DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
}  # fmt: skip


# --- reading the files ------------------------------------------------------------------


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        strict=False,  # systemd allows a key more than once; the last one is enough here
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        empty_lines_in_values=False,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(), source=str(path))
    return parser


def systemd_seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value.strip()):
        total += float(number) * units[unit]
    return total


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword, arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def docker_instruction(name: str) -> str:
    values = [arguments for keyword, arguments in dockerfile_instructions() if keyword == name]
    assert len(values) == 1, f"expected one {name} in the Dockerfile, found {len(values)}"
    return values[0]


def dockerfile_env() -> dict[str, str]:
    """The variables the image's ENV instructions set."""
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            env.update(word.partition("=")[::2] for word in shlex.split(arguments))
    return env


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative to the repo root) out of the build context."""
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and line[0] != "#"
    ]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here"

    def regex(pattern: str) -> str:
        out = re.escape(pattern.strip("/"))
        out = out.replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        return out.replace(r"\[", "[").replace(r"\]", "]")

    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]  # a matched folder takes its files
    return any(re.fullmatch(regex(p), prefix) for p in patterns for prefix in prefixes)


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"{arguments!r} is not an exec-form JSON array"
    assert value, f"{arguments!r} is empty"
    assert all(isinstance(item, str) for item in value), f"{arguments!r} holds a non-string"
    return value


def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_object(path: Path) -> dict[str, Any]:
    docs = load_yaml(path)
    assert len(docs) == 1, f"{path.name}: expected one object, found {len(docs)}"
    doc: dict[str, Any] = docs[0]
    return doc


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        spec: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = obj["spec"]["template"]["spec"]
    return spec


def only_container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(obj)["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


# --- finding every contacts-sync command ---------------------------------------------------


def is_contacts_sync(word: str) -> bool:
    return PurePosixPath(word).name == "contacts-sync"


def shell_commands(text: str) -> Iterator[list[str]]:
    """The contacts-sync argvs in a line of shell: after `sudo -u X`, `env`, `exec`, `--`, an image."""
    for segment in re.split(r"&&|\|\||;|\|", text):
        words = shlex.split(re.split(r"\s\d?>>?|\s<", " " + segment)[0])
        if words[:2] == ["docker", "run"]:
            images = [i for i, w in enumerate(words) if re.fullmatch(r"([\w.-]+/)*contacts-sync:[\w.-]+", w)]
            if images:
                args = words[images[0] + 1 :] or exec_form(docker_instruction("CMD"))
                yield [*exec_form(docker_instruction("ENTRYPOINT")), *args]
            continue
        if "--" in words:  # kubectl exec POD -- contacts-sync ...
            words = words[words.index("--") + 1 :]
        while words:
            if words[0] == "sudo" and words[1:2] == ["-u"]:
                words = words[3:]
            elif words[0] in ("env", "exec") or re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
                words = words[1:]
            else:
                break
        if words and is_contacts_sync(words[0]):
            yield words


def unit_commands(path: Path) -> list[list[str]]:
    unit = read_unit(path)
    commands = []
    for key, value in unit["Service"].items() if unit.has_section("Service") else []:
        if key.startswith("Exec"):
            commands.append(shlex.split(value.lstrip("-@:+!")))
    return commands


def crontab_entries() -> list[tuple[str, str, str]]:
    """(schedule, user, command) of each job in the /etc/cron.d-style example."""
    entries = []
    for line in CRONTAB.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^[A-Za-z_]\w*=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"crontab line without schedule, user and command: {line!r}"
        entries.append((" ".join(fields[:5]), fields[5], fields[6]))
    return entries


def readme_shell_lines() -> Iterator[str]:
    inside = False
    pending = ""
    for raw in DEPLOY_README.read_text().splitlines():
        if raw.startswith("```"):
            inside = raw.strip() in ("```sh", "```bash", "```shell")
            continue
        if not inside:
            continue
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.strip():
            yield line


def all_commands() -> dict[str, list[list[str]]]:
    """Every contacts-sync argv each deploy file runs, by file."""
    commands: dict[str, list[list[str]]] = {}
    for name in UNITS:
        if name.endswith(".service"):
            commands[name] = unit_commands(SYSTEMD / name)
    commands["crontab.example"] = [
        argv for _, _, command in crontab_entries() for argv in shell_commands(command)
    ]
    entrypoint = exec_form(docker_instruction("ENTRYPOINT"))
    commands["Dockerfile"] = [entrypoint + exec_form(docker_instruction("CMD"))]
    compose = load_yaml(COMPOSE)[0]
    commands["compose.yaml"] = [
        list(service.get("entrypoint", entrypoint)) + list(service["command"])
        for service in compose["services"].values()
    ]
    for path in (CRONJOB, DEPLOYMENT):
        container = only_container(k8s_object(path))
        commands[path.name] = [list(container.get("command", entrypoint)) + list(container.get("args", []))]
    commands["README.md"] = [argv for line in readme_shell_lines() for argv in shell_commands(line)]
    return commands


def parse_with_cli(argv: list[str]) -> click.Context:
    """Parse argv as `contacts-sync` would; returns the subcommand's context."""
    assert is_contacts_sync(argv[0]), f"{argv} does not run contacts-sync"
    ctx = cli.make_context("contacts-sync", list(argv[1:]), resilient_parsing=False)
    # What the group left for its subcommand (click >= 8.2 keeps the name in _protected_args).
    protected = getattr(ctx, "_protected_args", None)
    rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
    assert rest, f"{argv}: no subcommand"
    command = cli.get_command(ctx, rest[0])
    if command is None:
        raise click.UsageError(f"no such command {rest[0]!r}", ctx)
    sub = command.make_context(rest[0], rest[1:], parent=ctx, resilient_parsing=False)
    if sub.command.name == "daemon":
        if sub.params["every"] is not None:
            parse_every(sub.params["every"])
        schedule_from(sub.params["every"], sub.params["cron"])  # exactly one, and valid
    return sub


def flat_commands() -> list[tuple[str, list[str]]]:
    return [(source, argv) for source, argvs in all_commands().items() for argv in argvs]


# --- the commands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "argv"),
    [pytest.param(source, argv, id=f"{source}: {' '.join(argv[1:])}") for source, argv in flat_commands()],
)
def test_every_command_is_a_real_contacts_sync_command(source: str, argv: list[str]) -> None:
    """Each contacts-sync command line in the deploy files parses with the real CLI and schedules."""
    sub = parse_with_cli(argv)
    assert sub.command.name in {"sync", "daemon", "status", "conflicts", "retry", "fleet"}, (
        f"{source}: {argv}"
    )


def test_every_file_that_runs_contacts_sync_was_searched() -> None:
    """The extraction finds the expected commands in each file, so the check above is not vacuous."""
    names = {
        source: [parse_with_cli(argv).command.name for argv in argvs]
        for source, argvs in all_commands().items()
    }
    assert names["contacts-sync.service"] == ["daemon"]
    assert names["contacts-sync-once.service"] == ["sync"]
    assert names["crontab.example"] == ["sync"]
    assert names["Dockerfile"] == ["daemon"]
    assert names["compose.yaml"] == ["daemon"]
    assert names["cronjob.yaml"] == ["sync"]
    assert names["deployment.yaml"] == ["daemon"]
    assert {"daemon", "status"} <= set(names["README.md"])


@pytest.mark.parametrize(
    "argv",
    [
        ["contacts-sync", "synk"],
        ["contacts-sync", "sync", "--wiat", "60"],
        ["contacts-sync", "sync", "--wait", "a minute"],
        ["contacts-sync", "sync", "--policy", "newest-wins"],
        ["contacts-sync", "--log-levle", "INFO", "sync"],
        ["contacts-sync", "daemon", "--evry", "5m"],
        ["contacts-sync", "daemon", "--every", "5 minutes"],
        ["contacts-sync", "daemon", "--cron", "*/15 * * *"],
        ["contacts-sync", "daemon"],
        ["contacts-sync", "daemon", "--every", "5m", "--health-port", "healthz"],
        ["contacts-sync", "status", "extra"],
        ["contacts-sync", "--api-token", "x", "sync"],
    ],
)
def test_the_command_check_rejects_typos(argv: list[str]) -> None:
    """A misspelt subcommand, flag or value, or a bad schedule, fails the command check."""
    with pytest.raises((click.ClickException, ConfigError)):
        parse_with_cli(argv)


def test_the_command_check_accepts_a_cron_schedule() -> None:
    """A daemon on a valid --cron schedule passes the command check."""
    sub = parse_with_cli(["contacts-sync", "daemon", "--log-level", "DEBUG", "--cron", "*/15 * * * *"])
    assert sub.params["cron"] == "*/15 * * * *"


# --- YAML and Kubernetes -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p in deploy_files() if p.suffix in (".yaml", ".yml")], ids=str)
def test_yaml_files_parse(path: Path) -> None:
    """Every YAML file in deploy/ parses with yaml.safe_load_all into at least one document."""
    assert load_yaml(path)


def test_cronjob_manifest() -> None:
    """The CronJob never overlaps runs, keeps a short history, and bounds each run below its period."""
    job = k8s_object(CRONJOB)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    spec = job["spec"]
    assert spec["schedule"] == "*/15 * * * *"
    schedule_from(None, spec["schedule"])
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["successfulJobsHistoryLimit"], int)
    job_spec = spec["jobTemplate"]["spec"]
    assert isinstance(job_spec["backoffLimit"], int)
    assert 0 < job_spec["activeDeadlineSeconds"] < 15 * 60
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


def test_deployment_manifest() -> None:
    """The Deployment runs one daemon, stops the old pod first, and outlasts the daemon's grace."""
    deployment = k8s_object(DEPLOYMENT)
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] == 30 > STOP_GRACE_SECONDS
    container = only_container(deployment)
    assert {"requests", "limits"} <= container["resources"].keys()


def test_deployment_probes_hit_the_daemons_health_port() -> None:
    """Both probes GET /healthz on the port the daemon serves on all pod interfaces."""
    container = only_container(k8s_object(DEPLOYMENT))
    params = parse_with_cli(list(container["command"]) + list(container["args"])).params
    assert (params["health_host"], params["health_port"]) == ("0.0.0.0", 9102)
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports.get(get["port"], get["port"]) == params["health_port"]


@pytest.mark.parametrize("path", [CRONJOB, DEPLOYMENT], ids=lambda p: p.name)
def test_kubernetes_pods_are_locked_down_and_use_postgresql(path: Path) -> None:
    """Pods run as non-root on a read-only root, take the token from a Secret, and store in PostgreSQL."""
    obj = k8s_object(path)
    pod = pod_spec(obj)
    container = only_container(obj)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = env_of(container)
    token = env[ENV_PREFIX + "API_TOKEN"]
    assert "value" not in token
    assert {"name", "key"} <= token["valueFrom"]["secretKeyRef"].keys()
    url = make_url(env[ENV_PREFIX + "DATABASE_URL"]["value"])
    assert url.get_backend_name() == "postgresql"
    assert url.password is None, "the database password belongs in a Secret, not the manifest"
    assert not any("sqlite" in str(item.get("value", "")) for item in env.values())
    assert "SQLite" in path.read_text(), "the comment explaining why not SQLite is missing"


# --- Docker --------------------------------------------------------------------------------------


def test_dockerfile_instructions_parse() -> None:
    """FROM comes first, every line is a known instruction, and ENTRYPOINT/CMD are exec-form arrays."""
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert all(keyword in DOCKER_INSTRUCTIONS for keyword, _ in instructions), instructions
    assert exec_form(docker_instruction("ENTRYPOINT")) == ["contacts-sync"]
    assert exec_form(docker_instruction("CMD"))[0] == "daemon"
    assert docker_instruction("STOPSIGNAL") == "SIGTERM"
    assert docker_instruction("USER").split(":")[0] not in ("0", "root")
    assert json.loads(docker_instruction("VOLUME")) == ["/data"]
    assert any(keyword == "RUN" and "pip install ." in arguments for keyword, arguments in instructions)
    env = [word for keyword, arguments in instructions if keyword == "ENV" for word in arguments.split()]
    assert "CONTACTS_SYNC_DATABASE_URL=sqlite:////data/contacts.db" in env
    assert "docker build -f deploy/docker/Dockerfile" in DOCKERFILE.read_text()


def test_dockerfile_copies_every_package_from_the_repo_root() -> None:
    """Each COPY source exists in the build context (the repo root) and all packages are copied."""
    sources = set()
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            words = [w for w in arguments.split() if not w.startswith("--")]
            sources.update(words[:-1])
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository root"
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in find["include"]}  # what `pip install .` ships
    assert packages <= sources
    assert {"pyproject.toml", "README.md"} <= sources


def test_dockerfile_healthcheck_matches_the_daemons_health_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image's CONTACTS_SYNC_HEALTH_PORT is the port CMD's daemon serves, EXPOSEs and HEALTHCHECKs."""
    healthcheck = docker_instruction("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--start-period" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<HEALTHCHECK>", "exec")
    assert "--health-port" not in exec_form(docker_instruction("CMD")), "a flag would not follow the ENV"
    port = dockerfile_env()[HEALTH_PORT_VARIABLE]
    monkeypatch.setenv(HEALTH_PORT_VARIABLE, port)
    params = parse_with_cli(["contacts-sync", *exec_form(docker_instruction("CMD"))]).params
    assert params["health_port"] == int(port)
    assert params["health_host"] == "127.0.0.1"
    assert HEALTH_PORT_VARIABLE in argv[2] and "127.0.0.1" in argv[2]
    assert docker_instruction("EXPOSE") == port


@pytest.mark.parametrize(("outcome", "healthy"), [("ok", True), ("failed", False), (None, False)])
def test_dockerfile_healthcheck_command_against_the_real_endpoint(outcome: str | None, healthy: bool) -> None:
    """The HEALTHCHECK's Python, given the port in the ENV, exits 0 on a healthy /healthz and not on 503."""
    code = exec_form(docker_instruction("HEALTHCHECK").partition(" CMD ")[2])[2]
    metrics = DaemonMetrics(stale_after_seconds=600)
    if outcome is not None:
        metrics.record(outcome, {})
    server = serve_health(metrics, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            timeout=30,
            check=False,
            env={**dockerfile_env(), "PATH": "/usr/bin:/bin", HEALTH_PORT_VARIABLE: str(port)},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr.decode()


def test_dockerignore_keeps_the_venv_git_and_secrets_out_of_the_build_context() -> None:
    """.dockerignore leaves out .venv, .git, caches, stores and env files, and nothing the image COPYs."""
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "sync/__pycache__/cli.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
        "deploy/docker/contacts-sync.env",
        "contacts-sync.env",
        ".env",
        "demo/contacts.db",
        "contacts.db-wal",
        "tests/conftest.py",
    ):
        assert dockerignored(path), f"{path} would be sent to the Docker daemon"
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            for source in [w for w in arguments.split() if not w.startswith("--")][:-1]:
                assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
                for path in (ROOT / source).rglob("*.py") if (ROOT / source).is_dir() else []:
                    relative = path.relative_to(ROOT).as_posix()
                    assert "__pycache__" in relative or not dockerignored(relative), relative


def test_compose_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose runs one daemon with a named volume, an env file, a 30 s stop grace and loopback ports."""
    compose = load_yaml(COMPOSE)[0]
    (service,) = compose["services"].values()
    assert service["restart"] == "unless-stopped"
    assert service["stop_grace_period"] == "30s"
    assert service["env_file"]
    context = (COMPOSE.parent / service["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    volume, _, target = service["volumes"][0].partition(":")
    assert target == "/data"
    assert volume in compose["volumes"]
    for name, value in service.get("environment", {}).items():
        monkeypatch.setenv(name, str(value))
    assert HEALTH_PORT_VARIABLE in service["environment"], "the HEALTHCHECK reads the port from it"
    params = parse_with_cli(["contacts-sync", *service["command"]]).params
    assert params["health_host"] == "0.0.0.0"
    for port in service["ports"]:
        host, _, container_port = str(port).split(":")
        assert host == "127.0.0.1"
        assert int(container_port) == params["health_port"]
    assert "environment" not in service or ENV_PREFIX + "API_TOKEN" not in service["environment"]


# --- systemd and cron ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNITS)
def test_systemd_units_parse(name: str) -> None:
    """Each unit parses as an INI file with a [Unit] section and its type's section."""
    unit = read_unit(SYSTEMD / name)
    assert unit.has_section("Unit")
    assert unit.has_section("Timer" if name.endswith(".timer") else "Service")


def test_daemon_unit() -> None:
    """The daemon unit runs as its own user in a hardened sandbox and stops within its grace time."""
    service = read_unit(SYSTEMD / "contacts-sync.service")["Service"]
    assert service["Type"] == "exec"
    assert service["User"] == service["Group"] == "contacts-sync"
    assert service["StateDirectory"] == "contacts-sync"
    assert service["Environment"] == (
        "CONTACTS_SYNC_DATABASE_URL=sqlite:////var/lib/contacts-sync/contacts.db"
    )
    assert service["EnvironmentFile"] == "/etc/contacts-sync/env"
    assert service["ExecStart"] == f"{INSTALLED_BINARY} daemon --every 5m"
    assert service["Restart"] == "on-failure"
    assert systemd_seconds(service["RestartSec"]) == 30
    assert systemd_seconds(service["TimeoutStopSec"]) == 30 > STOP_GRACE_SECONDS
    assert service["KillSignal"] == "SIGTERM"
    assert "2" in service["RestartPreventExitStatus"].split()
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "ReadWritePaths": "/var/lib/contacts-sync",
    }.items():
        assert service[key] == value, key


def test_oneshot_unit_and_timer() -> None:
    """The timer starts the oneshot every 15 minutes; a run needing a person is not a unit failure."""
    daemon = read_unit(SYSTEMD / "contacts-sync.service")["Service"]
    once = read_unit(SYSTEMD / "contacts-sync-once.service")["Service"]
    assert once["Type"] == "oneshot"
    assert once["ExecStart"] == f"{INSTALLED_BINARY} sync --wait 60"
    assert "1" in once["SuccessExitStatus"].split()
    for key in ("User", "Group", "StateDirectory", "Environment", "EnvironmentFile", "ReadWritePaths"):
        assert once[key] == daemon[key], f"{key} differs from the daemon's: the two must share one store"
    timer_unit = read_unit(SYSTEMD / "contacts-sync.timer")
    timer = timer_unit["Timer"]
    assert timer["OnCalendar"] == "*:0/15"
    assert timer["Persistent"] == "true"
    assert systemd_seconds(timer["RandomizedDelaySec"]) == 60
    assert (SYSTEMD / timer["Unit"]).is_file()
    assert timer_unit["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing about the units (ExecStart pointed at a real binary)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not on PATH (no systemd here); the units were only parsed as INI")
    binary = Path(sys.executable).parent / "contacts-sync"
    executable = str(binary if binary.exists() else Path(sys.executable))
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace(INSTALLED_BINARY, executable)
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    ours = [line for line in output.splitlines() if str(tmp_path) in line or line.startswith(UNITS)]
    assert result.returncode == 0, output
    assert not ours, "\n".join(ours)


def test_crontab_example() -> None:
    """The cron job runs every 15 minutes as the daemon's user, with its env file, store and a log file."""
    user = read_unit(SYSTEMD / "contacts-sync.service")["Service"]["User"]
    env_file = read_unit(SYSTEMD / "contacts-sync.service")["Service"]["EnvironmentFile"]
    ((schedule, cron_user, command),) = crontab_entries()
    assert schedule == "*/15 * * * *"
    schedule_from(None, schedule)
    assert cron_user == user
    assert f". {env_file}" in command
    assert re.search(r">>\s*/var/log/contacts-sync/\S+ 2>&1$", command)
    assert "flock" not in command
    assert "%" not in command, "cron turns % into a newline"
    text = CRONTAB.read_text()
    assert "CONTACTS_SYNC_DATABASE_URL=sqlite:////var/lib/contacts-sync/contacts.db" in text.splitlines()
    assert "same user" in text.lower()


def test_deploy_readme_covers_each_way_to_run() -> None:
    """The deploy README explains systemd, the timer, cron, Docker and kubectl, and the same-user rule."""
    text = " ".join(DEPLOY_README.read_text().split())
    for needle in (
        "useradd",
        "/opt/contacts-sync",
        "chmod 600",
        "systemctl enable --now contacts-sync.timer",
        "docker build -f deploy/docker/Dockerfile",
        "kubectl apply -f deploy/kubernetes/",
        "same user",
    ):
        assert needle in text, needle


# --- settings and secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_settings_variables_are_real_settings(path: Path) -> None:
    """Every CONTACTS_SYNC_* variable a deploy file names is a setting contacts-sync reads."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {ENV_PREFIX + "CONFIG"}
    known.add(FLEET_CONFIG_ENV)  # the fleet file, read by `fleet ...` and `--account`
    known |= {  # and the variables click options read (log level, the daemon's health port)
        str(param.envvar)
        for command in cli.commands.values()
        for param in command.params
        if isinstance(param.envvar, str)
    }
    named = set(re.findall(rf"\b{ENV_PREFIX}[A-Z0-9_]+", path.read_text()))
    assert named <= known, named - known


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_no_real_secrets(path: Path) -> None:
    """No file holds a real-looking token (lev_sk_ plus more than a placeholder) or URL password."""
    text = path.read_text()
    for suffix in re.findall(r"lev_sk_([A-Za-z0-9_-]*)", text):
        assert suffix == "" or re.fullmatch(r"[A-Z_]+|x+", suffix), f"lev_sk_{suffix} looks like a real token"
    for password in re.findall(r"://[^/\s:@]+:([^@\s/]+)@", text):
        assert re.fullmatch(r"[A-Z_]+|\.\.\.", password), f"a password in a URL: {password!r}"


def test_env_example_holds_placeholders_only() -> None:
    """The env example sets the token to a placeholder, and every key it names is a real setting."""
    active = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip() and re.fullmatch(r"[A-Z_]+", key), line
            active[key] = value
    assert set(active) == {ENV_PREFIX + "API_TOKEN"}
    assert re.fullmatch(r"lev_sk_([A-Z_]+|\.\.\.)", active[ENV_PREFIX + "API_TOKEN"])
    assert active[ENV_PREFIX + "API_TOKEN"].isascii()
    assert "chmod 600" in ENV_EXAMPLE.read_text() or "-m 600" in ENV_EXAMPLE.read_text()
