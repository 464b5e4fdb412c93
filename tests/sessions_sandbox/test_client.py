"""The session-contacts client against the real sessions sandbox over loopback."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import pytest
from structlog.testing import capture_logs

from config.settings import Settings, load_settings
from sync.apis.adapter import ClientParts
from sync.apis.registry import adapter_named
from sync.apis.sessions.client import SessionsClient
from sync.apis.sessions.sandbox import SessionsSandboxServer, SessionsState, running_sessions_sandbox
from sync.apis.sessions.wire import SESSION_EXPIRED
from sync.errors import AuthError, FatalError, InvalidResponse, RequestRejected, SyncError
from sync.plan import PreparedWrite
from sync.remote import Page
from sync.retrying import RetryBudget, RetryPolicy

SESSIONS = adapter_named("sessions")


def connect(
    server: SessionsSandboxServer, *, cookie: str | None = None, attempts: int = 4, timeout: float = 30.0
) -> tuple[SessionsClient, list[float]]:
    """A client made the way a run makes it (settings, adapter.connect); its sleeps recorded, not slept."""
    settings, _ = load_settings(
        environ={
            "CONTACTS_SYNC_API": "sessions",
            "CONTACTS_SYNC_API_URL": server.base_url,
            "CONTACTS_SYNC_SESSION_COOKIE": cookie or server.cookie,
            "CONTACTS_SYNC_TIMEOUT_SECONDS": str(timeout),
        }
    )
    SESSIONS.check_settings(settings)
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05)
    parts = ClientParts(retry=policy, budget=RetryBudget(600), sleep=sleeps.append)
    client = SESSIONS.connect(settings, parts)
    assert isinstance(client, SessionsClient)
    return client, sleeps


@contextmanager
def client_of(server: SessionsSandboxServer, **options: Any) -> Iterator[tuple[SessionsClient, list[float]]]:
    client, sleeps = connect(server, **options)
    try:
        yield client, sleeps
    finally:
        client.close()


def walk(client: SessionsClient) -> list[Page]:
    pages = [client.fetch_page(None)]
    while pages[-1].next_cursor is not None:
        assert pages[-1].has_more
        pages.append(client.fetch_page(pages[-1].next_cursor))
    return pages


def listed_ids(state: SessionsState) -> list[int]:
    return [c["id"] for c in state.all_contacts() if not c["hidden"]]


def list_requests(state: SessionsState) -> int:
    return sum(1 for entry in state.request_log() if entry.endpoint == "GET /contacts")


def create_body(**fields: Any) -> PreparedWrite:
    rules = SESSIONS.wire_rules(Settings())
    row = {"full_name": "Pat Doe", "email": "pat.doe@example.net", "type": "client", **fields}
    prepared = rules.prepare_create(row)
    assert isinstance(prepared, PreparedWrite)
    return prepared


def contacts_with_email(state: SessionsState, email: str) -> list[dict[str, Any]]:
    return [c for c in state.all_contacts() if c["email"].casefold() == email.casefold()]


# --- the list ---------------------------------------------------------------------------


def test_5000_contacts_come_from_one_request_in_chunks_of_1000() -> None:
    """The whole list is one GET /contacts, handed out as pages of 1000 snake_case contacts, each once."""
    with running_sessions_sandbox(contacts=5000, seed=5) as server, client_of(server) as (client, _):
        pages = walk(client)
        state = server.state
        assert list_requests(state) == 1
        assert [len(page.contacts) for page in pages] == [1000] * 5 + [0]
        contacts = [c for page in pages for c in page.contacts]
        assert [c["id"] for c in contacts] == listed_ids(state)
        assert all(page.total is None for page in pages)
        first = contacts[0]
        assert set(first) == set(SESSIONS.fields) | {"is_listed"}
        assert first["is_listed"] is True and first["full_name"] == "Jane Smith"
        assert first["metadata"] == {"source": "seed", "tags": ["vip"]}
        cursors = [page.next_cursor for page in pages[:-1]]
        assert len(set(cursors)) == len(cursors)  # never repeats: the paginator refuses a repeat


def test_a_short_list_is_one_page() -> None:
    """A list smaller than a chunk is one page with no next cursor; an empty list is one empty page."""
    with running_sessions_sandbox(contacts=30) as server, client_of(server) as (client, _):
        (page,) = walk(client)
        assert len(page.contacts) == 30 and not page.has_more
    with running_sessions_sandbox(contacts=0) as server, client_of(server) as (client, _):
        (page,) = walk(client)
        assert page.contacts == [] and page.next_cursor is None


def test_a_position_this_client_does_not_hold_open_is_refused() -> None:
    """Another client's cursor (a restart) or a stale one is RequestRejected, so the engine starts over."""
    with (
        running_sessions_sandbox(contacts=2500) as server,
        client_of(server) as (first, _),
        client_of(server) as (second, _),
    ):
        cursor = first.fetch_page(None).next_cursor
        assert cursor is not None
        with pytest.raises(RequestRejected, match="read again from its start"):
            second.fetch_page(cursor)
        restarted = first.fetch_page(None)  # a new walk: the old cursor is stale now
        with pytest.raises(RequestRejected):
            first.fetch_page(cursor)
        assert first.fetch_page(restarted.next_cursor).contacts[0]["id"] > restarted.contacts[-1]["id"]


