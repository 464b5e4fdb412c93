"""The bracketed range filter of GET /contacts: ``filter[updated_at][gte|lte]=<instant>``.

The API documents bracketed filters (``filter[<field>]``, ranges as
``filter[<field>][gte]`` / ``[lte]``); on contacts the sandbox implements the
``updated_at`` range an incremental pull needs. Bounds are inclusive ISO 8601
instants with a zone (``2026-03-01T12:00:00Z``, ``...+02:00``, any fraction).

A filter mode makes the sandbox behave like other servers: ``apply`` (the
default), ``ignore`` (a server without the feature: filter parameters are
ignored, the whole list comes back) or ``reject`` (400 for any filter).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from sync.apis.lev.sandbox.envelope import Rejected

FilterMode = Literal["apply", "ignore", "reject"]
FILTER_MODES: Final[tuple[str, ...]] = get_args(FilterMode)
UPDATED_GTE: Final[str] = "filter[updated_at][gte]"
UPDATED_LTE: Final[str] = "filter[updated_at][lte]"
_FILTER_PARAM = re.compile(r"^filter\[")


@dataclass(frozen=True)
class UpdatedRange:
    """Inclusive bounds on ``updated_at``, as given (text) and parsed."""

    gte: str | None = None
    lte: str | None = None

    def matches(self, row: Mapping[str, Any]) -> bool:
        stamp = row.get("updated_at")
        if not isinstance(stamp, str):
            return False
        moment = instant(stamp)
        if self.gte is not None and moment < instant(self.gte):
            return False
        return self.lte is None or moment <= instant(self.lte)

    def same_as(self, other: UpdatedRange) -> bool:
        """Equal bounds, however each instant was spelt."""
        return all(
            (a is None and b is None) or (a is not None and b is not None and instant(a) == instant(b))
            for a, b in ((self.gte, other.gte), (self.lte, other.lte))
        )

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("gte", self.gte), ("lte", self.lte)) if v is not None}


def filter_mode(text: str) -> FilterMode:
    if text not in FILTER_MODES:
        raise ValueError(f"filter mode must be one of {', '.join(FILTER_MODES)}, not {text!r}")
    return text  # type: ignore[return-value]  # checked against the Literal's values above


def parse_filters(query: Mapping[str, str], mode: FilterMode) -> UpdatedRange | None:
    """The ``updated_at`` range asked for, or None; raises ``Rejected`` (400) on a bad filter."""
    names = sorted(name for name in query if _FILTER_PARAM.match(name))
    if not names or mode == "ignore":
        return None
    if mode == "reject":
        raise Rejected(400, f"Unknown query parameter {names[0]}: this server does not filter contacts")
    unsupported = [name for name in names if name not in (UPDATED_GTE, UPDATED_LTE)]
    if unsupported:
        raise Rejected(
            400, f"Unsupported filter {unsupported[0]}: contacts filter on {UPDATED_GTE} and {UPDATED_LTE}"
        )
    bounds = UpdatedRange(gte=query.get(UPDATED_GTE), lte=query.get(UPDATED_LTE))
    for name, text in ((UPDATED_GTE, bounds.gte), (UPDATED_LTE, bounds.lte)):
        if text is not None:
            checked_instant(name, text)
    return bounds


def checked_instant(name: str, text: str) -> datetime:
    try:
        moment = instant(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Rejected(
            400,
            f"{name} must be an ISO 8601 instant with a zone, e.g. 2026-03-01T12:00:00Z "
            f"(percent-encode a '+' offset), not {text!r}",
        )
    return moment


@functools.lru_cache(maxsize=65536)
def instant(text: str) -> datetime:
    """An ISO 8601 timestamp; ``Z`` means UTC. Raises ValueError when it is not one."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
