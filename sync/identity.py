"""A store belongs to one account: comparing what it is bound to with what a run reaches.

Pure functions over `AccountIdentity` values; the shell (sync/binding.py) fetches
the current identity, loads the bound one and acts on the verdict here.
"""

from __future__ import annotations

import enum
from typing import Any
from urllib.parse import urlsplit

from sync.remote import AccountIdentity

DEFAULT_PORTS = {"http": 80, "https": 443}


class Verdict(enum.Enum):
    UNBOUND = "unbound"  # the store records no account yet: bind it
    SAME = "same"  # the account the store belongs to
    RENAMED = "renamed"  # the same account under another name: record the new name
    OTHER = "other"  # another account, API or URL: refuse before anything is sent or written


def normalised_base_url(url: str) -> str:
    """One spelling per base URL: lower-case scheme and host, no default port, no
    trailing slash, no credentials, query or fragment (they name no other account)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def compared(bound: AccountIdentity | None, current: AccountIdentity) -> Verdict:
    if bound is None:
        return Verdict.UNBOUND
    if (bound.api, bound.base_url, bound.account_id) != (current.api, current.base_url, current.account_id):
        return Verdict.OTHER
    if bound.account_name != current.account_name:
        return Verdict.RENAMED
    return Verdict.SAME


def described(identity: AccountIdentity) -> str:
    """How messages name an account: never with a credential (identities hold none)."""
    name = f"{identity.account_name!r} " if identity.account_name else ""
    return f"{identity.api} account {name}(id {identity.account_id}) at {identity.base_url}"


def mismatch_message(bound: AccountIdentity, current: AccountIdentity, store: str) -> str:
    return (
        f"the store {store} belongs to {described(bound)}, but the token and api_url reach "
        f"{described(current)}; nothing was sent or changed. If it is the same account under a "
        "new name or URL, run `contacts-sync rebind`; to sync the other account, give it a "
        "database_url of its own; to start this store over, run `contacts-sync reset`"
    )


def identity_record(identity: AccountIdentity, *, since: str) -> dict[str, Any]:
    """What a store keeps of its account (no details: they change and are not identity)."""
    return {
        "api": identity.api,
        "base_url": identity.base_url,
        "account_id": identity.account_id,
        "account_name": identity.account_name,
        "since": since,
    }


def identity_from_record(record: Any) -> AccountIdentity | None:
    if not isinstance(record, dict):
        return None
    try:
        return AccountIdentity(
            api=str(record["api"]),
            base_url=str(record["base_url"]),
            account_id=str(record["account_id"]),
            account_name=str(record.get("account_name") or ""),
        )
    except KeyError:
        return None


def binding_line(report: dict[str, Any]) -> str:
    """The `status` line saying where the store is and whose it is."""
    store = report.get("store") or "?"
    account = identity_from_record(report.get("account"))
    if account is None:
        return f"store: {store}, not bound to an account yet (the next sync binds it)"
    since = report["account"].get("since")
    return f"store: {store}, belongs to {described(account)}" + (f" since {since}" if since else "")


def rebind_preview(bound: AccountIdentity | None, current: AccountIdentity, store: str) -> list[str]:
    """What `contacts-sync rebind` is about to do, said before it asks for a yes."""
    if bound is None:
        return [f"the store {store} is not bound yet; rebind binds it to {described(current)}"]
    lines = [f"rebind the store {store}", f"  from {described(bound)}", f"  to   {described(current)}"]
    if (bound.api, bound.account_id) != (current.api, current.account_id):
        lines.append(
            "warning: the account id changes too: this store's contacts came from the old account, "
            "and the next sync merges them with the new one's and sends pending edits there. "
            "For another account, use a database_url of its own instead"
        )
    return lines
