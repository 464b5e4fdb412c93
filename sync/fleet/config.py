"""The fleet's configuration: which accounts, on which schedule, with which settings.

A TOML file, read and checked in one go (every mistake reported at once, each
under its place in the file). The file never holds a secret: an account says
where its secret comes from (`<secret>_env = "VARIABLE"` or `<secret>_file =
"/run/secrets/..."`) and the secret is read when a run needs it, so a rotated
token file is used by the next run without a restart.

    [fleet]
    database_url = "postgresql://sync@db/contacts"   # or CONTACTS_SYNC_DATABASE_URL
    every = "15m"                                   # default schedule of the accounts
    metrics_accounts = ["acme"]                     # accounts with their own metrics labels

    [defaults]                                      # settings every account starts from
    tier = "standard"

    [accounts.acme]
    api = "lev"
    api_token_env = "ACME_LEV_TOKEN"
    every = "5m"                                    # or cron = "*/5 * * * *" (UTC)
    conflict_policy = "manual"
    schema = "acme"                                 # default: cs_<name>

An account's other keys are the settings of `config.settings.Settings` (except
`database_url`: the fleet gives each account its own schema of the fleet database).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from config.database_url import checked_database_url
from config.settings import ENV_PREFIX, Settings
from sync.errors import ConfigError
from sync.schedule import parse_every

FLEET_CONFIG_ENV = ENV_PREFIX + "FLEET_CONFIG"
DATABASE_URL_ENV = ENV_PREFIX + "DATABASE_URL"
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Settings whose value is a secret: given by reference only (`<name>_env`, `<name>_file`).
SECRET_SETTINGS = frozenset(
    name
    for name, info in Settings.model_fields.items()
    if SecretStr in getattr(info.annotation, "__args__", ())
)
# Keys of an account that are the fleet's, not a Setting.
SCHEDULE_KEYS = frozenset({"every", "cron"})
ACCOUNT_KEYS = SCHEDULE_KEYS | {"schema", "enabled"}
FLEET_KEYS = frozenset({"database_url", "every", "cron", "metrics_accounts"})
# Settings the fleet decides itself.
FLEET_OWNED_SETTINGS = frozenset({"database_url"})
DEFAULT_EVERY = "15m"
MAX_LABELLED_ACCOUNTS = 50


@dataclass(frozen=True)
class SecretRef:
    """Where a secret setting's value is read from: an environment variable or a file."""

    setting: str
    env: str | None = None
    file: str | None = None

    def described(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


@dataclass(frozen=True)
class FleetSchedule:
    """Every `every` seconds, or on a crontab line (UTC); pure `next_after`."""

    every: timedelta | None = None
    cron: str | None = None

    def next_after(self, moment: datetime) -> datetime:
        if self.every is not None:
            return moment + self.every
        from croniter import croniter  # procrastinate's own dependency

        assert self.cron is not None
        following: datetime = croniter(self.cron, moment).get_next(datetime)
        return following

    def described(self) -> str:
        if self.cron:
            return f"cron {self.cron!r} (UTC)"
        assert self.every is not None
        seconds, parts = int(self.every.total_seconds()), []
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if seconds >= size:
                parts.append(f"{seconds // size}{unit}")
                seconds %= size
        return "every " + "".join(parts)


@dataclass(frozen=True)
class Account:
    name: str
    schema: str
    schedule: FleetSchedule
    settings: Mapping[str, Any]  # checked values, secrets left out
    secrets: tuple[SecretRef, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class FleetConfig:
    path: str
    database_url: str
    accounts: Mapping[str, Account]
    metrics_accounts: frozenset[str] = field(default_factory=frozenset)

    def account(self, name: str) -> Account:
        if name not in self.accounts:
            known = ", ".join(sorted(self.accounts)) or "none"
            close = difflib.get_close_matches(name, self.accounts, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"{self.path}: no account {name!r}; {hint}the accounts are: {known}")
        return self.accounts[name]

    def labelled_accounts(self) -> frozenset[str]:
        """The accounts with their own metrics labels; the others share the label `other`.

        The allow-list when the file gives one, else every account of a small fleet
        (at most MAX_LABELLED_ACCOUNTS): the number of series stays bounded.
        """
        if self.metrics_accounts:
            return self.metrics_accounts
        return frozenset(self.accounts) if len(self.accounts) <= MAX_LABELLED_ACCOUNTS else frozenset()


# Server-side keepalives for an account's sessions: when a worker's machine is lost, the
# server drops its session within about a minute, and with it the store's advisory lock
# (by default a dead peer can hold it for the two hours of the kernel's keepalive).
SESSION_KEEPALIVES = ("tcp_keepalives_idle=30", "tcp_keepalives_interval=10", "tcp_keepalives_count=3")


def account_database_url(fleet_url: str, schema: str) -> str:
    """The fleet database URL with the account's schema as its search_path (and keepalives)."""
    url = make_url(fleet_url)
    options = [part for part in str(url.query.get("options", "")).split() if "search_path" not in part]
    options.append(f"-csearch_path={schema}")
    for setting in SESSION_KEEPALIVES:
        if setting.split("=")[0] not in " ".join(options):
            options.append(f"-c{setting}")
    return url.update_query_dict({"options": " ".join(options)}).render_as_string(hide_password=False)


def load_fleet_config(path: str | None = None, *, environ: Mapping[str, str] | None = None) -> FleetConfig:
    """Read and check the fleet file (`path`, else CONTACTS_SYNC_FLEET_CONFIG); every problem at once."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(FLEET_CONFIG_ENV)
    if not path:
        raise ConfigError(
            f"no fleet configuration: pass --config FILE or set {FLEET_CONFIG_ENV} to the fleet's TOML file"
        )
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"fleet config {path}: cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"fleet config {path}: not valid TOML ({exc})") from None
    return parsed_fleet_config(data, path=path, environ=environ)


def parsed_fleet_config(data: Mapping[str, Any], *, path: str, environ: Mapping[str, str]) -> FleetConfig:
    """The checked fleet from the file's parsed TOML; a ConfigError listing every problem."""
    problems: list[str] = []
    for key in sorted(set(data) - {"fleet", "defaults", "accounts"}):
        problems.append(
            f"{path}: [{key}]: unknown section; the sections are [fleet], [defaults], [accounts.NAME]"
        )
    fleet = _table(data, "fleet", path, problems)
    defaults = _table(data, "defaults", path, problems)
    accounts_table = _table(data, "accounts", path, problems)
    for key in sorted(set(fleet) - FLEET_KEYS):
        problems.append(f"{path}: fleet.{key}: unknown key; the keys are {', '.join(sorted(FLEET_KEYS))}")

    database_url = environ.get(DATABASE_URL_ENV) or fleet.get("database_url")
    where = DATABASE_URL_ENV if environ.get(DATABASE_URL_ENV) else f"{path}: fleet.database_url"
    if not isinstance(database_url, str) or not database_url:
        problems.append(
            f"{path}: fleet.database_url is not set (nor {DATABASE_URL_ENV}): give the PostgreSQL URL"
        )
        database_url = ""
    else:
        try:
            database_url = checked_database_url(database_url)
            if not database_url.startswith("postgresql"):
                raise ValueError(
                    "a fleet keeps its accounts and its job queue in PostgreSQL: use postgresql://"
                )
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            database_url = ""

    default_schedule = _schedule(fleet, f"{path}: fleet", problems) or FleetSchedule(
        parse_every(DEFAULT_EVERY)
    )
    accounts: dict[str, Account] = {}
    schemas: dict[str, str] = {}
    for name, table in accounts_table.items():
        label = f"{path}: accounts.{name}"
        if not isinstance(table, dict):
            problems.append(f"{label}: must be a table ([accounts.{name}])")
            continue
        account = _account(name, {**defaults, **table}, label, default_schedule, problems)
        if account is None:
            continue
        if account.schema in schemas:
            owner = schemas[account.schema]
            problems.append(f"{label}: schema {account.schema!r} is already used by account {owner!r}")
        schemas[account.schema] = name
        accounts[name] = account

    labelled = fleet.get("metrics_accounts", [])
    if not isinstance(labelled, list) or not all(isinstance(n, str) for n in labelled):
        problems.append(f"{path}: fleet.metrics_accounts: must be a list of account names")
        labelled = []
    for unknown in sorted(set(labelled) - set(accounts_table)):
        problems.append(f"{path}: fleet.metrics_accounts: {unknown!r} is not an account of this file")
    if len(labelled) > 2 * MAX_LABELLED_ACCOUNTS:
        problems.append(f"{path}: fleet.metrics_accounts: at most {2 * MAX_LABELLED_ACCOUNTS} accounts")
    if problems:
        raise ConfigError("\n".join(problems))
    return FleetConfig(path, database_url, accounts, frozenset(labelled))


def _table(data: Mapping[str, Any], key: str, path: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{path}: {key} must be a table ([{key}])")
        return {}
    return value


def _schedule(table: Mapping[str, Any], label: str, problems: list[str]) -> FleetSchedule | None:
    every, cron = table.get("every"), table.get("cron")
    if every is not None and cron is not None:
        problems.append(f"{label}: give one of every or cron, not both")
        return None
    if every is not None:
        try:
            return FleetSchedule(every=parse_every(str(every)))
        except ConfigError as exc:
            problems.append(f"{label}.every: {str(exc).removeprefix('--every ')}")
            return None
    if cron is not None:
        from croniter import croniter

        if not isinstance(cron, str) or not croniter.is_valid(cron):
            problems.append(f"{label}.cron: {cron!r} is not a crontab line such as '*/15 * * * *'")
            return None
        return FleetSchedule(cron=cron)
    return None


def _account(
    name: str, table: Mapping[str, Any], label: str, default_schedule: FleetSchedule, problems: list[str]
) -> Account | None:
    before = len(problems)
    if not ACCOUNT_NAME.match(name):
        problems.append(f"{label}: an account name is 1-48 of a-z 0-9 _ - (starting with a letter or digit)")
    schema = table.get("schema", "cs_" + name.replace("-", "_"))
    if not isinstance(schema, str) or not SCHEMA_NAME.match(schema):
        problems.append(f"{label}.schema: {schema!r} is not a PostgreSQL schema name (a-z 0-9 _, 63 at most)")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{label}.enabled: must be true or false")
    schedule = _schedule(table, label, problems) or default_schedule

    secrets: list[SecretRef] = []
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ACCOUNT_KEYS:
            continue
        if key in SECRET_SETTINGS:
            problems.append(
                f'{label}.{key}: a fleet file never holds a secret; give {key}_env = "VARIABLE" '
                f'or {key}_file = "/path/to/secret" instead'
            )
            continue
        secret = _secret_ref(key, value, label, problems)
        if secret is not None:
            secrets.append(secret)
            continue
        if key in FLEET_OWNED_SETTINGS:
            problems.append(f"{label}.{key}: the fleet gives each account a schema of fleet.database_url")
            continue
        values[key] = value
    unknown = sorted(set(values) - set(Settings.model_fields))
    for key in unknown:
        known = [*Settings.model_fields, *ACCOUNT_KEYS]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "see `contacts-sync fleet --help` for the keys"
        problems.append(f"{label}.{key}: unknown key; {hint}")
        del values[key]
    try:
        checked = Settings(**values)
    except ValidationError as exc:
        for error in exc.errors():
            field_name = ".".join(str(part) for part in error["loc"])
            problems.append(f"{label}.{field_name}: {error['msg'].removeprefix('Value error, ')}")
        checked = None
    given = {s.setting for s in secrets}
    for twice in sorted(name_ for name_ in given if sum(s.setting == name_ for s in secrets) > 1):
        problems.append(f"{label}: {twice} is given both by _env and by _file; keep one")
    if len(problems) > before or checked is None:
        return None
    return Account(
        name=name,
        schema=str(schema),
        schedule=schedule,
        settings={key: getattr(checked, key) for key in values},
        secrets=tuple(secrets),
        enabled=bool(enabled),
    )


def _secret_ref(key: str, value: Any, label: str, problems: list[str]) -> SecretRef | None:
    for suffix in ("_env", "_file"):
        setting = key.removesuffix(suffix)
        if key.endswith(suffix) and setting in SECRET_SETTINGS:
            if not isinstance(value, str) or not value.strip():
                what = "an environment variable's name" if suffix == "_env" else "a file path"
                problems.append(f"{label}.{key}: must be {what}")
                return None
            if suffix == "_env":
                return SecretRef(setting, env=value.strip())
            return SecretRef(setting, file=value.strip())
    return None
