"""What a deletion on one side does to the other side's edits.

Pure: whether each side changed the contact since the last sync, and the conflict
policy, in; what to do, out. An edit on one side against a deletion on the other
is a conflict like any other, settled by the same policy function, whose `field`
is `DELETED`.
"""

from __future__ import annotations

from typing import Literal

from sync.merge import Policy

# The `field` of a conflict between an edit on one side and a deletion on the other.
DELETED = "(deleted)"

AfterRemoteDelete = Literal["forget", "delete-row", "recreate", "hold"]
AfterLocalDelete = Literal["delete", "recreate", "hold"]


def after_remote_delete(*, row_exists: bool, local_edited: bool, policy: Policy) -> AfterRemoteDelete:
    """The API proved a contact deleted (404).

    | local row           | policy       | outcome                                      |
    |---------------------|--------------|----------------------------------------------|
    | gone too            | any          | forget: nothing left to remove               |
    | unchanged           | any          | delete-row: the row goes, into the history   |
    | edits not yet sent  | remote-wins  | delete-row (the edits stay in the history)   |
    |                     | local-wins   | recreate: the row is created again at the API|
    |                     | manual       | hold: the row waits for a person             |
    """
    if not row_exists:
        return "forget"
    if not local_edited:
        return "delete-row"
    winner = policy(DELETED, None, "edited", "deleted")
    return {"remote": "delete-row", "local": "recreate", "held": "hold"}[winner]  # type: ignore[return-value]


def after_local_delete(*, remote_edited: bool, policy: Policy) -> AfterLocalDelete:
    """A row deleted locally whose contact the API still lists.

    Unchanged at the API: the delete is sent. Edited there since the last sync:
    remote-wins brings the row back with the edit, local-wins sends the delete,
    manual holds both until a person decides.
    """
    if not remote_edited:
        return "delete"
    winner = policy(DELETED, None, "deleted", "edited")
    return {"local": "delete", "remote": "recreate", "held": "hold"}[winner]  # type: ignore[return-value]
