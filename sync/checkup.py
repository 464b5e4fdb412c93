"""`contacts-sync check`: would a sync start? Asked without changing anything anywhere.

Like a Singer tap's `check`: one cheap read of the API (`GET /me`: the token
works, whose account it is, its tier and rate budget), then the store, opened
without creating or migrating it (whose it is, whether a migration is pending).
Each problem carries the message and exit code a sync would give.
"""

from __future__ import annotations

import contextlib
from typing import Any

from config.settings import Settings
from storage.binding import load_binding_record, load_has_synced
from storage.location import store_location
from storage.migrations import pending_migrations
from storage.store import Store
from sync.errors import AccountMismatch, NoStore, SyncError
from sync.identity import (
    Verdict,
    compared,
    described,
    identity_from_record,
    mismatch_message,
    normalised_base_url,
)
from sync.pacing import budget_for_tier, budget_from_me
from sync.remote import AccountIdentity
from sync.runner import EXIT_OK, build_client, exit_code_for

PARTS = ("store", "api", "account")
BUDGET_KEYS = ("account_per_window", "endpoint_per_window", "window_seconds")


def run_checkup(settings: Settings) -> dict[str, Any]:
    """The report `check` prints: what was found, problems (message, exit code), notes."""
    report: dict[str, Any] = {
        "api_url": normalised_base_url(settings.api_url),
        "account": None,
        "store": None,
        "problems": [],
        "notes": [],
    }
    account = _check_api(settings, report)
    _check_store(settings, account, report)
    # In the order a sync meets them: it opens the store before it sends anything.
    problems = sorted(report["problems"], key=lambda problem: PARTS.index(problem["part"]))
    report["exit_code"] = problems[0]["exit_code"] if problems else EXIT_OK
    report["sync_would_start"] = not problems
    return report


def _problem(report: dict[str, Any], part: str, error: SyncError) -> None:
    report["problems"].append({"part": part, "message": str(error), "exit_code": exit_code_for(error)})


def _check_api(settings: Settings, report: dict[str, Any]) -> AccountIdentity | None:
    try:
        with contextlib.closing(build_client(settings)) as client:
            account = client.fetch_identity()
    except SyncError as exc:
        _problem(report, "api", exc)
        return None
    platform = account.details.get("platform")
    platform = platform if isinstance(platform, dict) else {}
    if settings.tier is not None:
        budget = budget_for_tier(settings.tier, settings.rate_window_seconds)
        source = "the tier setting"
    else:
        budget = budget_from_me(account.details, settings.rate_window_seconds)
        source = "GET /me"
    report["account"] = {
        "api": account.api,
        "base_url": account.base_url,
        "account_id": account.account_id,
        "account_name": account.account_name,
        "tier": platform.get("api_tier"),
        "permission_level": platform.get("permission_level"),
        "rate_budget": None
        if budget is None
        else {
            "account_per_window": budget.account_limit,
            "endpoint_per_window": budget.endpoint_limit,
            "window_seconds": budget.window_seconds,
            **({"scope_limits": dict(budget.scope_limits)} if budget.scope_limits else {}),
        },
        "rate_budget_from": source,
    }
    if platform.get("permission_level") == "read_only":
        report["notes"].append("the token is read-only: the API will refuse every write (403)")
    return account


def _check_store(settings: Settings, account: AccountIdentity | None, report: dict[str, Any]) -> None:
    try:
        store = Store.open_existing(settings.database_url, migrate=False, api=settings.api)
    except NoStore as exc:  # not a reason a sync would not start: the first sync creates it
        report["notes"].append(f"{exc}".replace("or run `contacts-sync sync` to", "or let a sync"))
        return
    except SyncError as exc:
        _problem(report, "store", exc)
        return
    try:
        location = store_location(store.engine)
        pending = pending_migrations(store.engine)
        with store.read() as tx:
            record = load_binding_record(tx)
            has_synced = load_has_synced(tx)
    except SyncError as exc:
        _problem(report, "store", exc)
        return
    finally:
        store.close()
    report["store"] = {"location": location, "account": record, "pending_migrations": pending}
    if pending:
        report["notes"].append(f"the next sync first applies the migrations {', '.join(pending)}")
    bound = identity_from_record(record)
    if account is None:
        return
    verdict = compared(bound, account)
    if verdict is Verdict.OTHER:
        assert bound is not None
        _problem(report, "account", AccountMismatch(mismatch_message(bound, account, location)))
    elif verdict is Verdict.RENAMED:
        report["notes"].append(f"the account is now named {account.account_name!r}: the next sync records it")
    elif verdict is Verdict.UNBOUND:
        made_before = " (it was made before stores were bound to one account)" if has_synced else ""
        report["notes"].append(
            f"the store is not bound yet{made_before}: the next sync binds it to {described(account)}"
        )


def render_checkup(report: dict[str, Any]) -> str:
    lines = [f"api: {report['api_url']}"]
    account = report["account"]
    if account is not None:
        lines.append(
            f"  token accepted; account {account['account_name']!r} (id {account['account_id']}), "
            f"tier {account['tier'] or 'not stated'}, "
            f"permission {account['permission_level'] or 'not stated'}"
        )
        budget = account["rate_budget"]
        lines.append(
            f"  rate budget ({account['rate_budget_from']}): "
            + (
                f"{budget['account_per_window']} requests per {budget['window_seconds']:g} s "
                f"for the account, {budget['endpoint_per_window']} per endpoint"
                if budget
                else "none known (unlimited, or slows down on each 429)"
            )
        )
    store = report["store"]
    if store is not None:
        owner = identity_from_record(store["account"])
        lines.append(f"store: {store['location']}")
        lines.append(f"  belongs to {described(owner)}" if owner else "  not bound to an account yet")
        pending = store["pending_migrations"]
        lines.append(f"  migrations pending: {', '.join(pending)}" if pending else "  schema up to date")
    lines.extend(f"note: {note}" for note in report["notes"])
    lines.extend(f"problem ({p['part']}): {p['message']}" for p in report["problems"])
    lines.append(
        "ok: a sync would start"
        if report["sync_would_start"]
        else f"not ok: a sync would not start (exit {report['exit_code']})"
    )
    return "\n".join(lines)