def test_each_page_gets_the_full_timeout_while_the_engine_stores_the_last() -> None:
    """With a 0.5 s timeout, a walk whose reader pauses 0.7 s between pages still completes."""
    with running_sessions_sandbox(contacts=4000) as server, client_of(server, timeout=0.5) as (client, _):
        page = client.fetch_page(None)
        count = len(page.contacts)
        while page.next_cursor is not None:
            time.sleep(0.7)  # the engine merging and committing the page
            page = client.fetch_page(page.next_cursor)
            count += len(page.contacts)
        assert count == 4000 and list_requests(server.state) == 1


def test_an_answer_cut_mid_list_is_read_again_skipping_what_was_handed_out() -> None:
    """The first list answer cut in half (after 2 of 5 chunks): read again, every contact exactly once."""
    with running_sessions_sandbox(contacts=5000, faults="malformed@1/GET") as server:
        with client_of(server) as (client, _):
            ids = [c["id"] for page in walk(client) for c in page.contacts]
        assert ids == listed_ids(server.state)
        assert list_requests(server.state) == 2


def test_a_list_that_is_always_cut_short_is_an_error_not_a_short_list() -> None:
    """Every answer cut in half: after the retries, InvalidResponse saying the list was cut short."""
    with running_sessions_sandbox(contacts=3000, faults="malformed@1-99/GET") as server:
        with client_of(server, attempts=3) as (client, _):
            pages = [client.fetch_page(None)]
            with pytest.raises(InvalidResponse, match="the list was cut short"):
                while pages[-1].next_cursor is not None:
                    pages.append(client.fetch_page(pages[-1].next_cursor))
        assert sum(len(p.contacts) for p in pages) < 3000


def test_rate_limits_and_proxy_errors_on_the_list_are_waited_out() -> None:
    """429 with Retry-After: 3, a 503, a proxy's 502 page: the walk waits (3 s at least) and completes."""
    with running_sessions_sandbox(contacts=50, faults="429=3@1,503@2,html502@3") as server:
        with client_of(server) as (client, sleeps):
            (page,) = walk(client)
        assert len(page.contacts) == 50
        assert len(sleeps) == 3 and sleeps[0] >= 3.0 and sleeps[1] >= 1.0


# --- the session -------------------------------------------------------------------------


def test_identity_is_the_app_once_the_session_works() -> None:
    """fetch_identity: one GET /contacts (body unread) proves the session; the account is the app's URL."""
    with running_sessions_sandbox(contacts=10) as server, client_of(server) as (client, _):
        identity = client.fetch_identity()
        assert identity.api == "sessions"
        assert identity.base_url == identity.account_id == server.base_url
        assert identity.account_name == f"the contacts app at 127.0.0.1:{server.port}"
        assert list_requests(server.state) == 1


def test_an_expired_session_is_the_one_line_message() -> None:
    """After the session ends, identity, list and create each fail with the one line naming the setting."""
    with running_sessions_sandbox(contacts=10) as server, client_of(server) as (client, _):
        server.state.expire_session(1)
        for call in (client.fetch_identity, lambda: client.fetch_page(None),
                     lambda: client.send_write(create_body(), "k")):  # fmt: skip
            with pytest.raises(AuthError) as caught:
                call()
            message = str(caught.value)
            assert message.endswith(f"answered 401: {SESSION_EXPIRED}") and "\n" not in message
        assert not contacts_with_email(server.state, "pat.doe@example.net")


