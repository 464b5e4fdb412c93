"""Which Lev account a token reaches: read from the answer to `GET /me`.

`data.account.id` tells accounts apart; its name and slug are how people know it.
Without an id the account cannot be told apart, so the answer is refused: a run
must not guess whose contacts it is about to merge.
"""

from __future__ import annotations

import re
from typing import Any

from sync.errors import InvalidResponse
from sync.identity import normalised_base_url
from sync.remote import AccountIdentity

API = "lev"
MAX_NAME = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def identity_from_me(data: Any, *, base_url: str, what: str, request_id: str | None) -> AccountIdentity:
    account = data.get("account") if isinstance(data, dict) else None
    account_id = account.get("id") if isinstance(account, dict) else None
    if isinstance(account_id, bool) or not isinstance(account_id, int | str) or not str(account_id).strip():
        raise InvalidResponse(
            f"{what}: the answer has no 'data.account.id', so the account cannot be told apart; "
            "nothing was sent or stored",
            request_id=request_id,
        )
    assert isinstance(account, dict)  # for mypy: an id was found in it
    return AccountIdentity(
        api=API,
        base_url=normalised_base_url(base_url),
        account_id=_shown(str(account_id)),
        account_name=_name(account.get("name"), account.get("slug")),
        details=data,
    )


def _name(name: Any, slug: Any) -> str:
    shown_name = _shown(name) if isinstance(name, str) else ""
    shown_slug = _shown(slug) if isinstance(slug, str) else ""
    if shown_name and shown_slug and shown_name != shown_slug:
        return f"{shown_name} ({shown_slug})"
    return shown_name or shown_slug


def _shown(text: str) -> str:
    """One line, bounded: names end up in one-line messages and in the store."""
    return _CONTROL.sub(" ", text).strip()[:MAX_NAME]
