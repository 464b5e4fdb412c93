"""A benchmark Lev server that costs almost no CPU, so a benchmark measures the client.

`python -m bench.fastserver --contacts N [--distinct D] [--filter apply|ignore|reject]
[--latency-ms L] --token T`

The sandbox spends ~550 µs of CPU per contact served (it builds every answer from
its records), so on two shared cores it, not the client, sets the pace. This server
makes up contacts shaped like the sandbox's seed and renders each distinct one's JSON
once, split around its ``id`` and ``email``; a page is a join of those bytes with the
ids and emails filled in (about 0.3 µs a contact). Contacts past `distinct` repeat the
first ones with new ids and emails, so a million-contact account needs the memory of
`distinct` of them.

It serves what the client's pull needs: ``GET /me`` and ``GET /contacts`` (cursor
walk, ``limit``, and ``filter[updated_at][gte]``: ``apply`` lists the contacts
updated at or after it in ``(updated_at, id)`` order, ``ignore`` lists all of
them as a server without the feature would, ``reject`` answers 400). Every
contact is connected; ``updated_at`` never changes (nothing is stored).

For the push benchmark it also answers ``PATCH /contacts/{id}`` and ``POST
/contacts`` after `--latency-ms`: the contact with the sent fields applied, as the
sandbox would, but nothing is kept, so a write costs it a JSON decode and encode.
``GET /_admin/stats`` counts requests per endpoint and gives the arrival span of the
writes; ``POST /_admin/reset`` clears both; ``POST /_admin/filter/<mode>`` switches
the filter mode. Prints ``CONTACTS_SYNC_API_URL=...`` once it listens, like the sandbox.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

API_PREFIX: Final[str] = "/api/external/v2"
PAGE_LIMIT_MAX: Final[int] = 200
UPDATED_GTE: Final[str] = "filter[updated_at][gte]"
FIRST_ID: Final[int] = 101


def _instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# Contacts shaped like the sandbox's seed (bench reaches no API module: see tests/unit/test_adapters.py).
FIRST_NAMES: Final = ("Sarah", "James", "Zoë", "José", "Łukasz", "Mei", "Priya", "Søren", "François", None)
LAST_NAMES: Final = ("Chen", "Núñez", "O'Brien", "Kowalski", "Müller", "Smith", "Patel", "van der Berg", None)
TITLES: Final = ("Managing Director", "Vice President", "Director", "Associate", "Analyst", None, None)
CITIES: Final = (
    ("1 Battery Park Plaza", "New York", "NY", "10004"),
    ("225 Franklin Street", "Boston", "MA", "02110"),
    ("25 Old Broad Street", "London", None, "EC2N 1HQ"),
    ("Friedrichstraße 68", "Berlin", None, "10117"),
)
EPOCH: Final = datetime(2022, 1, 1, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _synthetic(rng: random.Random, index: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    street, city, state, zip_code = rng.choice(CITIES)
    types = rng.choice((["lender_contact"], ["sponsor"], ["lender_contact", "sponsor"]))
    created = EPOCH + timedelta(seconds=rng.randrange(3 * 365 * 86_400))
    updated = created + timedelta(seconds=rng.randrange(300 * 86_400))
    phones = [
        {
            "id": f"ph_{index}_{n}",
            "type": rng.choice(("mobile", "office", "home")),
            "raw": f"(212) 555-{rng.randrange(10_000):04d}",
            "country": "US",
            "e164": f"+1212555{rng.randrange(10_000):04d}",
            "extension": rng.choice((None, None, "204")),
        }
        for n in range(rng.choice((0, 1, 1, 2, 3)))
    ]
    slug = f"{first or 'x'}.{last or 'y'}.{index}".lower().replace(" ", "").replace("'", "")
    return {
        "id": 0,
        "contact_type": types[0],
        "contact_types": types,
        "first_name": first,
        "last_name": last,
        "email": f"{slug}@example{index % 97}.com" if rng.random() > 0.1 else None,
        "title": rng.choice(TITLES),
        "department": rng.choice(("Originations", "Capital Markets", None)),
        "address": street,
        "address2": rng.choice((None, None, None, "Suite 400")),
        "city": city,
        "state": state,
        "zip": zip_code,
        "linkedin_url": f"https://linkedin.com/in/{slug}" if rng.random() < 0.7 else None,
        "photo_url": f"https://cdn.example.com/photos/{index}.jpg" if rng.random() < 0.3 else None,
        "phones": phones,
        "is_primary": rng.random() < 0.1,
        "owner_account_id": 56,
        "is_connected": True,  # GET /contacts lists connected contacts only
        "created_at": _stamp(created),
        "updated_at": _stamp(updated),
    }


@dataclass
class Catalogue:
    """The account's contacts as pre-split JSON: contact i is template i % distinct, id FIRST_ID + i."""

    count: int
    # Per template: JSON before the id, between id and email value, after it; the email (or None).
    parts: list[tuple[bytes, bytes, bytes]]
    emails: list[bytes | None]
    updated: list[float]  # per template: updated_at as POSIX seconds
    _by_updated: list[int] | None = None  # contact indices in (updated_at, id) order
    _keys: list[float] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def seeded(cls, count: int, distinct: int, seed: int = 1) -> Catalogue:
        rng = random.Random(seed)
        records = [_synthetic(rng, index) for index in range(max(1, min(count, distinct)))]
        parts, emails, updated = [], [], []
        for record in records:
            email = record.get("email")
            record["id"] = 0
            record["email"] = "\x00EMAIL\x00" if email is not None else None
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
            before_id, after_id = text.split(b'"id":0', 1)
            if email is not None:
                middle, tail = after_id.split(b'"\\u0000EMAIL\\u0000"', 1)
                emails.append(json.dumps(email, ensure_ascii=False).encode())
            else:
                middle, tail = after_id, b""
                emails.append(None)
            parts.append((before_id + b'"id":', middle, tail))
            moment = _instant(record["updated_at"])
            assert moment is not None  # written below
            updated.append(moment.timestamp())
        return cls(count, parts, emails, updated)

    def contact(self, index: int) -> bytes:
        template, lap = divmod(index, len(self.parts))[::-1]
        head, middle, tail = self.parts[template]
        email = self.emails[template]
        if email is None:
            return b"%s%d%s" % (head, FIRST_ID + index, middle)
        if lap:
            email = b'"l%d.' % lap + email[1:]
        return b"%s%d%s%s%s" % (head, FIRST_ID + index, middle, email, tail)

    def by_updated(self) -> tuple[list[int], list[float]]:
        with self._lock:
            if self._by_updated is None:
                order = sorted(range(self.count), key=lambda i: (self.updated[i % len(self.parts)], i))
                self._by_updated = order
                self._keys = [self.updated[i % len(self.parts)] for i in order]
            assert self._keys is not None
            return self._by_updated, self._keys


