"""The company-contacts API as an adapter: what the engine, the planner and the store may know of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync.apis.adapter import Adapter, ClientParts, OffsetPaging
from sync.apis.companies.client import CompaniesClient, open_http
from sync.apis.companies.fields import (
    API,
    CONTACT_FIELDS,
    CREATE_ONLY_FIELDS,
    GENERAL_PER_MINUTE,
    PAGE_LIMIT_ASKED,
    PATCHABLE_FIELDS,
    POST_PER_MINUTE,
)
from sync.apis.companies.wire import CompaniesWireRules, create_lookup_key
from sync.errors import ConfigError
from sync.logs import masker
from sync.pacing import RateBudget
from sync.remote import AccountIdentity

if TYPE_CHECKING:
    from config.settings import Settings

POST_SCOPE = "POST /contacts"
GENERAL_SCOPE = "general"  # every other endpoint, counted together at the API


def check_settings(settings: Settings) -> None:
    """Every missing setting at once: the token, the companies, and a base URL of this API."""
    from config.settings import DEFAULT_API_URL  # settings import the registry, which imports us

    missing = []
    if settings.api_token is None or not settings.api_token.get_secret_value().strip():
        missing.append("set CONTACTS_SYNC_API_TOKEN to the company-contacts API token")
    if not settings.company_ids:
        missing.append(
            "set CONTACTS_SYNC_COMPANY_IDS to the ids (UUIDs) of the companies to sync, comma separated"
        )
    if settings.api_url.rstrip("/") == DEFAULT_API_URL.rstrip("/"):
        missing.append(
            "set CONTACTS_SYNC_API_URL to the company-contacts API's base URL (it is Lev's by default)"
        )
    if missing:
        raise ConfigError("api = companies needs more settings: " + "; ".join(missing))


def connect(settings: Settings, parts: ClientParts) -> CompaniesClient:
    """A client for the configured companies; the token is masked in every log line from now on."""
    check_settings(settings)
    token = settings.token()
    masker.secrets.add(token)
    http = open_http(
        base_url=settings.api_url,
        token=token,
        timeout=settings.timeout_seconds,
        stop=parts.stop,
        transport=parts.transport,
    )
    return CompaniesClient(
        http,
        company_ids=settings.company_ids,
        retry=parts.retry,
        budget=parts.budget,
        sleep=parts.sleep,
        pacer=parts.pacer,
        secrets=(token,),
    )


def rate_budget(settings: Settings, account: AccountIdentity) -> RateBudget | None:
    """The documented limits, from the first request: POST /contacts 60 a minute, every other
    endpoint together 120 (the `rate_window_seconds` setting shortens the minute for tests)."""
    return RateBudget.scoped(
        {POST_SCOPE: POST_PER_MINUTE, GENERAL_SCOPE: GENERAL_PER_MINUTE},
        scopes={"POST /contacts": POST_SCOPE},
        other_scope=GENERAL_SCOPE,
        window_seconds=settings.rate_window_seconds,
    )


def wire_rules(settings: Settings) -> CompaniesWireRules:
    return CompaniesWireRules(settings.company_ids)


def serve_sandbox(argv: list[str]) -> int:
    from sync.apis.companies.sandbox.__main__ import main  # the server only when asked for

    return main(argv)


def demo(workdir: str) -> int:
    from sync.apis.companies.demo import run_demo  # imports the runner, which imports the registry

    return run_demo(workdir)


COMPANIES = Adapter(
    name=API,
    title="company contacts",
    id_type=str,
    fields=CONTACT_FIELDS,
    writable=PATCHABLE_FIELDS,
    create_only=CREATE_ONLY_FIELDS,
    columns=dict(CONTACT_FIELDS),
    writes=frozenset({"create", "update", "delete"}),
    retry_safety="lookup",
    lookup_key=create_lookup_key,
    paging=OffsetPaging(limit_max=PAGE_LIMIT_ASKED),
    # An offset walk skips rows when others are deleted during it: only a 404 proves a delete.
    vanished="confirm",
    flag_column=None,
    account="the companies in company_ids, reached with the API token",
    check_settings=check_settings,
    rate_budget=rate_budget,
    wire_rules=wire_rules,
    connect=connect,
    serve_sandbox=serve_sandbox,
    demo=demo,
)