def test_a_cookie_that_is_not_the_apps_is_refused_the_same_way() -> None:
    """A cookie signed by another app (or mistyped) is a 401 too: the same one-line message."""
    with (
        running_sessions_sandbox(contacts=10) as server,
        client_of(server, cookie="s%3Anot-a-session.bad-signature") as (client, _),
        pytest.raises(AuthError, match="the session expired: sign in again"),
    ):
        client.fetch_identity()


def test_a_role_that_may_not_create_gets_a_rejection_naming_the_roles() -> None:
    """A viewer's create is one RequestRejected (403) saying the role must be consultant or admin."""
    with running_sessions_sandbox(contacts=10, role="viewer") as server, client_of(server) as (client, _):
        assert len(client.fetch_page(None).contacts) == 10  # reading is allowed
        with pytest.raises(RequestRejected) as caught:
            client.send_write(create_body(), "k")
        assert caught.value.status == 403
        assert str(caught.value).endswith("their role must be consultant or admin")


# --- creates -------------------------------------------------------------------------------


def test_a_create_answers_the_new_contact_and_sends_can_login_only_when_asked() -> None:
    """POST /contacts gives the contact in snake_case; canLogin goes out for can_login = true only."""
    with running_sessions_sandbox(contacts=5) as server, client_of(server) as (client, _):
        plain = client.send_write(create_body(), "k1")
        login = client.send_write(create_body(email="boss@example.net", can_login=True), "k2")
        state = server.state
        assert plain["email"] == "pat.doe@example.net" and plain["is_listed"] is True
        assert state.contact(plain["id"])["canLogin"] is False
        assert state.contact(login["id"])["canLogin"] is True
        bodies = [entry.body for entry in state.request_log() if entry.endpoint == "POST /contacts"]
        assert [b"canLogin" in body for body in bodies] == [False, True]


def test_a_create_whose_answer_is_dropped_after_it_was_applied_is_adopted_once() -> None:
    """drop-after on the POST: the client looks the email up before any resend and adopts the contact."""
    with running_sessions_sandbox(contacts=20, faults="drop-after@1/POST") as server:
        with client_of(server) as (client, _):
            contact = client.send_write(create_body(), "k")
        state = server.state
        (made,) = contacts_with_email(state, "pat.doe@example.net")
        assert contact["id"] == made["id"]
        posts = [entry for entry in state.request_log() if entry.endpoint == "POST /contacts"]
        assert len(posts) == 1 and state.counter_values().get("contacts_created", 0) == 1


@pytest.mark.parametrize("fault", ["503@1/POST", "500@1/POST", "malformed@1/POST", "empty200@1/POST"])
def test_an_unknown_outcome_is_looked_up_before_the_resend(fault: str) -> None:
    """5xx or a garbled 200: a lookup decides; applied (garbled) is adopted, not applied (5xx) resent."""
    with running_sessions_sandbox(contacts=20, faults=fault) as server, client_of(server) as (client, _):
        contact = client.send_write(create_body(), "k")
        state = server.state
        (made,) = contacts_with_email(state, "pat.doe@example.net")
        assert contact["id"] == made["id"]
        log = [entry.endpoint for entry in state.request_log()]
        applied = fault.startswith(("malformed", "empty200"))
        expected = ["POST /contacts", "GET /contacts"] + ([] if applied else ["POST /contacts"])
        assert log == expected


def test_a_drop_before_sending_is_looked_up_then_sent_again() -> None:
    """A connection dropped before the app saw the create: the lookup finds nothing, one resend makes it."""
    with running_sessions_sandbox(contacts=20, faults="drop-before@1/POST") as server:
        with client_of(server) as (client, _):
            client.send_write(create_body(), "k")
        assert len(contacts_with_email(server.state, "pat.doe@example.net")) == 1
        assert server.state.counter_values().get("contacts_created", 0) == 1


