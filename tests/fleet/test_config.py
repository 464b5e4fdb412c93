"""The fleet file: parsed and checked at once, every problem named by its place in the file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.fleet.accounts import account_settings, settings_for
from sync.fleet.config import account_database_url, load_fleet_config, parsed_fleet_config

DB = "postgresql://sync@db.example/contacts"


def parsed(data: dict, environ: dict | None = None):  # type: ignore[no-untyped-def]
    return parsed_fleet_config(data, path="fleet.toml", environ=environ or {})


def test_accounts_take_defaults_schedule_and_own_schema() -> None:
    """An account starts from [defaults], overrides what it gives, and gets schema cs_<name>."""
    fleet = parsed(
        {
            "fleet": {"database_url": DB, "every": "10m"},
            "defaults": {"tier": "standard", "conflict_policy": "manual"},
            "accounts": {
                "acme-co": {"api_token_env": "ACME_TOKEN", "conflict_policy": "local-wins"},
                "beta": {"api_token_file": "/run/secrets/beta", "cron": "*/5 * * * *", "schema": "b"},
            },
        }
    )
    acme, beta = fleet.accounts["acme-co"], fleet.accounts["beta"]
    assert acme.schema == "cs_acme_co" and beta.schema == "b"
    assert acme.settings["tier"] == "standard" and acme.settings["conflict_policy"] == "local-wins"
    assert acme.schedule.every == timedelta(minutes=10)
    start = datetime(2026, 1, 1, 12, 2, tzinfo=UTC)
    assert beta.schedule.next_after(start) == datetime(2026, 1, 1, 12, 5, tzinfo=UTC)
    assert [ref.env for ref in acme.secrets] == ["ACME_TOKEN"]
    assert [ref.file for ref in beta.secrets] == ["/run/secrets/beta"]


def test_every_problem_is_reported_at_once_under_its_place() -> None:
    """Secrets written in the file, typos, bad values, a schema used twice: all in one error."""
    with pytest.raises(ConfigError) as caught:
        parsed(
            {
                "fleet": {"database_url": "sqlite:///x.db", "colour": 1},
                "accounts": {
                    "a": {"api_token": "lev_sk_live_secret", "conflict_polcy": "manual"},
                    "b": {"api_token_env": "B", "every": "soon", "tier": "gold"},
                    "c": {"api_token_env": "C", "schema": "shared"},
                    "d": {"api_token_env": "D", "schema": "shared"},
                    "e": {"api_token_env": "E", "database_url": DB},
                    "Bad Name": {"api_token_env": "E"},
                },
            }
        )
    message = str(caught.value)
    assert "fleet.toml: fleet.colour: unknown key" in message
    assert "use postgresql://" in message
    assert "accounts.a.api_token: a fleet file never holds a secret; give api_token_env" in message
    assert "lev_sk_live_secret" not in message
    assert "accounts.a.conflict_polcy: unknown key; did you mean conflict_policy?" in message
    assert "accounts.b.every: 'soon'" in message
    assert "accounts.b.tier:" in message
    assert "schema 'shared' is already used by account 'c'" in message
    assert "accounts.e.database_url: the fleet gives each account a schema" in message
    assert "accounts.Bad Name: an account name is" in message


def test_database_url_from_environment_wins(tmp_path: Path) -> None:
    """CONTACTS_SYNC_DATABASE_URL keeps a password out of the file."""
    path = tmp_path / "fleet.toml"
    path.write_text(
        '[fleet]\ndatabase_url = "postgresql://x@nowhere/db"\n[accounts.a]\napi_token_env = "T"\n'
    )
    fleet = load_fleet_config(str(path), environ={"CONTACTS_SYNC_DATABASE_URL": DB})
    assert fleet.database_url == "postgresql+psycopg://sync@db.example/contacts"


def test_no_file_says_how_to_give_one() -> None:
    """Without --config or CONTACTS_SYNC_FLEET_CONFIG the error names both."""
    with pytest.raises(ConfigError, match="CONTACTS_SYNC_FLEET_CONFIG"):
        load_fleet_config(None, environ={})


def test_account_url_sets_the_search_path_and_keeps_other_options() -> None:
    """The account's store URL is the fleet URL with its schema as search_path."""
    url = account_database_url(
        "postgresql+psycopg://u:p@h/db?sslmode=require&options=-csearch_path%3Dold", "cs_a"
    )
    assert "sslmode=require" in url and "cs_a" in url and "old" not in url and "u:p@" in url
    # A lost worker's session (and its advisory lock) is dropped by the server within a minute.
    assert "tcp_keepalives_idle" in url


def test_settings_read_secrets_from_env_and_file(tmp_path: Path) -> None:
    """A run's settings carry the secret read now; a missing one names the account and the place."""
    secret = tmp_path / "b.token"
    secret.write_text("lev_sk_from_file\n")
    fleet = parsed(
        {
            "fleet": {"database_url": DB},
            "accounts": {"a": {"api_token_env": "A_TOKEN"}, "b": {"api_token_file": str(secret)}},
        }
    )
    a = settings_for(fleet, fleet.accounts["a"], environ={"A_TOKEN": "lev_sk_from_env"})
    b = settings_for(fleet, fleet.accounts["b"], environ={})
    assert a.token() == "lev_sk_from_env" and b.token() == "lev_sk_from_file"
    assert "search_path" in a.database_url and "cs_a" in a.database_url
    with pytest.raises(ConfigError, match="account a: api_token comes from the environment variable A_TOKEN"):
        settings_for(fleet, fleet.accounts["a"], environ={})
    secret.unlink()
    with pytest.raises(ConfigError, match=f"account b: api_token file {secret} cannot be read"):
        settings_for(fleet, fleet.accounts["b"], environ={})


def test_account_option_resolves_a_named_account_with_flags_on_top(tmp_path: Path) -> None:
    """`--account NAME` gives that account's settings; command-line flags still win."""
    path = tmp_path / "fleet.toml"
    path.write_text(
        f'[fleet]\ndatabase_url = "{DB}"\n[accounts.acme]\napi_token_env = "T"\nconflict_policy = "manual"\n'
    )
    environ = {"CONTACTS_SYNC_FLEET_CONFIG": str(path), "T": "lev_sk_x"}
    settings = account_settings("acme", environ=environ, flags={"conflict_policy": "remote-wins"})
    assert settings.conflict_policy == "remote-wins" and settings.token() == "lev_sk_x"
    with pytest.raises(ConfigError, match=re.escape("no account 'acm'; did you mean acme?")):
        account_settings("acm", environ=environ)
