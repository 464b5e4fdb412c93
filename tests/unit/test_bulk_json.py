"""The pull's JSON columns are written with the exact text of the json module's encoder."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.bulk import _utf8_json

UTF8 = json.JSONEncoder(ensure_ascii=False)


@pytest.mark.parametrize(
    "value",
    [
        [{"raw": "(212) 555-0199", "type": "office", "extension": None}],
        ["sponsor", "lender_contact"],
        {"nickname": "Zoë 名前", "score": 3.5, "n": 10**30, "nested": {"a": [True, False, None]}},
        [float("nan"), float("inf"), 1e-7, -0.0],
        {1: "a key that is not text", None: "nor this"},
        "text alone",
        [],
    ],
)
def test_text_is_the_json_modules(value: Any) -> None:
    """Each value is written as JSONEncoder(ensure_ascii=False) writes it, separators included."""
    assert _utf8_json(value) == UTF8.encode(value)


def test_what_json_refuses_fails_as_it_does() -> None:
    """Unencodable values and cycles raise the json module's own errors."""
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        _utf8_json(cycle)
    with pytest.raises(TypeError, match="bytes"):
        _utf8_json([b"raw"])
    assert _utf8_json(["still fine after a failure"]) == '["still fine after a failure"]'
