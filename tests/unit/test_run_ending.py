"""The closing line a terminal shows: one line, what happened and what to do, only when it matters."""

from __future__ import annotations

from typing import Any

from sync.run_ending import run_ending
from sync.runner import RunResult


def result(outcome: str, error: str | None = None, **counts: Any) -> RunResult:
    return RunResult("r1", outcome, counts, error)


def test_a_good_run_needs_no_closing_line() -> None:
    """An ok run ends without a line of its own."""
    assert run_ending(result("ok")) is None


def test_a_failure_is_one_line_whatever_its_error_holds() -> None:
    """A failed run's line carries the run id and its error, newlines folded into one line."""
    line = run_ending(result("failed", "GET /me answered 401\n  check CONTACTS_SYNC_API_TOKEN"))
    assert line == "the sync failed (run r1): GET /me answered 401 check CONTACTS_SYNC_API_TOKEN"


def test_a_stopped_run_says_the_next_one_resumes() -> None:
    """An interrupted run's line says so and that the next run resends what is pending."""
    line = run_ending(result("interrupted", "stopped by SIGTERM"))
    assert line is not None and "stopped by SIGTERM" in line and "resends what was left pending" in line


def test_an_attention_run_names_what_waits_and_the_command_for_each() -> None:
    """Conflicts and rejections are counted, each with the command that settles it."""
    both = run_ending(result("attention", open_conflicts=2, waiting_rejections=1))
    assert both == (
        "the sync finished, but 2 conflict(s) (`contacts-sync conflicts`) and 1 refused or "
        "rejected write(s) (fix the row, or `contacts-sync retry`) wait for a person; "
        "`contacts-sync status` shows them"
    )
    only_rejections = run_ending(result("attention", open_conflicts=0, waiting_rejections=3))
    assert only_rejections is not None and "conflict" not in only_rejections
