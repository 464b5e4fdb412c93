"""The connect.sid session: signing as Express does, 401 without a live session, roles, expiry."""

from __future__ import annotations

import httpx
import pytest

from sync.apis.sessions.sandbox import SessionsSandboxServer, SessionsState, running_sessions_sandbox
from sync.apis.sessions.sandbox.sessions import cookie_value, signature, unsigned_sid
from tests.sessions_sandbox.helpers import contact_body, session_client


def test_signature_matches_express_cookie_signature() -> None:
    """The HMAC matches the cookie-signature package's own test vector, and the cookie is URL-encoded."""
    assert signature("hello", "tobiiscool") == "DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI"
    value = cookie_value("hello", "tobiiscool")
    assert value == "s%3Ahello.DGDUkGlIkCzPz%2BC0B064FNgHdEjox7ch8tOBGslZ5QI"
    assert unsigned_sid(value, "tobiiscool") == "hello"
    assert unsigned_sid(value, "luna") is None
    assert unsigned_sid("hello.DGDUkGlIkCzPz%2BC0B064FNgHdEjox7ch8tOBGslZ5QI", "tobiiscool") is None


def test_printed_cookie_opens_the_session(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """The sandbox's cookie looks like an Express one and lists contacts."""
    assert sandbox.cookie.startswith("s%3A")
    response = client.get("/contacts")
    assert response.status_code == 200
    assert len(response.json()) == 30


@pytest.mark.parametrize(
    "cookies",
    [
        {},
        {"connect.sid": "s%3Anot-a-session.bad"},
        {"connect.sid": cookie_value("made-up", "another-secret")},
        {"other": "1"},
    ],
)
def test_no_valid_session_is_401_json(sandbox: SessionsSandboxServer, cookies: dict[str, str]) -> None:
    """A missing, unsigned, foreign or forged cookie gets 401 {"message": "Unauthorized"} on both routes."""
    with httpx.Client(base_url=sandbox.base_url, cookies=cookies) as http:
        listed = http.get("/contacts")
        created = http.post("/contacts", json=contact_body())
    for response in (listed, created):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json() == {"message": "Unauthorized"}
    assert sandbox.state.counter_values().get("contacts_created", 0) == 0


def test_401_as_plain_text_when_switched() -> None:
    """With error_body="text" a 401 is the bare word, as res.sendStatus(401) sends it."""
    with running_sessions_sandbox(contacts=2, error_body="text") as server:
        response = httpx.get(server.base_url + "/contacts")
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "Unauthorized"


def test_cookie_among_others_in_the_header(sandbox: SessionsSandboxServer) -> None:
    """connect.sid is found among other cookies in one Cookie header."""
    header = f"theme=dark; connect.sid={sandbox.cookie}; lang=en"
    response = httpx.get(sandbox.base_url + "/contacts", headers={"Cookie": header})
    assert response.status_code == 200


def test_expired_by_admin_is_401(sandbox: SessionsSandboxServer, client: httpx.Client) -> None:
    """After the admin expires session 1, its cookie gets 401; another session still works."""
    with httpx.Client(base_url=sandbox.admin_url) as admin:
        other = admin.post("/sessions", json={"role": "consultant"}).json()
        assert admin.post("/sessions/1/expire").status_code == 200
        sessions = admin.get("/sessions").json()
    assert client.get("/contacts").status_code == 401
    assert {(s["number"], s["live"]) for s in sessions} == {(1, False), (other["number"], True)}
    with session_client(sandbox, cookie=other["cookie"]) as http:
        assert http.get("/contacts").status_code == 200


def test_session_max_age_runs_out() -> None:
    """A session with a max age gets 401 once that much time has passed on the sandbox's clock."""
    now = [1000.0]
    state = SessionsState(contacts=1, session_max_age=60, clock=lambda: now[0])
    with running_sessions_sandbox(state=state) as server, session_client(server) as http:
        assert http.get("/contacts").status_code == 200
        now[0] += 59.9
        assert http.get("/contacts").status_code == 200
        now[0] += 0.1
        assert http.get("/contacts").status_code == 401


@pytest.mark.parametrize(("role", "status"), [("consultant", 200), ("admin", 200), ("viewer", 403)])
def test_only_consultant_and_admin_create(sandbox: SessionsSandboxServer, role: str, status: int) -> None:
    """POST needs a consultant or admin session: other roles get 403 and nothing is created; all may list."""
    with httpx.Client(base_url=sandbox.admin_url) as admin:
        cookie = admin.post("/sessions", json={"role": role}).json()["cookie"]
    with session_client(sandbox, cookie=cookie) as http:
        assert http.get("/contacts").status_code == 200
        response = http.post("/contacts", json=contact_body())
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"message": "Forbidden"}
        assert sandbox.state.counter_values().get("contacts_created", 0) == 0


def test_viewer_role_at_start() -> None:
    """role= sets the role of the session opened at start."""
    with running_sessions_sandbox(contacts=1, role="viewer") as server, session_client(server) as http:
        assert http.post("/contacts", json=contact_body()).status_code == 403
