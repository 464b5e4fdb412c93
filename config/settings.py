"""Settings, read once at the entry point into one immutable object.

Sources, weakest first: defaults, a TOML file (`--config` or CONTACTS_SYNC_CONFIG),
environment variables CONTACTS_SYNC_<NAME>, command-line flags.  A bad value is
reported under the name the user gave it (the variable, the file key or the flag).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
import tomllib
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from config.database_url import checked_database_url
from sync.apis.registry import ADAPTERS, DEFAULT_API
from sync.errors import ConfigError

ENV_PREFIX = "CONTACTS_SYNC_"
DEFAULT_API_URL = "https://api.lev.com/api/external/v2"


def default_database_url() -> str:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    return f"sqlite:///{data_home / 'contacts-sync' / 'contacts.db'}"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api: str = DEFAULT_API  # which contacts API: a name in sync.apis.registry
    # Before api_url: its check reads this one (fields are validated in this order).
    allow_insecure_http: bool = False
    api_url: str = DEFAULT_API_URL
    api_token: SecretStr | None = None
    # The company-contacts API: the companies whose contacts this store holds (UUIDs).
    company_ids: tuple[str, ...] = ()
    # The session-contacts API: the value of the `connect.sid` cookie of a signed-in session.
    session_cookie: SecretStr | None = None
    database_url: str = Field(default_factory=default_database_url)
    origin_app: str = Field("contacts-sync", min_length=1, max_length=100)
    conflict_policy: Literal["remote-wins", "local-wins", "manual"] = "remote-wins"
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_disconnect_share: float = Field(0.25, ge=0, le=1)
    tier: Literal["free", "standard", "enterprise", "unlimited"] | None = None
    rate_window_seconds: float = Field(60.0, gt=0, le=3600)
    write_concurrency: int = Field(4, ge=1, le=32)
    retry_attempts: int = Field(6, ge=1, le=50)
    retry_base_delay: float = Field(0.5, gt=0, le=60)
    retry_max_delay: float = Field(30.0, gt=0, le=3600)
    retry_budget_seconds: float = Field(600.0, ge=0, le=86_400)
    # How often a walk lists every contact (the only walk that flags disconnections) when the
    # API can list only what changed; "0s" makes every walk full.
    full_walk_every: timedelta = timedelta(days=1)

    # Field validators rather than a whole-model one: a model validator runs only when
    # every field is valid, and every bad setting is reported at once.
    @field_validator("api")
    @classmethod
    def _check_api(cls, value: str) -> str:
        if value not in ADAPTERS:
            known = ", ".join(sorted(ADAPTERS))
            raise ValueError(f"unknown API {value!r}; the APIs contacts-sync syncs with are: {known}")
        return value

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str, info: ValidationInfo) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            raise ValueError("not a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http(s) URL with a host")
        # A bad allow_insecure_http is reported on its own; without it, nothing to judge by.
        insecure_allowed = info.data.get("allow_insecure_http", True)
        if url.scheme == "http" and not insecure_allowed and not _is_loopback(url.host):
            raise ValueError(
                "plain http is only allowed to loopback hosts; use https, or set "
                "allow_insecure_http if you really mean it"
            )
        return value

    @field_validator("company_ids", mode="before")
    @classmethod
    def _split_company_ids(cls, value: Any) -> Any:
        # The environment gives one string: "uuid1,uuid2".
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("company_ids")
    @classmethod
    def _check_company_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        normalised = []
        for given in value:
            try:
                normalised.append(str(uuid.UUID(given)))
            except ValueError:
                example = uuid.UUID(int=1)
                raise ValueError(f"{given!r} is not a company id (a UUID such as {example})") from None
        if len(set(normalised)) != len(normalised):
            raise ValueError("a company id is listed twice")
        return tuple(sorted(normalised))

    @field_validator("full_walk_every", mode="before")
    @classmethod
    def _parse_full_walk_every(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parsed_duration(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return checked_database_url(value)

    def token(self) -> str:
        """The API token; a ConfigError when it is missing."""
        if self.api_token is None or not self.api_token.get_secret_value().strip():
            raise ConfigError(
                "CONTACTS_SYNC_API_TOKEN is not set: give the Lev API key (lev_sk_...) in the "
                "environment or as api_token in the config file"
            )
        return self.api_token.get_secret_value().strip()


_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parsed_duration(text: str) -> timedelta:
    """'0s', '30m', '12h', '1d', '1d12h' (or plain seconds) as a duration."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return timedelta(seconds=int(cleaned))
    parts = _DURATION_PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError("use a duration like 0s, 30m, 12h, 1d or 1d12h")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> tuple[Settings, list[str]]:
    """Merge the sources and validate them; returns the settings and warnings to log."""
    environ = os.environ if environ is None else environ
    warnings: list[str] = []
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    path = config_path or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        for key, value in _read_config_file(Path(path), warnings).items():
            values[key] = value
            labels[key] = f"{path}: {key}"
    for name in Settings.model_fields:
        variable = ENV_PREFIX + name.upper()
        if environ.get(variable, "") != "":
            values[name] = environ[variable]
            labels[name] = variable
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
            labels[name] = "--" + name.replace("_", "-")
    try:
        return Settings(**values), warnings
    except ValidationError as exc:
        message = _describe(exc, labels, path)
        for secret_name in ("api_token", "session_cookie"):
            secret = values.get(secret_name)
            if isinstance(secret, str) and secret.strip():
                message = message.replace(secret.strip(), "***")  # pasted into another setting
        raise ConfigError(message) from None


def _read_config_file(path: Path, warnings: list[str]) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"config file {path} can be read by other users; it may hold the API token: chmod 600 {path}"
        )
    return data


def _describe(exc: ValidationError, labels: Mapping[str, str], path: str | None) -> str:
    """One line per bad setting, each under the name the user gave it."""
    return "\n".join(_describe_one(error, labels, path) for error in exc.errors())


def _describe_one(error: ErrorDetails, labels: Mapping[str, str], path: str | None) -> str:
    name = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        # A typo, or a flag's short name (`policy` for conflict_policy).
        close = difflib.get_close_matches(name, Settings.model_fields, n=1) or [
            known for known in Settings.model_fields if len(name) > 3 and name in known
        ]
        known = ", ".join(Settings.model_fields)
        hint = f"did you mean {close[0]}?" if close else f"the settings are {known}"
        return f"{path}: {name}: unknown setting; {hint}"
    label = labels.get(name, ENV_PREFIX + name.upper())
    given = error.get("input")
    looks_secret = isinstance(given, str) and given.strip().startswith(("lev_sk_", "eyJ"))
    shown = "" if name in ("api_token", "session_cookie") or looks_secret else f" (got {given!r})"
    return f"{label}: {message}{shown if error['type'] != 'value_error' else ''}"
