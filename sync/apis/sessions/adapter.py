"""The session-contacts API as an adapter: what the engine, the planner and the store may know of it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from sync.apis import http as shared
from sync.apis.adapter import Adapter, ClientParts, WholeList
from sync.apis.sessions.account import ACCOUNT_WORDS
from sync.apis.sessions.client import SessionsClient, endpoint_of
from sync.apis.sessions.fields import (
    API,
    COLUMNS,
    CONTACT_FIELDS,
    COOKIE_NAME,
    COOKIE_VARIABLE,
    CREATE_ONLY,
    FLAG_COLUMN,
    WRITABLE,
)
from sync.apis.sessions.wire import SessionsWireRules, create_lookup_key, error_for
from sync.errors import ConfigError
from sync.logs import masker
from sync.pacing import RateBudget
from sync.remote import AccountIdentity

if TYPE_CHECKING:
    from config.settings import Settings


def session_cookie(settings: Settings) -> str:
    """The `connect.sid` value; a ConfigError when it is missing."""
    value = settings.session_cookie.get_secret_value().strip() if settings.session_cookie else ""
    if not value:
        raise ConfigError(_missing_cookie())
    return value


def _missing_cookie() -> str:
    return (
        f"{COOKIE_VARIABLE} is not set: sign in to the app in a browser and give the value of its "
        f"{COOKIE_NAME} cookie in the environment or as session_cookie in the config file "
        "(never on the command line)"
    )


def check_settings(settings: Settings) -> None:
    """Every setting this API needs and lacks, one line each."""
    from config.settings import DEFAULT_API_URL  # config imports the registry, which imports this

    problems = []
    if settings.session_cookie is None or not settings.session_cookie.get_secret_value().strip():
        problems.append(_missing_cookie())
    if settings.api_url.rstrip("/") == DEFAULT_API_URL.rstrip("/"):
        problems.append(
            f"CONTACTS_SYNC_API_URL still points at the Lev API ({DEFAULT_API_URL}): set it to the "
            "session-contacts app's API base URL (where GET /contacts answers)"
        )
    if problems:
        raise ConfigError("\n".join(problems))


def connect(settings: Settings, parts: ClientParts) -> SessionsClient:
    """A client for the session's app; the cookie is masked in every log line from now on."""
    cookie = session_cookie(settings)
    # express-session sends the value URL-encoded ("s%3A..."); a server may echo it decoded.
    cookie_forms = tuple({cookie, unquote(cookie)})
    masker.secrets.update(cookie_forms)
    http = shared.open_http(
        base_url=settings.api_url,
        # A header, not the client's cookie jar: a Set-Cookie from the app must not add a
        # second connect.sid beside the one the user gave.
        headers={"Accept": "application/json", "Cookie": f"{COOKIE_NAME}={cookie}"},
        timeout=settings.timeout_seconds,
        stop=parts.stop,
        transport=parts.transport,
    )
    shell = shared.HttpShell(
        http,
        error_for=error_for,
        endpoint_of=endpoint_of,
        retry=parts.retry,
        budget=parts.budget,
        pacer=parts.pacer,
        sleep=parts.sleep,
        secrets=cookie_forms,
    )
    return SessionsClient(shell, secrets=cookie_forms)


def rate_budget(settings: Settings, account: AccountIdentity) -> RateBudget | None:
    """None: the API documents no limits; a 429 slows the client down (Retry-After, else backoff)."""
    return None


def serve_sandbox(argv: list[str]) -> int:
    from sync.apis.sessions.sandbox.__main__ import main  # the server only when asked for

    return main(argv)


def demo(workdir: str) -> int:
    from sync.apis.sessions.demo import run_demo  # imports the runner, which imports the registry

    return run_demo(workdir)


SESSIONS = Adapter(
    name=API,
    title="session contacts",
    id_type=int,
    fields=CONTACT_FIELDS,
    writable=WRITABLE,
    create_only=CREATE_ONLY,
    columns=COLUMNS,
    # No update and no delete at this API: the wire rules refuse both, saying so.
    writes=frozenset({"create"}),
    retry_safety="lookup",  # no idempotency key; emails are unique, so a lost create is found by it
    lookup_key=create_lookup_key,
    paging=WholeList(),
    # A contact that leaves the list is flagged (is_listed false), never deleted: there is
    # no endpoint to ask whether it is gone or only hidden from this user.
    vanished="flag",
    flag_column=FLAG_COLUMN,
    account=ACCOUNT_WORDS,
    check_settings=check_settings,
    rate_budget=rate_budget,
    wire_rules=lambda settings: SessionsWireRules(),  # the same rules whatever the settings
    connect=connect,
    serve_sandbox=serve_sandbox,
    demo=demo,
    active_field="is_active",
)
