"""Lev as an adapter: what the engine, the planner and the store may know of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync.apis.adapter import Adapter, ClientParts, CursorPaging
from sync.apis.kinds import Kind
from sync.apis.lev.account import API
from sync.apis.lev.client import LevClient, open_http
from sync.apis.lev.fields import CONTACT_FIELDS, CREATE_ONLY_FIELDS, PAGE_LIMIT_MAX, PATCHABLE_FIELDS
from sync.apis.lev.wire import LevWireRules
from sync.logs import masker
from sync.pacing import RateBudget, budget_for_tier, budget_from_me
from sync.remote import AccountIdentity

if TYPE_CHECKING:
    from config.settings import Settings


def connect(settings: Settings, parts: ClientParts) -> LevClient:
    """A client for the API token's account; the token is masked in every log line from now on."""
    token = settings.token()
    masker.secrets.add(token)
    http = open_http(
        base_url=settings.api_url,
        token=token,
        origin_app=settings.origin_app,
        timeout=settings.timeout_seconds,
        stop=parts.stop,
        transport=parts.transport,
    )
    return LevClient(
        http,
        retry=parts.retry,
        budget=parts.budget,
        sleep=parts.sleep,
        pacer=parts.pacer,
        secrets=(token,),
    )


def check_settings(settings: Settings) -> None:
    settings.token()


def rate_budget(settings: Settings, account: AccountIdentity) -> RateBudget | None:
    """The tier setting's published limits, else what GET /me states (numbers, or a tier name)."""
    if settings.tier == "unlimited":
        return None
    if settings.tier is not None:
        return budget_for_tier(settings.tier, settings.rate_window_seconds)
    return budget_from_me(account.details, settings.rate_window_seconds)


def serve_sandbox(argv: list[str]) -> int:
    from sync.apis.lev.sandbox.__main__ import main  # the server only when asked for

    return main(argv, prog="contacts-sync sandbox --api lev")


def demo(workdir: str) -> int:
    from sync.apis.lev.demo import run_demo  # imports the runner, which imports the registry

    return run_demo(workdir)


LEV = Adapter(
    name=API,
    title="Lev",
    id_type=int,
    fields=CONTACT_FIELDS,
    writable=PATCHABLE_FIELDS,
    create_only=CREATE_ONLY_FIELDS,
    # company_id is write-only at the API but kept in the row: the create that made it carried it.
    columns={"id": Kind.INTEGER, "company_id": Kind.INTEGER}
    | {name: kind for name, kind in CONTACT_FIELDS.items() if name != "id"},
    writes=frozenset({"create", "update"}),
    retry_safety="idempotency-key",
    paging=CursorPaging(limit_max=PAGE_LIMIT_MAX),
    # Lev lists connected contacts only; one it stops listing is flagged, never deleted.
    vanished="flag",
    flag_column="is_connected",
    check_settings=check_settings,
    incremental=True,  # filter[updated_at][gte], documented in conventions.yml; probed before use
    rate_budget=rate_budget,
    account="the account of the API token (GET /me: data.account.id)",
    wire_rules=lambda settings: LevWireRules(),
    connect=connect,
    serve_sandbox=serve_sandbox,
    demo=demo,
)
