"""Three-way merge of one contact, field by field, and the conflict policies.

Pure: plain dicts in, a `Merge` out.  `base` is the last state both sides
agreed on, `local` the row as other programs left it, `remote` what the API
holds now.  The same function settles a pulled page and the answer to one of
our own writes (then `base` already carries the values we sent), so that our
own writes coming back are never seen as remote changes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Record = Mapping[str, Any]
Winner = Literal["local", "remote", "held"]
Policy = Callable[[str, Any, Any, Any], Winner]

_ABSENT: Any = object()


def remote_wins(field: str, base: Any, local: Any, remote: Any) -> Winner:
    """The API's value replaces the local one; the local value is kept in the conflict record."""
    return "remote"


def local_wins(field: str, base: Any, local: Any, remote: Any) -> Winner:
    """The local value is pushed over the API's; the API's value is kept in the record."""
    return "local"


def manual(field: str, base: Any, local: Any, remote: Any) -> Winner:
    """Neither side moves until a person resolves the conflict."""
    return "held"


POLICIES: Mapping[str, Policy] = {
    "remote-wins": remote_wins,
    "local-wins": local_wins,
    "manual": manual,
}


@dataclass(frozen=True)
class Conflict:
    field: str
    base: Any
    local: Any
    remote: Any
    winner: Winner


@dataclass(frozen=True)
class Merge:
    local_changes: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()


def merge_contact(
    *,
    base: Record | None,
    local: Record | None,
    remote: Record,
    writable: Collection[str],
    policy: Policy,
) -> Merge:
    """Decide, per field, what the local row and the last-synced state become.

    Fields outside `writable` belong to the API (ids, timestamps, fields it
    added later): the local row simply follows them.
    """
    if local is None:
        # A contact new to this store, or a row someone deleted locally: the API has
        # no delete, so the row is (re)created from the remote side.
        return Merge(local_changes=dict(remote), base=dict(remote))
    known_base: Record = base or {}
    changes: dict[str, Any] = {}
    # A field the answer leaves out (an older API shape, a sparse answer) keeps its last
    # agreed value: dropping it from the base would make the next diff push it again.
    new_base: dict[str, Any] = {k: v for k, v in known_base.items() if k not in remote}
    conflicts: list[Conflict] = []
    for name, theirs in remote.items():
        ours = local.get(name)
        if name not in writable:
            if ours != theirs:
                changes[name] = theirs
            new_base[name] = theirs
            continue
        before = known_base.get(name, _ABSENT)
        new_base[name] = theirs
        if ours == theirs:
            continue  # both sides agree: nothing to do, whoever changed it
        if theirs == before:
            new_base[name] = before  # only the local side changed: it will be pushed
            continue
        if ours == before:
            changes[name] = theirs  # only the remote side changed
            continue
        # Both sides changed the same field to different values.
        shown_base = None if before is _ABSENT else before
        winner = policy(name, shown_base, ours, theirs)
        conflicts.append(Conflict(name, shown_base, ours, theirs, winner))
        if winner == "remote":
            changes[name] = theirs
        # "local" and "held" keep the local value over a base equal to the remote one,
        # so the next diff sees (and pushes, unless held) the local value.
    return Merge(local_changes=changes, base=new_base, conflicts=tuple(conflicts))
