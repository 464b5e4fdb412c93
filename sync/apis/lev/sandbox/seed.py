"""Deterministic seeded account data: companies and realistic, varied contacts.

The same ``(n, seed)`` always gives the same records. The first few contacts
are hand-picked awkward cases (non-ASCII names, extensions, foreign numbers,
both contact types) so even a tiny sandbox exercises them; the rest are drawn
at random: nullable fields left null, 0-3 phones, about 10% not connected, at
most one primary contact per company, some ``address2`` and ``photo_url``.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sync.apis.lev.sandbox.contacts import new_record
from sync.apis.lev.sandbox.envelope import utc_stamp
from sync.apis.lev.sandbox.phones import normalise_phone

DEFAULT_ACCOUNT_ID: Final[int] = 56
FIRST_CONTACT_ID: Final[int] = 101

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Sarah", "James", "Zoë", "José", "Łukasz", "Mei", "Priya", "Oluwaseun", "Søren",
    "François", "Ana", "Chloé", "Björn", "Aiko", "Michael", "Emily", "David", "Fatima",
    "Ravi", "Hannah", "Omar", "Grace", "Mateo", "Siobhán", "Jürgen", "Dmitri", "Leila",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Chen", "Rodriguez", "Núñez", "O'Brien", "Kowalski", "Müller", "Smith", "Patel",
    "García", "Nakamura", "Dubois", "Johansson", "van der Berg", "Okafor", "Kim", "Lee",
    "Nguyen", "Ivanova", "Schmidt", "Ferreira", "Haddad", "Walsh", "Brennan-Hughes",
)  # fmt: skip
COMPANY_NAMES: Final[tuple[str, ...]] = (
    "Meridian Capital", "Eastdil Secured", "Walker & Dunlop", "Berkadia", "Greystone",
    "Northmarq", "Harbor Point Lending", "Blue Ridge Partners", "Cascadia Realty Credit",
    "Lakeshore Bancorp", "Summit Peak Equity", "Östra Fastigheter", "Crédit Immobilier Lyon",
)  # fmt: skip
TITLES: Final[tuple[str | None, ...]] = (
    "Managing Director", "Senior Vice President", "Vice President", "Director",
    "Associate", "Analyst", "Principal", "Head of Originations", None, None,
)  # fmt: skip
DEPARTMENTS: Final[tuple[str | None, ...]] = (
    "Originations", "Debt Capital Markets", "Asset Management", "Acquisitions",
    "Capital Markets", None, None, None,
)  # fmt: skip
# (address, city, state, zip); the foreign ones have no US state.
ADDRESSES: Final[tuple[tuple[str, str, str | None, str], ...]] = (
    ("1 Battery Park Plaza", "New York", "NY", "10004"),
    ("40 West 57th Street", "New York", "NY", "10019"),
    ("225 Franklin Street", "Boston", "MA", "02110"),
    ("600 Montgomery Street", "San Francisco", "CA", "94111"),
    ("200 South Wacker Drive", "Chicago", "IL", "60606"),
    ("1999 Avenue of the Stars", "Los Angeles", "CA", "90067"),
    ("2001 Ross Avenue", "Dallas", "TX", "75201"),
    ("1180 Peachtree Street NE", "Atlanta", "GA", "30309"),
    ("25 Old Broad Street", "London", None, "EC2N 1HQ"),
    ("Friedrichstraße 68", "Berlin", None, "10117"),
    ("丸の内1-1-1", "東京都千代田区", None, "100-0005"),
    ("Paseo de la Reforma 250", "Ciudad de México", "CDMX", "06600"),
)
ADDRESS2: Final[tuple[str, ...]] = ("Suite 1200", "Floor 12", "Suite 300B", "Unit 7", "4th Floor")
# (raw, country, extension): US numbers in the fictional 555-01xx range and foreign ones.
PHONE_SHAPES: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("(212) 555-01{n:02d}", "US", None),
    ("212.555.01{n:02d} x204", "US", None),
    ("+1 415 555 01{n:02d}", "US", None),
    ("646-555-01{n:02d}", "US", "31"),
    ("312 555 01{n:02d}", "US", None),
    ("+44 20 7946 0{n:03d}", "US", None),
    ("020 7946 0{n:03d}", "GB", None),
    ("+49 30 9018{n:02d}0", "US", None),
    ("+81 3-1234-56{n:02d}", "US", None),
    ("+52 55 1234 56{n:02d}", "US", "12"),
)
PHONE_TYPE_WEIGHTS: Final[tuple[tuple[str, int], ...]] = (("mobile", 6), ("office", 5), ("fax", 1))

# Hand-picked first contacts: (first, last, contact_types, phones as PHONE_SHAPES indexes).
CURATED: Final[tuple[tuple[str | None, str | None, tuple[str, ...], tuple[int, ...]], ...]] = (
    ("Zoë", "Walsh", ("lender_contact",), (1,)),
    ("José", "Núñez", ("sponsor", "lender_contact"), (0, 9)),
    ("Łukasz", "Kowalski", ("lender_contact",), (7,)),
    ("太郎", "山田", ("sponsor",), (8,)),
    ("Siobhán", "O'Brien", ("lender_contact", "sponsor"), (5, 4, 3)),
    (None, "Haddad", ("lender_contact",), ()),
)
EPOCH: Final[datetime] = datetime(2023, 1, 1, tzinfo=UTC)
SEED_SPAN: Final[timedelta] = timedelta(days=3 * 365)


def company_count(contacts: int) -> int:
    return max(5, contacts // 10)


def company_name(company_id: int) -> str:
    """Names cycle through the list, numbered once it runs out."""
    base = COMPANY_NAMES[(company_id - 1) % len(COMPANY_NAMES)]
    lap = (company_id - 1) // len(COMPANY_NAMES)
    return base if lap == 0 else f"{base} {lap + 1}"


def seed_companies(count: int) -> dict[int, dict[str, Any]]:
    """Companies 1..count."""
    return {cid: {"id": cid, "name": company_name(cid)} for cid in range(1, count + 1)}


def seed_contacts(n: int, seed: int = 0, *, account_id: int = DEFAULT_ACCOUNT_ID) -> list[dict[str, Any]]:
    """``n`` stored contact records (public fields plus ``company_id``), ids ascending."""
    rng = random.Random(seed)
    companies = company_count(n)
    phone_ids = (f"ph_{i}" for i in itertools.count(1))
    contact_ids = _contact_ids(rng)
    records = [
        _contact(rng, index, next(contact_ids), companies, phone_ids, account_id) for index in range(n)
    ]
    _pick_primaries(rng, records)
    _make_emails_unique(records)
    return records


def _contact_ids(rng: random.Random) -> Iterator[int]:
    # Gaps, as rows deleted over the years leave them.
    contact_id = FIRST_CONTACT_ID
    while True:
        yield contact_id
        contact_id += rng.choice((1, 1, 1, 2, 3))


def _contact(
    rng: random.Random,
    index: int,
    contact_id: int,
    companies: int,
    phone_ids: Iterator[str],
    account_id: int,
) -> dict[str, Any]:
    if index < len(CURATED):
        first, last, types, shapes = CURATED[index]
        contact_types = list(types)
        phone_shapes = list(shapes)
    else:
        first = rng.choice(FIRST_NAMES) if rng.random() > 0.02 else None
        last = rng.choice(LAST_NAMES) if rng.random() > 0.02 else None
        roll = rng.random()
        if roll < 0.1:
            contact_types = rng.sample(["lender_contact", "sponsor"], 2)
        else:
            contact_types = ["lender_contact" if roll < 0.65 else "sponsor"]
        phone_shapes = [rng.randrange(len(PHONE_SHAPES)) for _ in range(rng.choice((0, 1, 1, 2, 3)))]
    company_id = rng.randint(1, companies)
    street, city, state, zip_code = rng.choice(ADDRESSES)
    has_address = rng.random() > 0.15
    created = EPOCH + timedelta(seconds=rng.randrange(int(SEED_SPAN.total_seconds() * 0.8)))
    updated = created + timedelta(seconds=rng.randrange(int(SEED_SPAN.total_seconds() * 0.2)))
    slug = _ascii_slug(first, last, contact_id)
    fields: dict[str, Any] = {
        "first_name": first,
        "last_name": last,
        "email": f"{slug}@{_domain(company_id)}" if rng.random() > 0.1 else None,
        "title": rng.choice(TITLES),
        "department": rng.choice(DEPARTMENTS),
        "address": street if has_address else None,
        "address2": rng.choice(ADDRESS2) if has_address and rng.random() < 0.25 else None,
        "city": city if has_address else None,
        "state": state if has_address else None,
        "zip": zip_code if has_address else None,
        "linkedin_url": f"https://linkedin.com/in/{slug}" if rng.random() < 0.7 else None,
        "photo_url": f"https://cdn.lev.com/photos/{contact_id}.jpg" if rng.random() < 0.3 else None,
        "phones": [_phone(rng, shape, index, phone_ids) for shape in phone_shapes],
    }
    record = new_record(
        contact_id,
        contact_types=contact_types,
        company_id=company_id,
        owner_account_id=account_id,
        stamp=utc_stamp(created),
        connected=index < len(CURATED) or rng.random() >= 0.1,
        fields=fields,
    )
    record["updated_at"] = utc_stamp(updated)
    return record


def _phone(rng: random.Random, shape: int, index: int, phone_ids: Iterator[str]) -> dict[str, Any]:
    raw_pattern, country, extension = PHONE_SHAPES[shape]
    phone_type = rng.choices(
        [name for name, _ in PHONE_TYPE_WEIGHTS], [weight for _, weight in PHONE_TYPE_WEIGHTS]
    )[0]
    phone_in: dict[str, Any] = {
        "raw": raw_pattern.format(n=index % 100),
        "type": phone_type,
        "country": country,
    }
    if extension is not None:
        phone_in["extension"] = extension
    return normalise_phone(phone_in, 0, new_id=lambda: next(phone_ids))


def _pick_primaries(rng: random.Random, records: list[dict[str, Any]]) -> None:
    by_company: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        by_company.setdefault(record["company_id"], []).append(record)
    for company_id in sorted(by_company):
        if rng.random() < 0.6:
            rng.choice(by_company[company_id])["is_primary"] = True


def _make_emails_unique(records: list[dict[str, Any]]) -> None:
    # Two "Sarah Chen"s at one company must not share an address: syncs match on email.
    seen: set[str] = set()
    for record in records:
        email = record["email"]
        if email is None:
            continue
        if email in seen:
            local, _, domain = email.partition("@")
            email = record["email"] = f"{local}{record['id']}@{domain}"
        seen.add(email)


def _ascii_slug(first: str | None, last: str | None, contact_id: int) -> str:
    text = " ".join(part for part in (first, last) if part)
    folded = unicodedata.normalize("NFKD", text.replace("Ł", "L").replace("ł", "l"))
    letters = "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch == " "))
    slug = ".".join(letters.lower().split())
    return slug or f"contact{contact_id}"


def _domain(company_id: int) -> str:
    return _ascii_slug(company_name(company_id), None, company_id).replace(".", "") + ".com"
