"""Settings: sources merged weakest first, bad values named as the user gave them, the token kept secret."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from config.settings import DEFAULT_API_URL, load_settings
from sync.errors import ConfigError

TOKEN = "lev_sk_SETTINGS_secret_98765"


def config_file(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "contacts-sync.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def load(**kwargs: Any) -> Any:
    kwargs.setdefault("environ", {})
    settings, _ = load_settings(**kwargs)
    return settings


def test_defaults() -> None:
    """With no sources the documented defaults apply and there is no token."""
    settings, warnings = load_settings(environ={})
    assert settings.api_url == DEFAULT_API_URL
    assert settings.conflict_policy == "remote-wins"
    assert settings.timeout_seconds == 30.0
    assert settings.api_token is None
    assert warnings == []


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    """A flag beats the environment, which beats the config file, which beats the default."""
    path = config_file(
        tmp_path, 'timeout_seconds = 10\nconflict_policy = "manual"\norigin_app = "from-file"\n'
    )
    environ = {"CONTACTS_SYNC_TIMEOUT_SECONDS": "20", "CONTACTS_SYNC_CONFLICT_POLICY": "local-wins"}
    settings = load(
        config_path=path, environ=environ, flags={"timeout_seconds": 30.5, "conflict_policy": None}
    )
    assert settings.timeout_seconds == 30.5
    assert settings.conflict_policy == "local-wins"  # a None flag is "not given"
    assert settings.origin_app == "from-file"
    assert load(config_path=path, environ=environ).timeout_seconds == 20.0
    assert load(config_path=path).timeout_seconds == 10.0


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    """CONTACTS_SYNC_CONFIG names the file when no --config is given."""
    path = config_file(tmp_path, "retry_attempts = 3\n")
    assert load(environ={"CONTACTS_SYNC_CONFIG": path}).retry_attempts == 3


def test_empty_environment_variable_is_not_given(tmp_path: Path) -> None:
    """An empty variable does not override the file."""
    path = config_file(tmp_path, "retry_attempts = 3\n")
    assert load(config_path=path, environ={"CONTACTS_SYNC_RETRY_ATTEMPTS": ""}).retry_attempts == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CONTACTS_SYNC_TIMEOUT_SECONDS", "abc"),
        ("CONTACTS_SYNC_TIMEOUT_SECONDS", "0"),
        ("CONTACTS_SYNC_TIMEOUT_SECONDS", "601"),
        ("CONTACTS_SYNC_CONFLICT_POLICY", "newest-wins"),
        ("CONTACTS_SYNC_ALLOW_INSECURE_HTTP", "maybe"),
        ("CONTACTS_SYNC_RETRY_ATTEMPTS", "0"),
        ("CONTACTS_SYNC_MAX_DISCONNECT_SHARE", "1.5"),
        ("CONTACTS_SYNC_TIER", "platinum"),
        ("CONTACTS_SYNC_API_URL", "ftp://api.lev.com"),
        ("CONTACTS_SYNC_API_URL", "not a url"),
        ("CONTACTS_SYNC_ORIGIN_APP", "x" * 101),
    ],
)
def test_bad_environment_value_names_the_variable(variable: str, value: str) -> None:
    """A bad value from the environment is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as caught:
        load(environ={variable: value, "CONTACTS_SYNC_API_TOKEN": TOKEN})
    assert str(caught.value).startswith(variable + ":")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("timeout_seconds = -1", "timeout_seconds"),
        ('conflict_policy = "newest-wins"', "conflict_policy"),
        ('retry_attempts = "many"', "retry_attempts"),
        ('api_url = "http://api.lev.com"', "api_url"),
    ],
)
def test_bad_file_value_names_the_file_and_key(tmp_path: Path, line: str, key: str) -> None:
    """A bad value from the config file is a ConfigError naming the file and the key."""
    path = config_file(tmp_path, f'api_token = "{TOKEN}"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    assert str(caught.value).startswith(f"{path}: {key}:")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("flag", "value", "shown"),
    [
        ("timeout_seconds", 0, "--timeout-seconds"),
        ("conflict_policy", "newest-wins", "--conflict-policy"),
        ("api_url", "http://10.0.0.8/api", "--api-url"),
        ("origin_app", "", "--origin-app"),
    ],
)
def test_bad_flag_value_names_the_flag(flag: str, value: Any, shown: str) -> None:
    """A bad value from a flag is a ConfigError naming the flag."""
    with pytest.raises(ConfigError) as caught:
        load(flags={flag: value}, environ={"CONTACTS_SYNC_API_TOKEN": TOKEN})
    assert str(caught.value).startswith(shown + ":")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://api.lev.com/api/external/v2", "http://192.168.1.20:8080", "http://10.0.0.1"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    """Plain http to a non-loopback host is refused, naming api_url and the way out."""
    with pytest.raises(ConfigError, match="allow_insecure_http") as caught:
        load(environ={"CONTACTS_SYNC_API_URL": url})
    assert "CONTACTS_SYNC_API_URL" in str(caught.value)


