"""Text a store cannot hold: lone surrogates anywhere, NUL where the store says so."""

from __future__ import annotations

from sync.values import text_problem, unstorable_field


def test_ordinary_text_and_other_values_fit() -> None:
    """Unicode text, numbers, booleans and nested lists of them can be stored."""
    assert text_problem("Zoë 東京") is None
    assert text_problem([{"raw": "+1 212", "n": 3}, None, True]) is None
    assert unstorable_field({"id": 1, "title": "CTO", "phones": []}, nul_allowed=False) is None


def test_a_lone_surrogate_is_found_wherever_it_hides() -> None:
    """A lone surrogate in a field, a list item or an object key names its field."""
    assert text_problem("\ud800") is not None
    assert unstorable_field({"id": 1, "phones": [{"raw": "1", "type": "\udcc3"}]}) == (
        "phones",
        "holds text that is not valid UTF-8 (a lone surrogate, or bytes that were not UTF-8)",
    )
    assert unstorable_field({"extra": {"\ud83d": 1}}) is not None


def test_nul_is_a_problem_only_where_the_store_cannot_hold_it() -> None:
    """A NUL is named for PostgreSQL and fits SQLite."""
    record = {"id": 1, "title": "Dr\x00 Who"}
    assert unstorable_field(record) is None
    assert unstorable_field(record, nul_allowed=False) == (
        "title",
        "holds a NUL character, which PostgreSQL text cannot hold",
    )
