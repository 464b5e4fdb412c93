"""Which account a session cookie reaches: what a store of this API is bound to.

The API has no endpoint naming the signed-in user (seed 003: list, create,
mentions), and the cookie is a secret that changes at every sign-in, so neither
can tell accounts apart. What stays put is the app itself: the store is bound
to the app's base URL, and `fetch_identity` proves the session works there
(one authenticated read) before anything is sent. Two users of the same app
are therefore the same "account" to the binding; each sees the contacts its
role allows, so a store should keep to one user (README).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sync.apis.sessions.fields import API
from sync.identity import normalised_base_url
from sync.remote import AccountIdentity

ACCOUNT_WORDS = "the app at api_url, as the session cookie's user (the API names no user)"


def identity_of_app(base_url: str) -> AccountIdentity:
    """The identity of the app at `base_url`: its normalised URL is all that tells apps apart."""
    normalised = normalised_base_url(base_url)
    host = urlsplit(normalised).netloc or normalised
    return AccountIdentity(
        api=API,
        base_url=normalised,
        account_id=normalised,
        account_name=f"the contacts app at {host}",
    )