@dataclass
class Counts:
    by_endpoint: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Monotonic arrival of the first and last write: the push benchmark's span.
    first_write: float | None = None
    last_write: float | None = None

    def add(self, endpoint: str) -> None:
        with self.lock:
            self.by_endpoint[endpoint] += 1

    def add_write(self, endpoint: str, arrived: float) -> None:
        with self.lock:
            self.by_endpoint[endpoint] += 1
            self.first_write = arrived if self.first_write is None else self.first_write
            self.last_write = arrived

    def clear(self) -> None:
        with self.lock:
            self.by_endpoint.clear()
            self.first_write = self.last_write = None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        catalogue: Catalogue,
        token: str,
        filter_mode: str,
        latency: float = 0.0,
    ) -> None:
        self.catalogue = catalogue
        self.auth = f"Bearer {token}"
        self.filter_mode = filter_mode
        self.latency = latency
        self.counts = Counts()
        self.created = 0
        super().__init__(address, Handler)


def _envelope(data: bytes, pagination: dict[str, Any] | None = None) -> bytes:
    stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    head = b'{"request_id":"%s","timestamp":"%s","data":' % (str(uuid.uuid4()).encode(), stamp.encode())
    if pagination is None:
        return head + data + b"}"
    return head + data + b',"pagination":' + json.dumps(pagination).encode() + b"}"


