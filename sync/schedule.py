"""Schedules and the daemon's backoff: small pure pieces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.errors import ConfigError

_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> timedelta:
    """'30s', '5m', '1h', '1h30m' as a duration of at least one second."""
    cleaned = text.strip().lower()
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ConfigError(f"--every {text!r}: use a duration like 30s, 5m, 1h or 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds < 1:
        raise ConfigError(f"--every {text!r}: must be at least 1s")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Schedule:
    trigger: BaseTrigger
    period: timedelta  # typical gap between runs, for grace times and health checks
    description: str


def schedule_from(every: str | None, cron: str | None) -> Schedule:
    if (every is None) == (cron is None):
        raise ConfigError("give exactly one of --every DURATION or --cron 'EXPRESSION'")
    if every is not None:
        period = parse_every(every)
        return Schedule(
            IntervalTrigger(seconds=period.total_seconds(), timezone=UTC), period, f"every {every}"
        )
    assert cron is not None
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"--cron {cron!r}: {exc}") from None
    first = trigger.get_next_fire_time(None, datetime.now(UTC))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    period = (second - first) if first and second else timedelta(hours=1)
    return Schedule(trigger, period, f"cron {cron!r} (UTC)")


def failure_backoff(consecutive_failures: int, period: timedelta) -> timedelta:
    """How long the daemon skips its slots after failing runs: doubling, at most an hour.

    No pause after the first failure (the next slot is soon enough); then 2, 4, 8...
    periods, so a broken token or a down API is not hammered every 30 seconds.
    """
    if consecutive_failures <= 1:
        return timedelta(0)
    return min(period * (1 << (consecutive_failures - 1)), max(timedelta(hours=1), period))
