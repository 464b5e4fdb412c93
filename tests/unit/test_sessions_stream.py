"""The session-contacts list read as a stream: elements in batches, broken answers named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sync.apis.sessions.stream import ArrayStream
from sync.errors import InvalidResponse

WHAT = "GET /contacts"


def contacts(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "fullName": f"Zoë {n} 🌻", "metadata": {"score": n / 2}} for n in range(1, count + 1)]


def pieces(raw: bytes, size: int) -> Iterator[bytes]:
    """`raw` in pieces of `size` bytes: boundaries fall inside strings and multi-byte characters."""
    return (raw[i : i + size] for i in range(0, len(raw), size))


def drain(stream: ArrayStream, batch: int) -> list[list[Any]]:
    batches = []
    while not stream.finished:
        taken = stream.take(batch)
        if taken:
            batches.append(taken)
    return batches


@pytest.mark.parametrize("piece_size", [1, 7, 4096])
def test_elements_come_in_batches_whatever_the_network_pieces(piece_size: int) -> None:
    """2,500 contacts in pieces of 1, 7 or 4096 bytes: batches of 1000, 1000, 500, equal to json.loads."""
    listed = contacts(2500)
    raw = json.dumps(listed, ensure_ascii=False).encode()
    stream = ArrayStream(pieces(raw, piece_size), what=WHAT)
    batches = drain(stream, 1000)
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [item for b in batches for item in b] == json.loads(raw)
    assert stream.taken == 2500 and stream.take(1000) == []


def test_an_empty_array_finishes_with_no_batch() -> None:
    """`[]` (with blanks around it) is a list of no contacts, finished."""
    stream = ArrayStream(iter([b"  \n", b"[ ", b"]\n"]), what=WHAT)
    assert stream.take(1000) == []
    assert stream.finished


def test_the_stream_reads_only_what_a_batch_needs() -> None:
    """Taking one batch does not read the rest of the answer: memory holds a batch, not the list."""
    raw = json.dumps(contacts(5000)).encode()
    read = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for piece in pieces(raw, 1024):
            read += len(piece)
            yield piece

    stream = ArrayStream(counted(), what=WHAT)
    assert len(stream.take(100)) == 100
    assert read < len(raw) / 10


def test_a_malformed_element_mid_stream_is_named_and_its_batch_never_handed_out() -> None:
    """Element 1,503 broken: batch one comes out; the next raises naming it and the id before it."""
    good = json.dumps(contacts(1502))[:-1].encode()
    raw = good + b', {"id": 1503, "fullName": }, {"id": 1504}]'
    stream = ArrayStream(pieces(raw, 512), what=WHAT)
    assert len(stream.take(1000)) == 1000
    with pytest.raises(InvalidResponse) as caught:
        stream.take(1000)
    message = str(caught.value)
    assert message.startswith(
        f"{WHAT}: element 1503 (after the contact with id 1502) of the list is not valid JSON"
    )
    assert "fullName" not in message  # ijson's quote of the input (contact data) stays out
    assert not stream.finished


def test_a_truncated_stream_is_an_error_not_a_short_list() -> None:
    """An answer cut after 1,200 contacts (connection closed) raises at the end instead of finishing short."""
    raw = json.dumps(contacts(2000)).encode()
    cut = raw[: raw.index(b'{"id": 1201')] + b'{"id": 1201, "fullN'
    stream = ArrayStream(pieces(cut, 4096), what=WHAT)
    assert len(stream.take(1000)) == 1000
    with pytest.raises(InvalidResponse) as caught:
        stream.take(1000)
    assert "the list was cut short: it ends inside element 1201 (after the contact with id 1200)" in str(
        caught.value
    )
    assert not stream.finished


def test_a_stream_cut_between_elements_is_cut_short_too() -> None:
    """Cut right after a comma, the array lacks its `]`: still an error."""
    stream = ArrayStream(iter([b'[{"id": 1},', b'{"id": 2},']), what=WHAT)
    with pytest.raises(InvalidResponse, match="cut short"):
        stream.take(1000)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([], "the answer is empty, not a JSON array"),
        ([b"   "], "the answer is empty, not a JSON array"),
        ([b'{"contacts": []}'], "the answer is not a JSON array (it starts with b'{\"contacts\": []}')"),
        ([b"<html>login</html>"], "the answer is not a JSON array"),
        (
            [b'[{"id": 1}] [{"id": 2}]'],
            "element 2 (after the contact with id 1) of the list is not valid JSON",
        ),
        (
            [b'[{"id": 1, "name": "\xff"}]'],
            "element 1 of the list is not valid JSON (lexical error: invalid bytes",
        ),
        ([b"[NaN]"], "element 1 of the list is not valid JSON"),
    ],
)
def test_answers_that_are_not_one_json_array_are_refused(chunks: list[bytes], expected: str) -> None:
    """Not an array, empty, trailing garbage, invalid UTF-8, NaN: each an InvalidResponse saying which."""
    stream = ArrayStream(iter(chunks), what=WHAT)
    with pytest.raises(InvalidResponse) as caught:
        drain(stream, 1000)
    assert expected in str(caught.value)


def test_numbers_are_plain_python_numbers() -> None:
    """Big integers stay int and fractions are float (not Decimal), as json.loads gives them."""
    stream = ArrayStream(iter([b'[{"id": 9007199254740993, "metadata": {"f": 0.1, "e": 1e3}}]']), what=WHAT)
    (item,) = stream.take(10)
    assert item == {"id": 9007199254740993, "metadata": {"f": 0.1, "e": 1000.0}}
    assert type(item["metadata"]["f"]) is float
