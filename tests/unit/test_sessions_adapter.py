"""The session-contacts adapter: what it declares, and the settings it refuses to start without."""

from __future__ import annotations

import pytest

from config.settings import DEFAULT_API_URL, Settings, load_settings
from sync.apis.adapter import WholeList
from sync.apis.kinds import Kind
from sync.apis.registry import adapter_named
from sync.errors import ConfigError
from sync.identity import normalised_base_url
from sync.remote import AccountIdentity

SESSIONS = adapter_named("sessions")
COOKIE = "s%3AsessionIdUnit123.SignatureAbcDef%2Bxyz"


def test_the_adapter_declares_creates_only_lookups_and_one_whole_list() -> None:
    """No update, no delete; a lost create is found by lookup; the list is one answer; gone is flagged."""
    assert SESSIONS.writes == {"create"}
    assert SESSIONS.retry_safety == "lookup"
    assert SESSIONS.paging == WholeList()
    assert (SESSIONS.vanished, SESSIONS.flag_column) == ("flag", "is_listed")
    assert SESSIONS.id_type is int


def test_the_columns_are_the_contact_in_snake_case_then_can_login_and_the_flag() -> None:
    """Columns in the seed's order, metadata JSON, is_active and can_login booleans, is_listed last."""
    assert list(SESSIONS.columns) == [
        "id", "full_name", "mention_name", "email", "phone", "company", "title", "department",
        "type", "is_active", "metadata", "created_at", "updated_at", "can_login", "is_listed",
    ]  # fmt: skip
    assert SESSIONS.columns["metadata"] is Kind.JSON
    assert {SESSIONS.columns[name] for name in ("is_active", "can_login", "is_listed")} == {Kind.BOOLEAN}
    assert SESSIONS.create_only == {"can_login"}
    assert SESSIONS.api_owned == {"id", "created_at", "updated_at", "can_login", "is_listed"}


def test_no_rate_budget_is_assumed() -> None:
    """The API documents no limits: no pacing; 429 answers slow the client down instead."""
    settings, _ = load_settings(environ={"CONTACTS_SYNC_API": "sessions"})
    assert SESSIONS.rate_budget(settings, AccountIdentity("sessions", "http://x", "http://x", "x")) is None


def test_without_cookie_or_url_every_missing_setting_is_named_at_once() -> None:
    """No cookie and Lev's default URL: one ConfigError naming CONTACTS_SYNC_SESSION_COOKIE and the URL."""
    settings, _ = load_settings(environ={"CONTACTS_SYNC_API": "sessions"})
    with pytest.raises(ConfigError) as caught:
        SESSIONS.check_settings(settings)
    first, second = str(caught.value).splitlines()
    assert first.startswith("CONTACTS_SYNC_SESSION_COOKIE is not set: sign in to the app")
    assert "connect.sid" in first
    assert second.startswith(f"CONTACTS_SYNC_API_URL still points at the Lev API ({DEFAULT_API_URL})")


def test_a_blank_cookie_is_missing_and_a_set_one_passes() -> None:
    """A cookie of blanks counts as none; with a cookie and an app URL the settings pass."""
    base = {"CONTACTS_SYNC_API": "sessions", "CONTACTS_SYNC_API_URL": "https://app.example.com/api"}
    blank, _ = load_settings(environ=base | {"CONTACTS_SYNC_SESSION_COOKIE": "   "})
    with pytest.raises(ConfigError, match=r"^CONTACTS_SYNC_SESSION_COOKIE is not set"):
        SESSIONS.check_settings(blank)
    good, _ = load_settings(environ=base | {"CONTACTS_SYNC_SESSION_COOKIE": COOKIE})
    SESSIONS.check_settings(good)


def test_the_cookie_is_never_in_the_settings_text() -> None:
    """The cookie is a secret setting: neither repr nor str of the settings shows it."""
    settings, _ = load_settings(
        environ={"CONTACTS_SYNC_API": "sessions", "CONTACTS_SYNC_SESSION_COOKIE": COOKIE}
    )
    assert COOKIE not in repr(settings) and COOKIE not in str(settings)


def test_the_wire_rules_are_the_adapters() -> None:
    rules = SESSIONS.wire_rules(Settings())
    assert rules.writable == SESSIONS.writable


def test_the_account_words_and_identity_say_what_a_store_is_bound_to() -> None:
    """The store is bound to the app's URL (the API names no user), in words a status line can show."""
    assert "session cookie" in SESSIONS.account
    from sync.apis.sessions.account import identity_of_app

    identity = identity_of_app("HTTPS://App.Example.com:443/api/")
    assert identity.base_url == identity.account_id == normalised_base_url("https://app.example.com/api")
    assert identity.account_name == "the contacts app at app.example.com"