def _error(status: int, message: str) -> bytes:
    error = {"status": status, "type": "bad_request" if status == 400 else "error", "message": message}
    return json.dumps({"request_id": str(uuid.uuid4()), "error": {**error, "details": {}}}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: logging costs CPU
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.path == "/_admin/reset":
            self.server.counts.clear()
            self._send(200, b'{"data":{}}')
            return
        if self.path.startswith("/_admin/filter/"):  # switch the filter mode without a restart
            mode = self.path.rsplit("/", 1)[1]
            if mode in ("apply", "ignore", "reject"):
                self.server.filter_mode = mode
                self._send(200, b'{"data":{}}')
                return
        if self.path.startswith(API_PREFIX):
            self._write("POST")
            return
        self._send(404, _error(404, "not found"))

    def do_PATCH(self) -> None:
        self._write("PATCH")

    def _write(self, method: str) -> None:
        """A create or an update answered after the latency, as if applied; nothing is kept."""
        arrived = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Authorization") != self.server.auth:
            self._send(401, _error(401, "invalid token"))
            return
        path = urlsplit(self.path).path.removeprefix(API_PREFIX)
        catalogue = self.server.catalogue
        try:
            fields = json.loads(body)
            if not isinstance(fields, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._send(400, _error(400, f"the body is not a JSON object: {exc}"))
            return
        if method == "POST" and path == "/contacts":
            with self.server.counts.lock:
                self.server.created += 1
                number = catalogue.count + self.server.created
            contact = json.loads(catalogue.contact(0))
            contact["id"] = FIRST_ID + number
            status = 201
        elif method == "PATCH" and path.startswith("/contacts/") and path[10:].isdigit():
            index = int(path[10:]) - FIRST_ID
            if not 0 <= index < catalogue.count:
                self._send(404, _error(404, f"no contact {path[10:]}"))
                return
            contact, status = json.loads(catalogue.contact(index)), 200
        else:
            self._send(404, _error(404, f"no route {method} {path}"))
            return
        contact.update(fields)
        contact["updated_at"] = _stamp(datetime.now(UTC))
        self.server.counts.add_write(f"{method} /contacts", arrived)
        time.sleep(max(0.0, arrived + self.server.latency - time.monotonic()))
        self._send(status, _envelope(json.dumps(contact).encode()))

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_admin/stats":
            tally = self.server.counts
            with tally.lock:
                counts = dict(tally.by_endpoint)
                first, last = tally.first_write, tally.last_write
            span = None if first is None or last is None else last - first
            self._send(200, json.dumps({"data": {"requests": counts, "write_span_seconds": span}}).encode())
            return
        if self.headers.get("Authorization") != self.server.auth:
            self._send(401, _error(401, "invalid token"))
            return
        path = url.path.removeprefix(API_PREFIX)
        self.server.counts.add(f"GET {path}")
        if path == "/me":
            self._send(200, _envelope(ME))
        elif path == "/contacts":
            status, body = self._contacts({k: v[0] for k, v in parse_qs(url.query).items()})
            self._send(status, body)
        else:
            self._send(404, _error(404, f"no route {path}"))

    def _contacts(self, query: dict[str, str]) -> tuple[int, bytes]:
        catalogue = self.server.catalogue
        try:
            limit = min(PAGE_LIMIT_MAX, max(1, int(query.get("limit", "50"))))
        except ValueError:
            return 400, _error(400, "limit must be an integer")
        gte_text = query.get(UPDATED_GTE)
        mode = self.server.filter_mode
        if gte_text is not None and mode == "reject":
            return 400, _error(400, f"Unknown query parameter {UPDATED_GTE}")
        cursor = query.get("cursor")
        filtered = gte_text is not None and mode == "apply"
        if cursor is not None and cursor.startswith("f") != filtered:
            return 400, _error(400, "this cursor was made with another filter")
        if not filtered:
            start = int(cursor) if cursor else 0
            indices: range | list[int] = range(start, min(catalogue.count, start + limit))
            total, end = catalogue.count, start + len(indices)
            more = end < catalogue.count
            next_cursor = str(end) if more else None
        else:
            assert gte_text is not None
            gte = _instant(gte_text)
            if gte is None:
                return 400, _error(400, f"{UPDATED_GTE} must be an ISO 8601 instant with a zone")
            order, keys = catalogue.by_updated()
            first = bisect.bisect_left(keys, gte.timestamp())
            start = int(cursor[1:]) if cursor else first
            indices = order[start : start + limit]
            total, end = len(order) - first, start + len(indices)
            more = end < len(order)
            next_cursor = f"f{end}" if more else None
        data = b"[" + b",".join(catalogue.contact(i) for i in indices) + b"]"
        pagination = {"total": total, "limit": limit, "has_more": more, "next_cursor": next_cursor}
        return 200, _envelope(data, pagination)


ME: Final[bytes] = json.dumps(
    {
        "user": {"id": 1001, "email": "bench.user@example.com", "name": "Bench User"},
        "account": {"id": 56, "name": "Benchmark Account", "slug": "bench", "account_type": "brokerage"},
        "profile": {},
        "subscription": {"plan": "unlimited"},
        "platform": {
            "api_tier": "unlimited",
            "permission_level": "read_only",
            "rate_limits": {"account_per_window": None, "endpoint_per_window": None, "window_seconds": 60},
        },
    }
).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fastserver", description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--distinct", type=int, default=20_000, help="distinct contacts; others repeat them")
    parser.add_argument("--filter", choices=("apply", "ignore", "reject"), default="apply")
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="how long a write waits for its answer")
    options = parser.parse_args(argv)
    catalogue = Catalogue.seeded(options.contacts, options.distinct, options.seed)
    server = Server(
        ("127.0.0.1", options.port), catalogue, options.token, options.filter, options.latency_ms / 1000
    )
    host, port = server.server_address[:2]

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"CONTACTS_SYNC_API_URL=http://{host!s}:{port}{API_PREFIX}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.5)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
