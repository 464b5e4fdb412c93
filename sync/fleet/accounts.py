"""An account of the fleet as the Settings one run of it needs (what `--account NAME` gives).

Secrets are read here, at the moment a run or a command needs them: from the
environment variable or the file the fleet configuration names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.settings import Settings
from sync.errors import ConfigError
from sync.fleet.config import Account, FleetConfig, SecretRef, account_database_url, load_fleet_config


def read_secret(ref: SecretRef, account: str, environ: Mapping[str, str]) -> str:
    """The secret's value; a ConfigError naming the account and where it looked (never the value)."""
    if ref.env is not None:
        value = environ.get(ref.env, "").strip()
        if not value:
            raise ConfigError(
                f"account {account}: {ref.setting} comes from the environment variable {ref.env}, "
                "which is not set in this worker's environment; set it (a Kubernetes Secret, an env file)"
            )
        return value
    assert ref.file is not None
    try:
        value = Path(ref.file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            f"account {account}: {ref.setting} file {ref.file} cannot be read ({why})"
        ) from None
    if not value:
        raise ConfigError(f"account {account}: {ref.setting} file {ref.file} is empty")
    return value


def settings_for(
    fleet: FleetConfig,
    account: Account,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """One account's Settings: its values, its secrets, its schema; `flags` (the command line) win."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = dict(account.settings)
    given = {k for k, v in (flags or {}).items() if v is not None}
    for ref in account.secrets:
        if ref.setting not in given:
            values[ref.setting] = read_secret(ref, account.name, environ)
    values["database_url"] = account_database_url(fleet.database_url, account.schema)
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            lines.append(f"account {account.name}: {name}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None


def account_settings(
    name: str,
    *,
    config_path: str | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """`--account NAME`: the fleet file (`--config` or CONTACTS_SYNC_FLEET_CONFIG) and the account in it."""
    fleet = load_fleet_config(config_path, environ=environ)
    return settings_for(fleet, fleet.account(name), environ=environ, flags=flags)
