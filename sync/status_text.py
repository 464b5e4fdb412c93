"""`contacts-sync status` for people: the same report as --json, as text."""

from __future__ import annotations

from typing import Any

from sync.identity import binding_line


def render_status(report: dict[str, Any]) -> str:
    lines = [binding_line(report), f"contacts in store: {report['contacts']}"]
    lines.append(
        f"local changes waiting: {report['pending_writes']} pending write(s), "
        f"{report['local_changes']} new row(s) not yet created remotely"
    )
    if report.get("daemon"):
        lines.append(daemon_line(report["daemon"]))
    if report.get("lock_holder"):
        lines.append(f"lock: held by {report['lock_holder']}")
    lines.append("last runs:")
    lines.extend(f"  {run_line(run)}" for run in report["runs"] or [])
    if not report["runs"]:
        lines.append("  (none yet)")
    conflicts = report["conflicts"]
    lines.append(
        f"conflicts waiting for a person: {len(conflicts)}"
        + (" (settle each with `contacts-sync conflicts ID --take local|remote`)" if conflicts else "")
    )
    for c in conflicts:
        lines.append(
            f"  #{c['conflict_id']} local_id={c['local_id']} {c['field']}: "
            f"local={c['local_value']!r} remote={c['remote_value']!r}"
        )
    rejected = report["rejected_writes"]
    lines.append(
        f"rejected writes: {len(rejected)}"
        + (" (after fixing the cause, re-queue with `contacts-sync retry WRITE_ID`)" if rejected else "")
    )
    lines.extend(f"  {rejection_line(r)}" for r in rejected)
    deletions = report.get("deletions") or []
    if deletions:
        lines.append("latest deletions (kept with their last values in the `deletions` table):")
        lines.extend(f"  {deletion_line(d)}" for d in deletions)
    return "\n".join(lines)


def deletion_line(deletion: dict[str, Any]) -> str:
    contact, row = f"contact {deletion['contact_id']}", f"row local_id={deletion['local_id']}"
    if deletion["where"] == "api":
        return f"{deletion['deleted_at']}  {contact} deleted at the API: {deletion['reason']}"
    return f"{deletion['deleted_at']}  {row} ({contact}) removed from the table: {deletion['reason']}"


def daemon_line(daemon: dict[str, Any]) -> str:
    who = f"pid {daemon.get('pid')} on {daemon.get('host')}"
    if daemon.get("running") is False:
        return f"daemon: not running (last seen {daemon.get('last_seen')}, {who}; it did not stop cleanly)"
    line = f"daemon: {who}, {daemon.get('schedule')}, next run {daemon.get('next_run')}"
    if daemon.get("last_outcome"):
        line += f"; last run {daemon['last_outcome']}"
    if daemon.get("consecutive_failures"):
        line += f", {daemon['consecutive_failures']} failure(s) in a row"
    if daemon.get("backing_off_until"):
        line += f", backing off: no run before {daemon['backing_off_until']}"
    return line


def run_line(run: dict[str, Any]) -> str:
    counts = run.get("counts") or {}
    walk = f"{counts['walk']} walk, " if counts.get("walk") else ""
    line = (
        f"{run['started_at']}  {run['outcome']:<11} run {run['run_id']}  "
        f"{walk}pulled {counts.get('pulled', 0)}, inserted {counts.get('inserted', 0)}, "
        f"created {counts.get('created', 0)}, updated {counts.get('updated', 0)}, "
        f"conflicts {counts.get('conflicts', 0)}, rejected {counts.get('rejected', 0)}"
    )
    deleted = [
        f"{counts[key]} {what}"
        for key, what in (
            ("deleted_remote", "deleted at the API"),
            ("deleted_local", "removed from the table"),
        )
        if counts.get(key)
    ]
    if deleted:
        line += f", {', '.join(deleted)}"
    if run["outcome"] == "attention":
        line += (
            f"  waiting for a person: {counts.get('open_conflicts', 0)} open conflict(s), "
            f"{counts.get('waiting_rejections', 0)} rejected or refused write(s)"
        )
    if run.get("error"):
        line += f"  error: {run['error']}"
    return line


def rejection_line(rejection: dict[str, Any]) -> str:
    """One rejected write, its request, status and request_id said once each."""
    message = rejection["error"] or ""
    which = f"write {rejection['write_id']} local_id={rejection['local_id']}"
    if rejection["refused_locally"]:
        return f"{which} refused before sending: {message}"
    request, status, request_id = rejection["request"], rejection["http_status"], rejection["request_id"]
    # The API client's message already starts with the request and its status, and ends with the
    # request_id: said here once, in their own places.
    message = message.removeprefix(f"{request} answered {status}").removeprefix(": ")
    if request_id:
        message = message.removesuffix(f" (request_id {request_id})")
    line = f"{which} {request} -> {status}: {message}"
    return line + (f" (request_id {request_id})" if request_id else "")
