"""What a company-contacts store is bound to: the API, its base URL and the synced companies.

The API has no "who am I" call: a token owns companies, and the store syncs
some of them. So the account is the set of companies (sorted ids joined by ","),
proven reachable with the token by one cheap list request each.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.apis.companies.fields import API
from sync.identity import normalised_base_url
from sync.remote import AccountIdentity


def account_id_of(companies: Sequence[str]) -> str:
    return ",".join(sorted(companies))


def account_name_of(companies: Sequence[str]) -> str:
    return "1 company" if len(companies) == 1 else f"{len(companies)} companies"


def identity_of(companies: Sequence[str], *, base_url: str) -> AccountIdentity:
    return AccountIdentity(
        api=API,
        base_url=normalised_base_url(base_url),
        account_id=account_id_of(companies),
        account_name=account_name_of(companies),
        details={"company_ids": sorted(companies)},
    )
