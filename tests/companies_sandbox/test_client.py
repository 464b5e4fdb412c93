"""The company-contacts client against the real companies sandbox over loopback."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from sync.apis.companies.client import CompaniesClient, open_http
from sync.apis.companies.sandbox import CompaniesServer, running_sandbox
from sync.errors import AuthError, ContactGone
from sync.plan import PreparedWrite, canonical_json
from sync.retrying import RetryPolicy

KEY = "unused-by-this-api"


@contextmanager
def client_for(
    server: CompaniesServer, companies: list[str] | None = None, token: str | None = None
) -> Iterator[CompaniesClient]:
    sleeps: list[float] = []
    client = CompaniesClient(
        open_http(base_url=server.base_url, token=token or server.token, timeout=10.0),
        company_ids=companies if companies is not None else list(server.state.accounts[0].company_ids),
        retry=RetryPolicy(attempts=4),
        sleep=sleeps.append,
        rng=random.Random(0),
    )
    try:
        yield client
    finally:
        client.close()


def walk(client: CompaniesClient) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = client.fetch_page(cursor)
        contacts += page.contacts
        cursor = page.next_cursor
        if cursor is None:
            assert not page.has_more
            return contacts


def list_requests(server: CompaniesServer) -> list[tuple[str, int | None]]:
    return [(entry.path, entry.status) for entry in server.state.request_log() if entry.method == "GET"]


@pytest.mark.parametrize(("max_limit", "requests"), [(100, 1 + 3 * 2), (1000, 3)])
def test_a_first_walk_of_three_companies_of_150_takes_the_fewest_requests(
    max_limit: int, requests: int
) -> None:
    """3 x 150 contacts: with the server's maximum at 100, one 422 teaches the client to ask
    100, then 2 pages a company; with a maximum of 1000, one page a company."""
    with running_sandbox(accounts=1, companies=3, contacts_per_company=150, max_limit=max_limit) as server:
        with client_for(server) as client:
            contacts = walk(client)
        expected = [
            c["id"] for company in sorted(client.companies) for c in server.state.all_contacts(company)
        ]
        assert [c["id"] for c in contacts] == expected
        assert len(expected) == 450
        log = list_requests(server)
        assert len(log) == requests, log
        assert [status for _, status in log].count(422) == (1 if max_limit == 100 else 0)


def test_a_saved_cursor_resumes_in_the_same_company_at_the_same_offset() -> None:
    """A new client (a new run) handed the cursor of a killed one goes on where it stopped."""
    with running_sandbox(accounts=1, companies=2, contacts_per_company=150, max_limit=100) as server:
        with client_for(server) as first:
            page = first.fetch_page(None)
        assert page.next_cursor is not None and page.next_cursor.endswith(":100")
        with client_for(server) as second:
            rest = second.fetch_page(page.next_cursor)
        company = sorted(server.state.accounts[0].company_ids)[0]
        assert [c["id"] for c in rest.contacts] == [c["id"] for c in server.state.all_contacts(company)[100:]]


def test_the_identity_names_the_companies_and_a_foreign_company_is_refused() -> None:
    """fetch_identity: one request per company; a company of another account is a clear AuthError."""
    with running_sandbox(accounts=2, companies=4, contacts_per_company=3) as server:
        mine = list(server.state.accounts[0].company_ids)
        theirs = server.state.accounts[1].company_ids[0]
        with client_for(server, mine) as client:
            identity = client.fetch_identity()
        assert identity.api == "companies"
        assert identity.account_id == ",".join(sorted(mine))
        assert identity.account_name == f"{len(mine)} companies"
        assert len(list_requests(server)) == len(mine)
        with client_for(server, [*mine, theirs]) as client, pytest.raises(AuthError) as caught:
            client.fetch_identity()
        assert theirs in str(caught.value) and "does not own" in str(caught.value)
        assert server.token not in str(caught.value)


def test_create_patch_and_delete_reach_the_sandbox_with_one_request_each() -> None:
    """A create, a patch and a delete: one request each; then the contact is gone (404s)."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=0) as server,
        client_for(server) as client,
    ):
        company = client.companies[0]
        created = client.rules.prepare_create(
            {"company_id": company, "first_name": "Ada", "email": "ada@x.org"}
        )
        assert isinstance(created, PreparedWrite)
        contact = client.send_write(created, KEY)
        assert contact is not None and server.state.contact(contact["id"]) is not None
        patch, refusal = client.rules.prepare_update(
            contact["id"], {"designation": "CTO", "is_primary": True}
        )
        assert patch is not None and refusal is None
        patched = client.send_write(patch, KEY)
        assert patched is not None and patched["designation"] == "CTO" and patched["is_primary"] is True
        delete = client.rules.prepare_delete(contact["id"])
        assert isinstance(delete, PreparedWrite)
        assert client.send_write(delete, KEY) is None
        assert server.state.contact(contact["id"]) is None
        writes = [(e.method, e.status) for e in server.state.request_log()]
        assert writes == [("POST", 201), ("PATCH", 200), ("DELETE", 204)]
        # Gone: a second delete is done all the same, a patch says so, a lookup answers None.
        assert client.send_write(delete, KEY) is None
        with pytest.raises(ContactGone):
            client.send_write(patch, KEY)
        assert client.fetch_one(contact["id"]) is None


