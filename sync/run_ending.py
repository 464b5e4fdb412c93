"""The one plain line a person at a terminal reads when a run did not simply succeed.

The log says it all too, but as a key=value block among others, and not at all
when --log-level hides the summary; this line says what happened and what to do.
"""

from __future__ import annotations

from sync.runner import RunResult


def run_ending(result: RunResult) -> str | None:
    """The closing line for a failed, stopped or attention run; None for a run that went well."""
    error = " ".join((result.error or "no reason recorded").split())  # one line, whatever it holds
    if result.outcome == "failed":
        return f"the sync failed (run {result.run_id}): {error}"
    if result.outcome == "interrupted":
        return (
            f"the sync was stopped before the end (run {result.run_id}): {error}; the next run "
            "resumes and resends what was left pending"
        )
    if result.outcome == "attention":
        waiting = []
        if conflicts := result.counts.get("open_conflicts"):
            waiting.append(f"{conflicts} conflict(s) (`contacts-sync conflicts`)")
        if rejections := result.counts.get("waiting_rejections"):
            waiting.append(
                f"{rejections} refused or rejected write(s) (fix the row, or `contacts-sync retry`)"
            )
        return (
            f"the sync finished, but {' and '.join(waiting) or 'some changes'} wait for a person; "
            "`contacts-sync status` shows them"
        )
    return None