def test_plain_http_to_a_remote_host_is_allowed_when_asked() -> None:
    """allow_insecure_http lets plain http reach a non-loopback host."""
    settings = load(
        environ={"CONTACTS_SYNC_API_URL": "http://lev.internal", "CONTACTS_SYNC_ALLOW_INSECURE_HTTP": "true"}
    )
    assert settings.api_url == "http://lev.internal"


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000/api", "http://127.0.0.1:9/api", "http://127.9.9.9", "http://[::1]:8080/api"],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    """Plain http to a loopback host (the sandbox) needs no opt-in."""
    assert load(environ={"CONTACTS_SYNC_API_URL": url}).api_url == url


def test_missing_token_is_reported_when_needed() -> None:
    """A missing token loads fine but token() raises ConfigError naming CONTACTS_SYNC_API_TOKEN."""
    settings = load()
    with pytest.raises(ConfigError, match="CONTACTS_SYNC_API_TOKEN"):
        settings.token()


def test_blank_token_is_missing() -> None:
    """A token of whitespace counts as missing."""
    with pytest.raises(ConfigError, match="CONTACTS_SYNC_API_TOKEN"):
        load(flags={"api_token": "   "}).token()


def test_token_is_stripped() -> None:
    """token() gives the token without surrounding whitespace."""
    assert load(environ={"CONTACTS_SYNC_API_TOKEN": f" {TOKEN}\n"}).token() == TOKEN


def test_unknown_file_key_is_named(tmp_path: Path) -> None:
    """An unknown key in the config file is a ConfigError naming the file and the key."""
    path = config_file(tmp_path, 'api_tokne = "typo"\n')
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    assert f"{path}: api_tokne: unknown setting" in str(caught.value)
    assert "typo" not in str(caught.value)


def test_unreadable_and_invalid_files_are_config_errors(tmp_path: Path) -> None:
    """A missing file or one that is not TOML is a ConfigError naming the file."""
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load(config_path=missing)
    path = config_file(tmp_path, f"api_token = {TOKEN}\n")  # unquoted: not TOML
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load(config_path=path)
    assert TOKEN not in str(caught.value)


def test_config_file_readable_by_others_gives_a_warning(tmp_path: Path) -> None:
    """A group- or world-readable config file loads with a warning to chmod 600 it."""
    path = config_file(tmp_path, f'api_token = "{TOKEN}"\n', mode=0o640)
    settings, warnings = load_settings(config_path=path, environ={})
    assert settings.token() == TOKEN
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0]
    assert TOKEN not in warnings[0]
    os.chmod(path, 0o600)
    assert load_settings(config_path=path, environ={})[1] == []


@pytest.mark.parametrize(
    "source",
    [
        {"environ": {"CONTACTS_SYNC_API_TOKEN": TOKEN}},
        {"flags": {"api_token": TOKEN}},
    ],
)
def test_token_never_shown_in_repr(source: dict[str, Any]) -> None:
    """repr and str of the settings mask the token."""
    settings = load(**source)
    assert settings.token() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)


@pytest.mark.parametrize("bad", [123, ["lev_sk_list"], {"k": "lev_sk_table"}])
def test_bad_token_value_is_not_echoed(bad: Any) -> None:
    """A token of the wrong type is a ConfigError that does not quote it."""
    with pytest.raises(ConfigError) as caught:
        load(flags={"api_token": bad})
    assert str(caught.value).startswith("--api-token:")
    assert "lev_sk" not in str(caught.value)
    assert "123" not in str(caught.value)


def test_settings_are_frozen() -> None:
    """Settings cannot be changed once loaded."""
    settings = load()
    with pytest.raises(ValueError, match="frozen"):
        settings.timeout_seconds = 1.0


