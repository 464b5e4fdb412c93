"""Pacing to the rate budget against the sandbox's real per-tier limits (window shortened)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.apis.lev.sandbox.testing import running_sandbox
from tests.conftest import Harness

pytestmark = pytest.mark.slow

WINDOW = 2.0  # the sandbox's rate window, seconds, instead of a minute


def edit_rows(harness: Harness, count: int) -> None:
    rows = harness.table.execute(
        f"SELECT local_id FROM contacts WHERE id IS NOT NULL ORDER BY id LIMIT {count}"
    )
    for n, row in enumerate(rows):
        harness.table.update(row["local_id"], title=f"Paced {n}")


@pytest.fixture
def standard_tier(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_sandbox(contacts=120, seed=2, tier="standard", window_seconds=WINDOW) as sandbox:
        harness = Harness(sandbox, f"sqlite:///{tmp_path / 'contacts.db'}")
        yield harness
        harness.close()


def test_with_the_tier_configured_no_request_is_refused(standard_tier: Harness) -> None:
    """Edits beyond one window's endpoint budget are spread out and none gets a 429."""
    harness = standard_tier
    settings = {"tier": "standard", "rate_window_seconds": WINDOW}
    assert harness.sync(**settings).counts["rate_limited"] == 0
    edit_rows(harness, 45)
    result = harness.sync(**settings)
    assert result.outcome == "ok", result.error
    assert result.counts["updated"] == 45
    assert result.counts["rate_limited"] == 0
    assert result.counts["paced_seconds"] > 0
    # 45 PATCHes at 20 per window need at least two more windows.
    assert result.counts["seconds"] >= 2 * WINDOW


def test_the_budget_is_discovered_from_me_when_no_tier_is_set(standard_tier: Harness) -> None:
    """Without a tier setting, the GET /me that names the account supplies the budget: nothing is refused."""
    harness = standard_tier
    harness.sync()
    edit_rows(harness, 45)
    result = harness.sync()
    assert result.counts["rate_limited"] == 0
    me_calls = [e for e in harness.sandbox.state.request_log() if e.path.endswith("/me")]
    assert len(me_calls) == 2  # one a run, and no other request for the budget


def test_without_any_budget_it_adapts_to_429s_and_finishes(standard_tier: Harness) -> None:
    """When the budget is unknown the run slows down on 429s and still applies every write."""
    harness = standard_tier
    harness.sync(tier="unlimited")  # 'unlimited': no pacing, no discovery
    edit_rows(harness, 45)
    result = harness.sync(tier="unlimited", retry_attempts=10)
    assert result.outcome == "ok", result.error
    assert result.counts["updated"] == 45
    assert result.counts["rate_limited"] > 0


def test_a_run_right_after_another_does_not_overspend_the_window(standard_tier: Harness) -> None:
    """The request history is kept in the store, so back-to-back runs share one budget."""
    harness = standard_tier
    settings = {"tier": "standard", "rate_window_seconds": WINDOW}
    harness.sync(**settings)
    edit_rows(harness, 18)
    assert harness.sync(**settings).counts["rate_limited"] == 0
    edit_rows(harness, 36)  # the first 18 already hold these titles: 18 more PATCHes
    result = harness.sync(**settings)
    assert result.counts["rate_limited"] == 0
