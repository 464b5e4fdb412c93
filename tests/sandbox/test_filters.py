"""GET /contacts?filter[updated_at][gte|lte]=...: the incremental-pull filter, its cursor, its switches."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from sync.apis.lev.sandbox import SandboxServer, SandboxState, running_sandbox
from tests.sandbox.helpers import api_client, error_of, new_contact

GTE = "filter[updated_at][gte]"
LTE = "filter[updated_at][lte]"


def _walk(client: httpx.Client, params: dict[str, Any], *, resend_filter: bool = True) -> list[int]:
    """Every id a cursor walk lists; later pages repeat the filter only if asked to."""
    seen: list[int] = []
    page = client.get("/contacts", params=params).json()
    while True:
        seen += [row["id"] for row in page["data"]]
        if not page["pagination"]["has_more"]:
            return seen
        following = dict(params) if resend_filter else {"limit": params["limit"]}
        following["cursor"] = page["pagination"]["next_cursor"]
        response = client.get("/contacts", params=following)
        assert response.status_code == 200, response.text
        page = response.json()


def _changes(sandbox: SandboxServer, client: httpx.Client) -> tuple[str, list[int]]:
    """Each kind of change after a point in time: (that instant, the changed listed ids in order)."""
    connected = [c["id"] for c in sandbox.state.all_contacts() if c["is_connected"]]
    since = sandbox.state.admin_edit(connected[5], {"title": "Admin edit"})["updated_at"]
    assert client.patch(f"/contacts/{connected[2]}", json={"city": "Reno"}).status_code == 200
    created = sandbox.state.admin_create({"first_name": "Added"})["id"]
    sandbox.state.connect(new_contact(client, first_name="Via API")["id"])  # created, then connected
    return since, [connected[5], connected[2], created, created + 1]


def test_the_updated_at_range_lists_exactly_the_contacts_changed_in_it(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """gte lists what an admin edit, a PATCH, a create and a connect changed since then, oldest first."""
    since, changed = _changes(sandbox, client)
    page = client.get("/contacts", params={GTE: since, "limit": 200}).json()
    assert [row["id"] for row in page["data"]] == changed
    assert page["pagination"]["total"] == len(changed)
    until = sandbox.state.contact(changed[1])
    assert until is not None
    both = client.get("/contacts", params={GTE: since, LTE: until["updated_at"]}).json()
    assert [row["id"] for row in both["data"]] == changed[:2]
    before = client.get("/contacts", params={LTE: "2020-01-01T00:00:00Z"}).json()
    assert before["data"] == [] and before["pagination"]["has_more"] is False
    offset = client.get("/contacts", params={GTE: since, "sort": "-id"}).json()
    assert [row["id"] for row in offset["data"]] == sorted(changed, reverse=True)


@pytest.mark.parametrize("resend_filter", [True, False])
def test_a_filtered_cursor_walk_keeps_its_filter(
    sandbox: SandboxServer, client: httpx.Client, resend_filter: bool
) -> None:
    """Paging a filtered list by cursor, with or without repeating the filter, lists each change once."""
    since, changed = _changes(sandbox, client)
    connected = [c["id"] for c in sandbox.state.all_contacts() if c["is_connected"]]
    edited = [connected[i] for i in (10, 8, 20, 15, 25)]
    for contact_id in edited:
        sandbox.state.admin_edit(contact_id, {"department": f"Dept {contact_id}"})
    expected = [*changed, *edited]
    assert _walk(client, {GTE: since, "limit": 2}, resend_filter=resend_filter) == expected


def test_a_contact_changed_during_a_filtered_walk_comes_again_at_its_end(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    """The walk orders by (updated_at, id): a row edited behind the cursor is listed again, none skipped."""
    since, changed = _changes(sandbox, client)
    first = client.get("/contacts", params={GTE: since, "limit": 2}).json()
    assert [row["id"] for row in first["data"]] == changed[:2]
    sandbox.state.admin_edit(changed[0], {"title": "Edited again"})
    rest = client.get(
        "/contacts", params={GTE: since, "limit": 200, "cursor": first["pagination"]["next_cursor"]}
    )
    assert [row["id"] for row in rest.json()["data"]] == [*changed[2:], changed[0]]


def test_a_cursor_with_another_filter_is_400(sandbox: SandboxServer, client: httpx.Client) -> None:
    """A filter that differs from the cursor's, or a filter on a plain walk's cursor, is 400 bad_request."""
    since, _ = _changes(sandbox, client)
    filtered = client.get("/contacts", params={GTE: since, "limit": 1}).json()["pagination"]["next_cursor"]
    plain = client.get("/contacts", params={"limit": 1}).json()["pagination"]["next_cursor"]
    for params in (
        {GTE: "2020-01-01T00:00:00Z", "cursor": filtered},
        {GTE: since, LTE: "2999-01-01T00:00:00Z", "cursor": filtered},
        {GTE: since, "cursor": plain},
    ):
        response = client.get("/contacts", params=params)
        assert response.status_code == 400, params
        assert "another filter" in error_of(response)["message"]
    same = client.get("/contacts", params={GTE: since.replace("Z", "+00:00"), "cursor": filtered})
    assert same.status_code == 200
    assert json.loads(base64.b64decode(filtered))["filter"] == {"gte": since}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({GTE: "yesterday"}, GTE),
        ({LTE: "2026-03-01T12:00:00"}, LTE),  # no zone
        ({GTE: "2026-03-01T12:00:00 00:00"}, GTE),  # an unencoded '+' arrives as a space
        ({"filter[title]": "CFO"}, "filter[title]"),
        ({"filter[updated_at][gt]": "2026-03-01T12:00:00Z"}, "filter[updated_at][gt]"),
    ],
)
def test_a_bad_filter_is_400_naming_the_parameter(
    client: httpx.Client, params: dict[str, str], named: str
) -> None:
    """An instant without a zone, not an instant, or a filter contacts do not have is 400 naming it."""
    response = client.get("/contacts", params=params)
    assert response.status_code == 400
    assert named in error_of(response)["message"]


def test_the_ignore_switch_serves_the_whole_list_like_a_server_without_filters() -> None:
    """Built with filter_mode="ignore", the sandbox answers a filtered list as if unfiltered."""
    state = SandboxState(contacts=30, seed=3, tier="unlimited", filter_mode="ignore")
    with running_sandbox(state=state) as sandbox, api_client(sandbox) as client:
        connected = [c["id"] for c in state.all_contacts() if c["is_connected"]]
        assert _walk(client, {GTE: "2999-01-01T00:00:00Z", "limit": 7}) == connected


def test_the_admin_route_switches_between_apply_ignore_and_reject(
    sandbox: SandboxServer, client: httpx.Client, admin: httpx.Client
) -> None:
    """PUT /_admin/filters sets the mode: reject answers 400 for any filter, apply filters again."""
    future = {GTE: "2999-01-01T00:00:00Z"}
    assert admin.get("/filters").json()["data"] == {"mode": "apply"}
    assert client.get("/contacts", params=future).json()["data"] == []
    assert admin.put("/filters", json={"mode": "reject"}).json()["data"] == {"mode": "reject"}
    rejected = client.get("/contacts", params=future)
    assert rejected.status_code == 400
    assert GTE in error_of(rejected)["message"]
    assert client.get("/contacts").status_code == 200
    assert admin.put("/filters", json={"mode": "ignore"}).status_code == 200
    connected = [c for c in sandbox.state.all_contacts() if c["is_connected"]]
    assert len(client.get("/contacts", params=future).json()["data"]) == len(connected)
    bad = admin.put("/filters", json={"mode": "sometimes"})
    assert bad.status_code == 400 and "apply, ignore, reject" in error_of(bad)["message"]
    assert admin.put("/filters", json={"mode": "apply"}).status_code == 200
    assert client.get("/contacts", params=future).json()["data"] == []


@pytest.mark.parametrize(
    ("flag", "status", "rows"), [("--ignore-filters", 200, 5), ("--reject-filters", 400, None)]
)
def test_the_cli_switches(flag: str, status: int, rows: int | None) -> None:
    """`contacts-sync sandbox --ignore-filters` ignores filters; `--reject-filters` answers 400."""
    argv = [
        sys.executable,
        "-m",
        "sync.cli",
        "sandbox",
        "--port",
        "0",
        "--contacts",
        "5",
        "--token",
        "lev_sk_cli",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen([*argv, flag], stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip().partition("=")[2]
            headers = {"Authorization": "Bearer lev_sk_cli", "X-Origin-App": "t"}
            future = {GTE: "2999-01-01T00:00:00Z"}
            response = httpx.get(url + "/contacts", params=future, headers=headers, timeout=30)
            assert response.status_code == status
            if rows is not None:
                assert len(response.json()["data"]) == rows
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_both_cli_switches_at_once_is_a_usage_error() -> None:
    """--ignore-filters with --reject-filters exits 2 naming both, before serving anything."""
    result = subprocess.run(
        [sys.executable, "-m", "sync.cli", "sandbox", "--port", "0", "--ignore-filters", "--reject-filters"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--ignore-filters" in result.stderr and "--reject-filters" in result.stderr
