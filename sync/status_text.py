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
    daemon = report.get("daemon")
    if daemon:
        lines.append(f"daemon: pid {daemon.get('pid')}, next run {daemon.get('next_run')}")
    lines.append("last runs:")
    for run in report["runs"] or []:
        counts = run.get("counts") or {}
        lines.append(
            f"  {run['started_at']}  {run['outcome']:<11} run {run['run_id']}  "
            f"pulled {counts.get('pulled', 0)}, created {counts.get('created', 0)}, "
            f"updated {counts.get('updated', 0)}, conflicts {counts.get('conflicts', 0)}, "
            f"rejected {counts.get('rejected', 0)}" + (f"  error: {run['error']}" if run.get("error") else "")
        )
    if not report["runs"]:
        lines.append("  (none yet)")
    conflicts = report["conflicts"]
    lines.append(f"conflicts waiting for a person: {len(conflicts)}")
    for c in conflicts:
        lines.append(
            f"  #{c['conflict_id']} local_id={c['local_id']} {c['field']}: "
            f"local={c['local_value']!r} remote={c['remote_value']!r}"
        )
    rejected = report["rejected_writes"]
    lines.append(f"rejected writes: {len(rejected)}")
    for r in rejected:
        where = "refused before sending" if r["refused_locally"] else f"{r['request']} -> {r['http_status']}"
        request_id = f" (request_id {r['request_id']})" if r["request_id"] else ""
        lines.append(f"  #{r['write_id']} local_id={r['local_id']} {where}: {r['error']}{request_id}")
    return "\n".join(lines)
