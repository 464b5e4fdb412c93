"""The elements of one JSON array read from bytes as they arrive, never the whole array at once.

`GET /contacts` answers every contact in one array: 200,000 contacts are some
60 MB of JSON, several times that as Python objects. `ArrayStream` feeds the
bytes to ijson's push parser (its C backend, yajl) and hands the elements out
in batches, so memory holds one batch and one network read, whatever the
length of the list.

Pure: the bytes come from any iterator (an httpx response in the client, a
list in tests). An answer that is not one whole array is an InvalidResponse
naming where it went wrong: not an array, an element that is not valid JSON,
or an array cut short (the connection ended before its closing `]`), so a
broken answer never passes for a short list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import ijson

from sync.errors import InvalidResponse

_WHITESPACE = b" \t\r\n"


class ArrayStream:
    """The elements of the JSON array in `chunks`, taken in batches with `take`."""

    def __init__(self, chunks: Iterator[bytes], *, what: str) -> None:
        self._chunks = chunks
        self._what = what
        self._found: list[Any] = ijson.sendable_list()
        # use_float: numbers in metadata become float, as json.loads gives, not Decimal.
        self._parser = ijson.items_coro(self._found, "item", use_float=True)
        self._ready: deque[Any] = deque()
        self._opened = False  # has the first non-blank byte been seen (and was it "[")?
        self._ended = False  # has the byte source ended and the parser confirmed the array whole?
        self.taken = 0  # elements handed out so far
        self._last: Any = None  # the last element handed out, to name where a fault is
        self._fault: InvalidResponse | None = None  # raised once the elements before it are out

    @property
    def finished(self) -> bool:
        """Every element has been handed out and the array was complete."""
        return self._ended and not self._ready

    def take(self, limit: int) -> list[Any]:
        """Up to `limit` more elements, fewer only at the end of the array; [] once finished.

        A fault is raised by the batch that would hold the broken element, however
        many elements before it arrived in the same network read.
        """
        while len(self._ready) < limit and not self._ended and self._fault is None:
            self._read_more()
        if self._fault is not None and len(self._ready) < limit:
            raise self._fault
        batch = [self._ready.popleft() for _ in range(min(limit, len(self._ready)))]
        self.taken += len(batch)
        if batch:
            self._last = batch[-1]
        return batch

    def _read_more(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            self._end()
            return
        if not self._opened:
            chunk = chunk.lstrip(_WHITESPACE)
            if not chunk:
                return
            self._opened = True
            if not chunk.startswith(b"["):
                # ijson would silently find no "item" in an object: a list must be an array.
                raise InvalidResponse(
                    f"{self._what}: the answer is not a JSON array (it starts with {chunk[:20]!r})"
                )
        try:
            self._parser.send(chunk)
        except ijson.JSONError as exc:
            self._collect()  # the elements before the fault, to name where it is
            self._fault = InvalidResponse(
                f"{self._what}: element {self._position()} of the list is not valid JSON ({_first_line(exc)})"
            )
            return
        self._collect()

    def _end(self) -> None:
        if not self._opened:
            raise InvalidResponse(f"{self._what}: the answer is empty, not a JSON array")
        try:
            self._parser.close()
        except ijson.JSONError as exc:
            raise InvalidResponse(
                f"{self._what}: the list was cut short: it ends inside element {self._position()}, "
                f"before its closing ']' ({_first_line(exc)}); nothing after it was received"
            ) from None
        self._collect()
        self._ended = True

    def _collect(self) -> None:
        if self._found:
            self._ready.extend(self._found)
            del self._found[:]

    def _position(self) -> str:
        """The 1-based number of the element being parsed, and the last good one's id if known."""
        number = self.taken + len(self._ready) + 1
        last = self._ready[-1] if self._ready else self._last
        last_id = last.get("id") if isinstance(last, dict) else None
        return f"{number}" + (f" (after the contact with id {last_id!r})" if last_id is not None else "")


def _first_line(exc: Exception) -> str:
    """ijson's message without the quoted input it appends: that is contact data, and long."""
    text = str(exc)
    if text.startswith(("b'", 'b"')):  # yajl's lexical errors arrive as the repr of bytes
        text = text[2:].split("\\n", 1)[0]
    first = text.splitlines()[0].strip() if text.strip() else ""
    return first[:120] or type(exc).__name__
