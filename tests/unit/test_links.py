"""Links between local rows and remote contacts: which merges would break them."""

from __future__ import annotations

from sync.links import Clash, Links, clash

LINKS = Links(row_of_contact={7: 1, 8: 2}, contact_of_row={1: 7, 2: 8})


def test_a_contact_merged_into_its_own_row_is_no_clash() -> None:
    """The row that holds a contact and synced as it may take its answer."""
    assert clash(7, 1, LINKS) is None


def test_a_new_contact_for_a_new_or_unlinked_row_is_no_clash() -> None:
    """A contact nobody holds may go to a new row, or to a row not yet synced as anything."""
    assert clash(9, None, LINKS) is None
    assert clash(9, 3, LINKS) is None


def test_a_second_contact_for_one_row_is_a_clash_naming_the_first() -> None:
    """A row synced as contact 7 cannot be given contact 9 (two POSTs of one row)."""
    found = clash(9, 1, LINKS)
    assert found == Clash(9, 1, other_contact=7)
    assert found.describe() == "row local_id=1 already stands for contact 7"


def test_a_contact_another_row_holds_is_a_clash_naming_that_row() -> None:
    """A POST answered with contact 8, which row 2 holds, cannot go to row 3 (nor to a new row)."""
    assert clash(8, 3, LINKS) == Clash(8, 3, other_row=2)
    assert clash(8, None, LINKS) == Clash(8, None, other_row=2)
    assert "held by row local_id=2" in Clash(8, 3, other_row=2).describe()
