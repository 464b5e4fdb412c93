"""An edit on one side against a deletion on the other: settled by the conflict policy."""

from __future__ import annotations

import pytest

from sync.deletes import after_local_delete, after_remote_delete
from sync.merge import POLICIES


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_contact_deleted_at_the_api_removes_an_unchanged_row_under_every_policy(policy: str) -> None:
    decided = after_remote_delete(row_exists=True, local_edited=False, policy=POLICIES[policy])
    assert decided == "delete-row"


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_contact_deleted_on_both_sides_is_only_forgotten(policy: str) -> None:
    assert after_remote_delete(row_exists=False, local_edited=True, policy=POLICIES[policy]) == "forget"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("remote-wins", "delete-row"), ("local-wins", "recreate"), ("manual", "hold")],
)
def test_local_edits_against_a_remote_delete_follow_the_policy(policy: str, expected: str) -> None:
    assert after_remote_delete(row_exists=True, local_edited=True, policy=POLICIES[policy]) == expected


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_local_delete_of_an_unchanged_contact_is_sent(policy: str) -> None:
    assert after_local_delete(remote_edited=False, policy=POLICIES[policy]) == "delete"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("remote-wins", "recreate"), ("local-wins", "delete"), ("manual", "hold")],
)
def test_a_local_delete_against_a_remote_edit_follows_the_policy(policy: str, expected: str) -> None:
    assert after_local_delete(remote_edited=True, policy=POLICIES[policy]) == expected
