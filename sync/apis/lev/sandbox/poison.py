"""Values that are valid JSON but poison a client: the ``surrogate``, ``nul`` and ``huge`` faults.

Each changes the ``title`` of the first contact of a 2xx answer (a list's first
row, or the one contact of a get/create/update) on the wire only; the stored
contact is unchanged. A lone surrogate cannot be encoded as UTF-8, so it is
written as the JSON escape ``\\ud800`` (legal JSON that decodes to a string
Python cannot encode back); NUL is the escape ``\\u0000``, which PostgreSQL
text cannot hold.
"""

from __future__ import annotations

import copy
import uuid
from typing import Final

from sync.apis.lev.sandbox.envelope import Reply
from sync.apis.lev.sandbox.faults import HUGE_LENGTH

POISONED_FIELD: Final[str] = "title"
LONE_SURROGATE_ESCAPE: Final[bytes] = b"\\ud800"


def poisoned(reply: Reply, kind: str) -> Reply:
    """``reply`` with its first contact's title poisoned by ``kind``; unchanged if none."""
    if reply.body is None or not 200 <= reply.status < 300:
        return reply
    body = copy.deepcopy(reply.body)
    data = body.get("data")
    contact = data[0] if isinstance(data, list) and data else data
    if not isinstance(contact, dict) or "id" not in contact:
        return reply
    title = contact.get(POISONED_FIELD) or ""
    if kind == "huge":
        contact[POISONED_FIELD] = (title + " " + "x" * HUGE_LENGTH)[:HUGE_LENGTH]
        return Reply(status=reply.status, body=body, headers=dict(reply.headers))
    if kind == "nul":
        contact[POISONED_FIELD] = title + "\x00"  # json.dumps writes it as \u0000
        return Reply(status=reply.status, body=body, headers=dict(reply.headers))
    assert kind == "surrogate", kind
    marker = f"lone-surrogate-{uuid.uuid4().hex}"
    contact[POISONED_FIELD] = title + marker
    encoded = Reply(status=reply.status, body=body).encoded()
    raw = encoded.replace(marker.encode(), LONE_SURROGATE_ESCAPE)
    return Reply(status=reply.status, body=body, headers=dict(reply.headers), raw=raw)
