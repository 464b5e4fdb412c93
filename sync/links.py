"""Which local row stands for which remote contact, and the merges that would break it.

A contact is held by at most one row (`contacts.id` is unique) and a row stands
for at most one contact (the last-synced state's `local_id` is unique).  A merge
or a write's answer that would give a row a second contact, or a contact a
second row, cannot be applied; these checks find it before the database does,
so that one such row is set aside with a message instead of every run failing
on a constraint.  Pure: the links that matter in, the clash (or None) out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sync.plan import ContactId


@dataclass(frozen=True)
class Links:
    """The links around the contacts and rows a step is about to touch."""

    row_of_contact: Mapping[ContactId, int] = field(default_factory=dict)  # contacts.id -> local_id
    contact_of_row: Mapping[int, ContactId] = field(default_factory=dict)  # last-synced local_id -> contact


@dataclass(frozen=True)
class Clash:
    contact_id: ContactId
    local_id: int | None
    other_row: int | None = None  # another row already holds contact_id
    other_contact: ContactId | None = None  # the row already stands for another contact

    def describe(self) -> str:
        if self.other_row is not None:
            return f"contact {self.contact_id} is already held by row local_id={self.other_row}"
        return f"row local_id={self.local_id} already stands for contact {self.other_contact}"


def clash(contact_id: ContactId, local_id: int | None, links: Links) -> Clash | None:
    """Why row `local_id` (None: a new row) cannot be made to hold `contact_id`, or None."""
    holder = links.row_of_contact.get(contact_id)
    if holder is not None and holder != local_id:
        return Clash(contact_id, local_id, other_row=holder)
    bound = None if local_id is None else links.contact_of_row.get(local_id)
    if bound is not None and bound != contact_id:
        return Clash(contact_id, local_id, other_contact=bound)
    return None
