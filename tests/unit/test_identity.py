"""The pure side of binding a store to one account: URL spelling, verdicts, Lev's /me."""

from __future__ import annotations

import pytest

from sync.apis.lev.account import identity_from_me
from sync.errors import InvalidResponse
from sync.identity import Verdict, compared, identity_from_record, identity_record, normalised_base_url
from sync.remote import AccountIdentity

LEV = "https://api.lev.com/api/external/v2"


def identity(**changes: str) -> AccountIdentity:
    values = {"api": "lev", "base_url": LEV, "account_id": "42", "account_name": "Acme (acme)", **changes}
    return AccountIdentity(**values)


@pytest.mark.parametrize(
    "spelling",
    [
        "https://api.lev.com/api/external/v2",
        "https://api.lev.com/api/external/v2/",
        "HTTPS://API.Lev.COM/api/external/v2",
        "https://api.lev.com:443/api/external/v2",
        "https://user:secret@api.lev.com/api/external/v2?x=1#top",
        "  https://api.lev.com/api/external/v2//  ",
    ],
)
def test_spellings_of_one_base_url_normalise_to_one(spelling: str) -> None:
    """Case of scheme and host, a default port, trailing slashes and credentials do not make another API."""
    assert normalised_base_url(spelling) == LEV


def test_what_names_another_base_url_is_kept() -> None:
    """Another port, scheme or path case names another server or API, and stays visible."""
    assert (
        normalised_base_url("http://127.0.0.1:8765/api/external/v2")
        == "http://127.0.0.1:8765/api/external/v2"
    )
    assert normalised_base_url("http://api.lev.com:443/v2") == "http://api.lev.com:443/v2"
    assert normalised_base_url("https://api.lev.com/API/v2") == "https://api.lev.com/API/v2"
    assert normalised_base_url("http://[::1]:8080/v2/") == "http://[::1]:8080/v2"


def test_verdicts() -> None:
    """Unbound binds; the same id at the same API and URL is the same account, renamed or not;
    anything else is another account."""
    bound = identity()
    assert compared(None, bound) is Verdict.UNBOUND
    assert compared(bound, identity()) is Verdict.SAME
    assert compared(bound, identity(account_name="Acme Holdings (acme)")) is Verdict.RENAMED
    assert compared(bound, identity(account_id="43")) is Verdict.OTHER
    assert compared(bound, identity(base_url="https://api.levcapital.com/api/external/v2")) is Verdict.OTHER
    assert compared(bound, identity(api="companies")) is Verdict.OTHER


def test_details_are_not_part_of_the_identity_nor_of_its_record() -> None:
    """Tier and limits change without the account changing; the stored record round-trips."""
    with_details = AccountIdentity(
        "lev", LEV, "42", "Acme (acme)", details={"platform": {"api_tier": "free"}}
    )
    assert compared(identity(), with_details) is Verdict.SAME
    record = identity_record(with_details, since="2026-03-01T00:00:00+00:00")
    assert "details" not in record and "platform" not in str(record)
    assert identity_from_record(record) == identity()
    assert identity_from_record({"api": "lev"}) is None and identity_from_record("garbage") is None


def test_lev_me_names_the_account_by_id_and_shows_name_and_slug() -> None:
    """Lev's /me: data.account.id identifies; name and slug are shown, on one bounded line."""
    me = {"account": {"id": 7, "name": "Acme\nCapital", "slug": "acme"}, "platform": {"api_tier": "free"}}
    found = identity_from_me(me, base_url=LEV + "/", what="GET /me", request_id="r1")
    assert (found.api, found.base_url, found.account_id) == ("lev", LEV, "7")
    assert found.account_name == "Acme Capital (acme)"
    assert found.details["platform"] == {"api_tier": "free"}
    only_slug = identity_from_me(
        {"account": {"id": "a-7", "slug": "acme"}}, base_url=LEV, what="", request_id=None
    )
    assert only_slug.account_name == "acme" and only_slug.account_id == "a-7"
    long_name = identity_from_me(
        {"account": {"id": 1, "name": "x" * 5000}}, base_url=LEV, what="", request_id=None
    )
    assert len(long_name.account_name) == 200


@pytest.mark.parametrize(
    "data",
    [
        None,
        "tier",
        {},
        {"account": None},
        {"account": {"slug": "acme"}},
        {"account": {"id": True}},
        {"account": {"id": " "}},
    ],
)
def test_lev_me_without_an_account_id_is_refused_naming_the_request(data: object) -> None:
    """Without data.account.id the account cannot be told apart: an invalid answer, with its request_id."""
    with pytest.raises(InvalidResponse, match=r"GET /me: .*data\.account\.id.*request_id r9"):
        identity_from_me(data, base_url=LEV, what="GET /me", request_id="r9")
