"""Small helpers shared by the sessions sandbox tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from sync.apis.sessions.sandbox import SessionsSandboxServer

_DECODER = json.JSONDecoder()


def session_client(server: SessionsSandboxServer, *, cookie: str | None = None) -> httpx.Client:
    """An httpx client sending the sandbox's session cookie (or the given one)."""
    return httpx.Client(
        base_url=server.base_url,
        cookies={"connect.sid": cookie or server.cookie},
        timeout=30.0,
    )


def contact_body(**fields: Any) -> dict[str, Any]:
    return {"fullName": "Pat Doe", "email": "pat.doe@example.net", "type": "client", **fields}


def new_contact(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/contacts", json=contact_body(**fields))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def array_items(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The objects of one JSON array read from byte chunks, one at a time, never the whole body."""
    text = ""
    pending = b""
    opened = closed = False
    for chunk in chunks:
        pending += chunk
        try:
            text += pending.decode()
            pending = b""
        except UnicodeDecodeError:
            # A chunk boundary inside a multi-byte character: wait for the rest.
            continue
        position = 0
        while True:
            while position < len(text) and text[position] in " \n\r\t,":
                position += 1
            if not opened and position < len(text):
                assert text[position] == "[", text[:80]
                opened, position = True, position + 1
                continue
            if position < len(text) and text[position] == "]":
                closed, position = True, position + 1
                break
            try:
                item, end = _DECODER.raw_decode(text, position)
            except json.JSONDecodeError:
                break
            yield item
            position = end
        text = text[position:]
    assert opened and closed and not text.strip() and not pending, "the array did not end properly"