@pytest.mark.parametrize("answer", ["409", "400", "500"])
@pytest.mark.parametrize("error_body", ["json", "text"])
def test_a_duplicate_email_is_resolved_to_the_existing_contact(answer: str, error_body: str) -> None:
    """Each duplicate-email variant (409, 400 saying so, Express's 500 page) adopts the contact holding it."""
    with running_sessions_sandbox(contacts=20, duplicate_email=answer, error_body=error_body) as server:
        existing = server.state.all_contacts()[7]
        with client_of(server) as (client, _):
            contact = client.send_write(create_body(email=existing["email"].upper()), "k")
        assert contact["id"] == existing["id"]
        assert server.state.counter_values().get("contacts_created", 0) == 0
        assert len(contacts_with_email(server.state, existing["email"])) == 1


def test_a_duplicate_of_a_contact_this_session_cannot_see_is_a_rejection() -> None:
    """The email is taken by a hidden contact: the create is rejected saying so, not adopted or resent."""
    with running_sessions_sandbox(contacts=20) as server:
        hidden = server.state.all_contacts()[3]
        server.state.set_hidden(hidden["id"], hidden=True)
        with client_of(server) as (client, _), pytest.raises(RequestRejected) as caught:
            client.send_write(create_body(email=hidden["email"]), "k")
        assert caught.value.status == 409
        assert "the list this session sees does not show it" in str(caught.value)
        posts = [e for e in server.state.request_log() if e.endpoint == "POST /contacts"]
        assert len(posts) == 1


def test_a_refused_create_is_a_rejection_quoting_the_api() -> None:
    """A body the API refuses (an unknown type) is RequestRejected quoting its message, sent once."""
    with (
        running_sessions_sandbox(contacts=5, error_body="text") as server,
        client_of(server) as (client, _),
        pytest.raises(RequestRejected) as caught,
    ):
        client.send_write(create_body(type="robot"), "k")
    assert caught.value.status == 400
    said = "type must be one of: client, external, partner, vendor"
    assert str(caught.value) == f"POST /contacts answered 400: {said}"


def test_find_created_looks_the_email_up_in_the_list() -> None:
    """find_created finds a listed contact by email (any case) and answers None for one not listed."""
    with running_sessions_sandbox(contacts=3000) as server, client_of(server) as (client, _):
        target = server.state.all_contacts()[2500]
        found = client.find_created(create_body(email=target["email"].swapcase()))
        assert found is not None and found["id"] == target["id"] and found["is_listed"] is True
        assert client.find_created(create_body(email="nobody@example.net")) is None


def test_what_this_api_cannot_do_is_said_plainly() -> None:
    """fetch_one and a PATCH or DELETE handed to send_write are FatalErrors saying the API lacks them."""
    with running_sessions_sandbox(contacts=1) as server, client_of(server) as (client, _):
        with pytest.raises(FatalError, match="no endpoint for one contact"):
            client.fetch_one(1)
        for method in ("PATCH", "DELETE"):
            with pytest.raises(FatalError, match="only creates contacts"):
                client.send_write(PreparedWrite(method, "/contacts/1", b"{}"), "k")
        assert server.state.request_log() == []


# --- the cookie stays secret ---------------------------------------------------------------


def test_the_cookie_reaches_no_log_no_error_and_no_answer(caplog: pytest.LogCaptureFixture) -> None:
    """Through a walk, creates, faults and an expired session, no log line or error holds the cookie;
    a contact whose text holds it is handed out masked."""
    caplog.set_level(logging.DEBUG)
    with running_sessions_sandbox(contacts=2500, faults="drop-after@1/POST,503@3/GET") as server:
        cookie = server.cookie
        forms = {cookie, unquote(cookie), server.state.session.sid}
        server.state.admin_edit(1200, {"title": f"pasted {unquote(cookie)} here", "department": cookie})
        errors: list[str] = []
        with capture_logs() as logs, client_of(server) as (client, _):
            contacts = [c for page in walk(client) for c in page.contacts]
            client.send_write(create_body(), "k")
            server.state.expire_session(1)
            for call in (lambda: client.fetch_page(None), lambda: client.send_write(create_body(), "k2")):
                try:
                    call()
                except SyncError as exc:
                    errors.append(f"{exc} {exc!r}")
    masked = next(c for c in contacts if c["id"] == 1200)
    assert (masked["title"], masked["department"]) == ("pasted *** here", "***")
    assert len(errors) == 2 and logs
    captured = [str(event) for event in logs] + [record.getMessage() for record in caplog.records] + errors
    leaks = [text for text in captured for form in forms if form in text]
    assert leaks == []