@pytest.mark.parametrize(
    ("source", "label"),
    [
        ({"flags": {"database_url": "sqlite://tmp/x.db"}}, "--database-url"),
        ({"environ": {"CONTACTS_SYNC_DATABASE_URL": "sqlite://tmp/x.db"}}, "CONTACTS_SYNC_DATABASE_URL"),
    ],
)
def test_sqlite_url_with_two_slashes_says_which_form_to_use(source: dict[str, Any], label: str) -> None:
    """sqlite://tmp/x.db (a host, not a path) is refused under its label, offering both path forms."""
    with pytest.raises(ConfigError) as caught:
        load(**source)
    message = str(caught.value)
    assert message.startswith(f"{label}: sqlite://tmp/x.db ")
    assert "sqlite:///tmp/x.db (relative" in message
    assert "sqlite:////tmp/x.db (absolute" in message
    assert "\n" not in message


def test_bad_database_url_in_the_file_names_the_file_key(tmp_path: Path) -> None:
    """A database URL of an unsupported kind from the file is named by file and key, not by variable."""
    path = config_file(tmp_path, 'database_url = "mysql://app@db.example.com/contacts"\n')
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    assert str(caught.value).startswith(f"{path}: database_url: mysql:// is not supported")
    assert "CONTACTS_SYNC_DATABASE_URL" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("contacts.db", "'contacts.db' is not a database URL; use sqlite:///"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("postgresql+psycopg2://u@h/db", "use postgresql://"),
        ("postgresql://u@h:notaport/db", "is not a database URL"),
    ],
)
def test_unusable_database_urls_are_refused_by_name(url: str, says: str) -> None:
    """A database URL the store could not use, or would lose, is refused naming the flag and the fix."""
    with pytest.raises(ConfigError) as caught:
        load(flags={"database_url": url})
    assert str(caught.value).startswith("--database-url: ")
    assert says in str(caught.value)


def test_a_database_url_password_is_not_echoed() -> None:
    """A refused database URL is described without the password it carries."""
    for url in ("postgresql://app:hunter2secret@h:notaport/db", "app:hunter2secret@db.example.com/x"):
        with pytest.raises(ConfigError) as caught:
            load(flags={"database_url": url})
        assert "hunter2secret" not in str(caught.value)


def test_postgres_urls_are_normalised_and_sqlite_urls_kept() -> None:
    """postgres:// (Heroku, Render) opens as postgresql+psycopg://; SQLite URLs are kept as given."""
    opened = {
        "postgres://app@db.example.com:5433/contacts": "postgresql+psycopg://app@db.example.com:5433/contacts",
        "postgresql://app@db.example.com/contacts": "postgresql+psycopg://app@db.example.com/contacts",
        "sqlite:///relative/contacts.db": "sqlite:///relative/contacts.db",
        "sqlite:////var/lib/contacts.db": "sqlite:////var/lib/contacts.db",
        "sqlite:///file:contacts.db?mode=ro&uri=true": "sqlite:///file:contacts.db?mode=ro&uri=true",
    }
    for given, expected in opened.items():
        assert load(environ={"CONTACTS_SYNC_DATABASE_URL": given}).database_url == expected


def test_every_bad_key_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """A file with several bad keys gets one line per key, each under the file and key."""
    path = config_file(
        tmp_path,
        'api_tokn = "x"\ntimeout_seconds = -1\nconflict_policy = "newest"\ndatabase_url = "sqlite://a/b.db"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    lines = str(caught.value).splitlines()
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "api_tokn",
        "conflict_policy",
        "database_url",
        "timeout_seconds",
    ]
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert "did you mean api_token?" in str(caught.value)


def test_every_bad_setting_from_every_source_is_reported_at_once(tmp_path: Path) -> None:
    """Bad values from the file, the environment and the flags are all reported, each by its own label."""
    path = config_file(tmp_path, "retry_attempts = 0\n")
    environ = {"CONTACTS_SYNC_API_URL": "http://lev.example.com", "CONTACTS_SYNC_TIER": "platinum"}
    with pytest.raises(ConfigError) as caught:
        load(config_path=path, environ=environ, flags={"database_url": "sqlite://x.db"})
    lines = str(caught.value).splitlines()
    labels = [f"{path}: retry_attempts", "CONTACTS_SYNC_API_URL", "CONTACTS_SYNC_TIER", "--database-url"]
    assert len(lines) == len(labels)
    assert all(any(line.startswith(label + ": ") for line in lines) for label in labels), lines
