"""Which accounts are due: a pure decision over the file and the schedule table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.fleet.config import parsed_fleet_config
from sync.fleet.scheduling import due_accounts, tick_cron

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fleet():  # type: ignore[no-untyped-def]
    return parsed_fleet_config(
        {
            "fleet": {"database_url": "postgresql://x@h/db", "every": "5m"},
            "accounts": {
                "new": {"api_token_env": "T"},
                "late": {"api_token_env": "T"},
                "later": {"api_token_env": "T"},
                "not-yet": {"api_token_env": "T"},
                "paused": {"api_token_env": "T", "enabled": False},
                "parked": {"api_token_env": "T", "every": "1h"},
            },
        },
        path="fleet.toml",
        environ={},
    )


def test_due_accounts_new_parked_and_late_in_order() -> None:
    """New and parked accounts first, then the latest first; paused and future ones wait."""
    planned = {
        "late": NOW - timedelta(minutes=1),
        "later": NOW - timedelta(minutes=3),
        "not-yet": NOW + timedelta(seconds=1),
        "paused": NOW - timedelta(hours=1),
        "parked": None,
        "gone-from-file": NOW - timedelta(hours=1),
    }
    due = due_accounts(fleet().accounts, planned, NOW)
    assert [d.account for d in due] == ["new", "parked", "later", "late"]
    assert {d.account: d.next_run_at for d in due}["parked"] == NOW + timedelta(hours=1)
    assert {d.account: d.next_run_at for d in due}["late"] == NOW + timedelta(minutes=5)


def test_tick_cron_has_a_seconds_column() -> None:
    """procrastinate's cron takes seconds as a sixth column; a minute is plain cron."""
    assert tick_cron(5) == "* * * * * */5"
    assert tick_cron(60) == "* * * * *"
    with pytest.raises(ValueError, match="use one of"):
        tick_cron(7)


def test_schedules_describe_themselves_as_written() -> None:
    """Status shows `every 1h30m`, not a timedelta's repr."""
    accounts = parsed_fleet_config(
        {
            "fleet": {"database_url": "postgresql://x@h/db"},
            "accounts": {
                "a": {"api_token_env": "T", "every": "1h30m"},
                "b": {"api_token_env": "T", "cron": "0 * * * *"},
            },
        },
        path="f",
        environ={},
    ).accounts
    assert accounts["a"].schedule.described() == "every 1h30m"
    assert accounts["b"].schedule.described() == "cron '0 * * * *' (UTC)"