def test_a_create_whose_answer_is_dropped_after_it_was_applied_is_made_exactly_once() -> None:
    """drop-after on the POST: the client looks before resending, adopts what it finds, and the
    sandbox holds exactly one such contact; no second POST is sent."""
    with (
        running_sandbox(
            accounts=1, companies=1, contacts_per_company=120, faults="drop-after@1/POST"
        ) as server,
        client_for(server) as client,
    ):
        company = client.companies[0]
        body = {"company_id": company, "first_name": "Grace", "email": "Grace@Example.org", "phone": "+1 555"}
        contact = client.send_write(PreparedWrite("POST", "/contacts", canonical_json(body)), KEY)
        assert contact is not None and contact["first_name"] == "Grace"
        made = [c for c in server.state.all_contacts(company) if c["first_name"] == "Grace"]
        assert [c["id"] for c in made] == [contact["id"]]
        posts = [e for e in server.state.request_log() if e.method == "POST"]
        assert len(posts) == 1
        assert server.state.counter_values()["contacts_created"] == 1


def test_a_create_dropped_before_it_was_applied_is_sent_again_after_looking() -> None:
    """drop-before on the POST: nothing was made, the lookup finds nothing, the resend makes one."""
    with (
        running_sandbox(
            accounts=1, companies=1, contacts_per_company=5, faults="drop-before@1/POST"
        ) as server,
        client_for(server) as client,
    ):
        company = client.companies[0]
        body = {"company_id": company, "first_name": "Lin", "email": "lin@example.org"}
        contact = client.send_write(PreparedWrite("POST", "/contacts", canonical_json(body)), KEY)
        assert contact is not None
        # The lookup's first list asks 1000 and learns from the 422 that 100 is the most.
        sent = [(e.method, e.status) for e in server.state.request_log()]
        assert sent == [("POST", None), ("GET", 422), ("GET", 200), ("POST", 201)]
        assert [c["id"] for c in server.state.all_contacts(company) if c["first_name"] == "Lin"] == [
            contact["id"]
        ]


