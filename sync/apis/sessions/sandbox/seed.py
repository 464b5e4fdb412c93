"""Deterministic seeded contacts for the sessions sandbox.

The same ``(count, seed, first_id)`` always gives the same records. The first
few are hand-picked awkward cases (non-ASCII and astral-plane names, mixed-case
and plus-addressed emails, nested metadata, an inactive contact, every
nullable field null); the rest are drawn at random. Ids ascend with gaps, as
rows deleted over the years leave them. Emails carry the contact id, so they
are unique without a lookup.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from sync.apis.sessions.sandbox.contacts import CONTACT_TYPES, new_record, render
from sync.apis.sessions.sandbox.wire import encode_json

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Sarah", "James", "Zoë", "José", "Łukasz", "Mei", "Priya", "Oluwaseun", "Søren",
    "François", "Ana", "Chloé", "Björn", "Aiko", "Michael", "Emily", "David", "Fatima",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Chen", "Rodriguez", "Núñez", "O'Brien", "Kowalski", "Müller", "Smith", "Patel",
    "García", "Nakamura", "Dubois", "Johansson", "van der Berg", "Okafor", "Kim", "Lee",
)  # fmt: skip
COMPANIES: Final[tuple[str | None, ...]] = (
    "Acme Corp", "Globex", "Initech", "Umbrella Health", "Société Générale d'Études",
    "Stark Industries", "Wayne Enterprises", None,
)  # fmt: skip
TITLES: Final[tuple[str | None, ...]] = (
    "VP of Sales", "Account Manager", "CTO", "Consultant", "Partner", "Buyer", None, None,
)  # fmt: skip
DEPARTMENTS: Final[tuple[str | None, ...]] = ("Sales", "Engineering", "Finance", "Procurement", None)
# (fullName, mentionName, email local part, type, isActive, metadata); all other fields null.
CURATED: Final[tuple[tuple[str, str | None, str, str, bool, dict[str, Any] | None], ...]] = (
    ("Jane Smith", "jsmith", "Jane.Smith", "client", True, {"source": "seed", "tags": ["vip"]}),
    ("Zoë Ünal-Núñez", "zoe", "zoe+work", "external", True, {"note": "Grüße, 日本語 ok"}),
    ("山田 太郎", None, "taro.yamada", "partner", True, None),
    ("Ana 🌻 Ferreira", "ana", "ANA.FERREIRA", "vendor", True, {"nested": {"depth": [1, {"two": None}]}}),
    ("Old Contact", None, "old.contact", "client", False, None),
)
EPOCH: Final[datetime] = datetime(2022, 1, 1, tzinfo=UTC)
SPAN_SECONDS: Final[int] = 3 * 365 * 24 * 3600
T = TypeVar("T")


@dataclass(frozen=True)
class SeededContact:
    id: int
    email: str
    rendered: bytes


def seed_contacts(
    count: int, seed: int = 0, *, first_id: int = 1, curated: bool = True
) -> Iterator[SeededContact]:
    """``count`` rendered contacts with ids from ``first_id`` upwards (gaps included).

    ``curated`` starts with the hand-picked cases; later batches leave it off.
    """
    rng = random.Random(seed)
    contact_id = first_id
    skip = 0 if curated else len(CURATED)
    for index in range(count):
        if index + skip < len(CURATED):
            yield _curated(rng, index + skip, contact_id)
        else:
            yield _drawn(rng, contact_id)
        contact_id += _pick(rng, (1, 1, 1, 1, 2, 3))


def _curated(rng: random.Random, index: int, contact_id: int) -> SeededContact:
    created_ms, updated_ms = _stamps_ms(rng)
    name, mention, local, kind, active, metadata = CURATED[index]
    fields: dict[str, Any] = {
        "fullName": name,
        "mentionName": mention,
        "email": f"{local}.{contact_id}@example.com",
        "phone": None,
        "company": None,
        "title": None,
        "department": None,
        "type": kind,
        "isActive": active,
        "metadata": metadata,
    }
    record = new_record(contact_id, fields, stamp=_stamp(created_ms))
    record["updatedAt"] = _stamp(updated_ms)
    return SeededContact(contact_id, record["email"], render(record))


def _drawn(rng: random.Random, contact_id: int) -> SeededContact:
    """A random contact, rendered from cached JSON fragments: seeding 200,000 must be quick.

    The result equals ``render`` of the same record (a test holds it to that);
    emails and phones are plain ASCII, so they need no escaping.
    """
    created_ms, updated_ms = _stamps_ms(rng)
    first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
    slug = _ascii_slug(f"{first} {last}")
    company = _pick(rng, COMPANIES)
    email = f"{slug}.{contact_id}@{_domain(company)}"
    mention = _json(slug.replace(".", "")) if rng.random() < 0.6 else "null"
    number = int(rng.random() * 9_000_000) + 1_000_000
    phone = f'"+1-555-{number // 10000}-{number % 10000:04d}"' if rng.random() < 0.7 else "null"
    title, department, kind = _pick(rng, TITLES), _pick(rng, DEPARTMENTS), _pick(rng, CONTACT_TYPES)
    active = "true" if rng.random() >= 0.05 else "false"
    score = int(rng.random() * 100)
    metadata = f'{{"source":"import","score":{score}}}' if rng.random() < 0.3 else "null"
    text = (
        f'{{"id":{contact_id},"fullName":{_json(f"{first} {last}")},"mentionName":{mention},'
        f'"email":"{email}","phone":{phone},"company":{_json(company)},"title":{_json(title)},'
        f'"department":{_json(department)},"type":"{kind}","isActive":{active},"metadata":{metadata},'
        f'"createdAt":"{_stamp(created_ms)}","updatedAt":"{_stamp(updated_ms)}"}}'
    )
    return SeededContact(contact_id, email, text.encode())


def _stamps_ms(rng: random.Random) -> tuple[int, int]:
    """(createdAt, updatedAt) as milliseconds after ``EPOCH``."""
    created_ms = int(rng.random() * SPAN_SECONDS * 800)
    return created_ms, created_ms + int(rng.random() * SPAN_SECONDS * 200)


def _stamp(ms_after_epoch: int) -> str:
    """``js_stamp(EPOCH + ms)`` by integer arithmetic, a day's date computed once."""
    day, ms = divmod(ms_after_epoch, 86_400_000)
    seconds, ms = divmod(ms, 1000)
    return f"{_day(day)}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}Z"


@functools.cache
def _day(day: int) -> str:
    return (EPOCH + timedelta(days=day)).date().isoformat()


@functools.cache
def _json(value: str | None) -> str:
    return encode_json(value).decode()


def _pick(rng: random.Random, values: Sequence[T]) -> T:
    return values[int(rng.random() * len(values))]


@functools.cache
def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("Ł", "L").replace("ø", "o"))
    letters = "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch == " "))
    return ".".join(letters.lower().split()) or "contact"


@functools.cache
def _domain(company: str | None) -> str:
    return "example.org" if company is None else _ascii_slug(company).replace(".", "") + ".example"
