"""How a contact field's values look, in an API's JSON and in a `contacts` column."""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    JSON = "json"
