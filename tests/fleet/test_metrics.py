"""A fleet worker's metrics: per-account labels only for allowed accounts (bounded series)."""

from __future__ import annotations

from prometheus_client import generate_latest

from sync.fleet.config import parsed_fleet_config
from sync.health import FleetMetrics, account_label


def accounts(count: int, **fleet_keys: object) -> dict:  # type: ignore[type-arg]
    return {
        "fleet": {"database_url": "postgresql://x@h/db", **fleet_keys},
        "accounts": {f"a{n}": {"api_token_env": "T"} for n in range(count)},
    }


def test_small_fleets_label_every_account_large_ones_only_the_allow_list() -> None:
    """Up to 50 accounts each get a label; beyond, only `metrics_accounts`; the rest is `other`."""
    small = parsed_fleet_config(accounts(3), path="f", environ={})
    assert small.labelled_accounts() == {"a0", "a1", "a2"}
    large = parsed_fleet_config(accounts(60), path="f", environ={})
    assert large.labelled_accounts() == frozenset()
    chosen = parsed_fleet_config(accounts(60, metrics_accounts=["a5"]), path="f", environ={})
    assert chosen.labelled_accounts() == {"a5"}


def test_unlisted_accounts_share_the_other_label() -> None:
    """Runs of many accounts add series only for allowed names plus one `other`."""
    metrics = FleetMetrics(label=account_label(frozenset({"a5"})), stale_after_seconds=60)
    for n in range(40):
        metrics.record_account(f"a{n}", "ok", {"created": 1})
    text = generate_latest(metrics.registry).decode()
    assert 'contacts_sync_account_runs_total{account="a5",outcome="ok"} 1.0' in text
    assert 'contacts_sync_account_runs_total{account="other",outcome="ok"} 39.0' in text
    assert 'account="a6"' not in text


def test_health_follows_the_worker_not_the_last_run() -> None:
    """An idle running worker is healthy; a draining one is not (the probe moves traffic away)."""
    metrics = FleetMetrics(label=account_label(frozenset()), stale_after_seconds=60)
    assert metrics.health()[0] is False  # not started
    metrics.running = True
    metrics.saw_database()
    assert metrics.health()[0] is True
    metrics.draining = True
    assert metrics.health()[0] is False
