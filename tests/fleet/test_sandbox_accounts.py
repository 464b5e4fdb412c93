"""One sandbox, several accounts (one per token), and the spans that show overlapping clients."""

from __future__ import annotations

import threading

import httpx

from sync.apis.lev.sandbox.runs import connection_spans, overlapping_spans
from sync.apis.lev.sandbox.testing import running_sandbox


def client(base_url: str, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}", "X-Origin-App": "test"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=5)


def test_each_token_reaches_its_own_account() -> None:
    """Accounts added over the admin API have their own data, identity and request log."""
    with running_sandbox(contacts=3) as sandbox:
        added = httpx.post(sandbox.admin_url + "/accounts", json={"name": "beta", "contacts": 5}).json()[
            "data"
        ]
        with (
            client(sandbox.base_url, sandbox.token) as first,
            client(sandbox.base_url, added["token"]) as beta,
        ):
            assert first.get("/me").json()["data"]["account"]["slug"] == "sandbox"
            assert beta.get("/me").json()["data"]["account"]["slug"] == "beta"
            assert beta.post("/contacts", json={}).status_code == 422  # validated like any write
        beta_log = httpx.get(sandbox.admin_url + "/accounts/beta/log").json()["data"]
        assert [entry["endpoint"] for entry in beta_log] == ["GET /me", "POST /contacts"]
        assert [e.endpoint for e in sandbox.state.request_log()] == ["GET /me"]
        names = [a["name"] for a in httpx.get(sandbox.admin_url + "/accounts").json()["data"]]
        assert names == ["default", "beta"]
        again = httpx.post(sandbox.admin_url + "/accounts", json={"name": "beta"})
        assert again.status_code == 409


def test_runs_one_after_another_do_not_overlap() -> None:
    """Two clients that take turns give two spans that do not interleave."""
    with running_sandbox(contacts=3) as sandbox:
        for _ in range(2):
            with client(sandbox.base_url, sandbox.token) as run:
                run.get("/me")
                run.get("/contacts")
        spans = connection_spans(sandbox.state.request_log())
        assert [span.starts_a_run for span in spans] == [True, True]
        assert overlapping_spans(spans) == []
        runs = httpx.get(sandbox.admin_url + "/accounts/default/runs").json()["data"]
        assert runs["overlapping"] == [] and len(runs["spans"]) == 2


def test_two_clients_at_once_on_one_account_are_reported() -> None:
    """A second client talking while the first is between requests makes an overlapping pair."""
    with running_sandbox(contacts=3) as sandbox:
        first_started, second_done = threading.Event(), threading.Event()

        def first_run() -> None:
            with client(sandbox.base_url, sandbox.token) as run:
                run.get("/me")
                first_started.set()
                second_done.wait(5)
                run.get("/contacts")

        thread = threading.Thread(target=first_run)
        thread.start()
        first_started.wait(5)
        with client(sandbox.base_url, sandbox.token) as second:
            second.get("/me")
        second_done.set()
        thread.join()
        spans = connection_spans(sandbox.state.request_log())
        assert len(overlapping_spans(spans)) == 1
        runs = httpx.get(sandbox.admin_url + "/accounts/default/runs").json()["data"]
        assert len(runs["overlapping"]) == 1