def test_a_lookup_knows_its_create_by_email_and_time_when_someone_edited_it_meanwhile() -> None:
    """The lookup before a resend: a contact with the create's email made after the first
    attempt is ours even if someone edited it since; one made well before it is not, unless
    every field matches; a contact another row holds never is."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=3) as server,
        client_for(server) as client,
    ):
        company = client.companies[0]
        body = {"company_id": company, "first_name": "Mae", "email": "mae@example.org"}
        request = PreparedWrite("POST", "/contacts", canonical_json(body))
        first_attempt = datetime.now(UTC)
        # Made after the attempt but never edited: someone adding the same email, not ours.
        server.state.admin_create({**body, "first_name": "Someone new"})
        assert client.find_created(request, since=first_attempt) is None
        older = server.state.admin_create(
            {**body, "first_name": "Someone else"}, created_at="2020-01-01T00:00:00Z"
        )
        ours = server.state.admin_create({**body, "email": "MAE@example.org"})
        server.state.admin_edit(ours["id"], {"designation": "Edited meanwhile"})

        assert client.find_created(request) is None  # no time known: every field must match
        found = client.find_created(request, since=first_attempt)
        assert found is not None and found["id"] == ours["id"]
        assert client.find_created(request, since=first_attempt, taken=lambda c: c == ours["id"]) is None
        server.state.admin_edit(older["id"], {"first_name": "Mae"})  # now an exact twin, made long ago
        found = client.find_created(request, since=first_attempt, taken=lambda c: c == ours["id"])
        assert found is not None and found["id"] == older["id"]


def test_a_patch_whose_answer_is_dropped_is_resent_as_is() -> None:
    """PATCH is idempotent: after drop-after it is sent again, same bytes, and answers the contact."""
    with (
        running_sandbox(
            accounts=1, companies=1, contacts_per_company=2, faults="drop-after@1/PATCH"
        ) as server,
        client_for(server) as client,
    ):
        target = server.state.all_contacts(client.companies[0])[0]["id"]
        patch, _ = client.rules.prepare_update(target, {"last_name": "Hopper"})
        assert patch is not None
        answer = client.send_write(patch, KEY)
        assert answer is not None and answer["last_name"] == "Hopper"
        bodies = [json.loads(e.body) for e in server.state.request_log() if e.method == "PATCH"]
        assert bodies == [{"last_name": "Hopper"}, {"last_name": "Hopper"}]


def test_fetch_one_answers_a_contact_or_none() -> None:
    """GET /contacts/{id}: the contact as listed; None for an id the API does not have."""
    with (
        running_sandbox(accounts=1, companies=1, contacts_per_company=2) as server,
        client_for(server) as client,
    ):
        listed = server.state.all_contacts(client.companies[0])[0]
        assert client.fetch_one(listed["id"]) == listed
        assert client.fetch_one("00000000-0000-4000-8000-000000000000") is None


def test_paced_to_the_documented_scopes_the_sandbox_refuses_nothing() -> None:
    """With the sandbox's limits (shrunk to 3 POSTs and 5 others a second) as the pacer's
    budget, a burst of lists and creates gets no 429."""
    from sync.apis.companies.adapter import GENERAL_SCOPE, POST_SCOPE
    from sync.pacing import RateBudget, SlidingWindowPacer

    budget = RateBudget.scoped(
        {POST_SCOPE: 3, GENERAL_SCOPE: 5},
        scopes={"POST /contacts": POST_SCOPE},
        other_scope=GENERAL_SCOPE,
        window_seconds=1.0,
    )
    with running_sandbox(
        accounts=1,
        companies=1,
        contacts_per_company=3,
        post_limit=3,
        general_limit=5,
        window_seconds=1.0,
        max_limit=1000,
    ) as server:
        client = CompaniesClient(
            open_http(base_url=server.base_url, token=server.token, timeout=10.0),
            company_ids=list(server.state.accounts[0].company_ids),
            pacer=SlidingWindowPacer(budget, margin_seconds=0.05),
        )
        company = client.companies[0]
        try:
            for number in range(5):
                body = {"company_id": company, "first_name": f"P{number}", "email": f"p{number}@example.org"}
                client.send_write(PreparedWrite("POST", "/contacts", canonical_json(body)), KEY)
                client.fetch_page(None)
        finally:
            client.close()
        assert server.state.counter_values().get("rate_limited", 0) == 0
        assert client.stats.rate_limited == 0
        assert len(server.state.all_contacts(company)) == 3 + 5
