"""Which accounts are due: pure decisions over the configuration and the schedule table.

One scheduler task (`fleet.tick`, periodic, a few seconds apart, never two at once)
reads the fleet file and the schedule table and defers a sync job for each account
that is due. The file is read on every tick, so adding, removing or pausing an
account is an edit of the file: no code change, no restart of any worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sync.fleet.config import Account

# How many seconds apart the scheduler may tick: cron's seconds column needs a divisor of 60.
TICK_CHOICES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


@dataclass(frozen=True)
class Due:
    account: str
    next_run_at: datetime  # when the one after this is due


def due_accounts(
    accounts: Mapping[str, Account], next_runs: Mapping[str, datetime | None], now: datetime
) -> list[Due]:
    """The enabled accounts whose time has come, in order of how late they are.

    An account without a row (new in the file) or without a time (parked by a
    draining worker, or never deferred) is due at once.
    """
    late: list[tuple[datetime | None, str]] = []
    for name, account in accounts.items():
        if not account.enabled:
            continue
        planned = next_runs.get(name)
        if planned is None or planned <= now:
            late.append((planned, name))
    late.sort(key=lambda item: (item[0] is not None, item[0] or now, item[1]))
    return [Due(name, accounts[name].schedule.next_after(now)) for _, name in late]


def tick_cron(seconds: int) -> str:
    """The periodic task's cron line for a tick every `seconds` (6 columns: seconds last)."""
    if seconds not in TICK_CHOICES:
        raise ValueError(f"a tick of {seconds}s: use one of {', '.join(map(str, TICK_CHOICES))}")
    if seconds == 60:
        return "* * * * *"
    return f"* * * * * */{seconds}"
