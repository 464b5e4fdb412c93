"""Settings, read once at the entry point into one immutable object.

Sources, weakest first: defaults, a TOML file (`--config` or CONTACTS_SYNC_CONFIG),
environment variables CONTACTS_SYNC_<NAME>, command-line flags.  A bad value is
reported under the name the user gave it (the variable, the file key or the flag).
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from sync.errors import ConfigError

ENV_PREFIX = "CONTACTS_SYNC_"
DEFAULT_API_URL = "https://api.lev.com/api/external/v2"


def default_database_url() -> str:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    return f"sqlite:///{data_home / 'contacts-sync' / 'contacts.db'}"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str = DEFAULT_API_URL
    api_token: SecretStr | None = None
    database_url: str = Field(default_factory=default_database_url)
    origin_app: str = Field("contacts-sync", min_length=1, max_length=100)
    conflict_policy: Literal["remote-wins", "local-wins", "manual"] = "remote-wins"
    allow_insecure_http: bool = False
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_disconnect_share: float = Field(0.25, ge=0, le=1)
    tier: Literal["free", "standard", "enterprise", "unlimited"] | None = None
    rate_window_seconds: float = Field(60.0, gt=0, le=3600)
    write_concurrency: int = Field(4, ge=1, le=32)
    retry_attempts: int = Field(6, ge=1, le=50)
    retry_base_delay: float = Field(0.5, gt=0, le=60)
    retry_max_delay: float = Field(30.0, gt=0, le=3600)
    retry_budget_seconds: float = Field(600.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _check_api_url(self) -> Settings:
        try:
            url = httpx.URL(self.api_url)
        except httpx.InvalidURL:
            raise ValueError("api_url: not a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("api_url: must be an http(s) URL with a host")
        if url.scheme == "http" and not self.allow_insecure_http and not _is_loopback(url.host):
            raise ValueError(
                "api_url: plain http is only allowed to loopback hosts; use https, or set "
                "allow_insecure_http if you really mean it"
            )
        return self

    def token(self) -> str:
        """The API token; a ConfigError when it is missing."""
        if self.api_token is None or not self.api_token.get_secret_value().strip():
            raise ConfigError(
                "CONTACTS_SYNC_API_TOKEN is not set: give the Lev API key (lev_sk_...) in the "
                "environment or as api_token in the config file"
            )
        return self.api_token.get_secret_value().strip()


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
        token = values.get("api_token")
        if isinstance(token, str) and token.strip():
            message = message.replace(token.strip(), "***")  # pasted into another setting
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
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    if not name and ":" in message:  # a whole-model check names its field first
        name, message = (part.strip() for part in message.split(":", 1))
    if error["type"] == "extra_forbidden":
        return f"{path}: {name}: unknown setting; the settings are {', '.join(Settings.model_fields)}"
    label = labels.get(name, ENV_PREFIX + name.upper())
    given = error.get("input")
    looks_secret = isinstance(given, str) and given.strip().startswith(("lev_sk_", "eyJ"))
    shown = "" if name == "api_token" or looks_secret else f" (got {given!r})"
    return f"{label}: {message}{shown if error['type'] != 'value_error' else ''}"
