"""Deterministic seeded data: N companies x M contacts, shared out among the accounts.

The same arguments always give the same companies, ids and contacts. Company
``k`` (0-based) belongs to account ``k % accounts + 1``. Contacts look like an
Indian B2B CRM's: mostly ``+91-9xxxxxxxxx`` mobiles, some foreign or missing
numbers, some non-ASCII names, nullable fields sometimes null, and at most one
primary contact per company. The first company holds hand-picked awkward
cases: two contacts sharing one ``sales@`` address, a contact with every
optional field null, an apostrophe and a diaeresis; the second company's first
contact has the same email as the first company's (someone who moved).
"""

from __future__ import annotations

import functools
import random
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sync.apis.companies.sandbox.contacts import Company, Contact
from sync.apis.lev.sandbox.envelope import utc_stamp

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Priya", "Arjun", "Aditi", "Rohan", "Kavya", "Vikram", "Meera", "Sanjay", "Ananya", "Rahul",
    "Deepika", "Karthik", "Neha", "Aravind", "Lakshmi", "Farhan", "Gurpreet", "Sneha", "Zoë", "José",
    "Anaïs", "Søren", "Emily", "David", "Fatima", "Chen", "Oluwaseun", "Siobhán",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Sharma", "Iyer", "Reddy", "Nair", "Patel", "Gupta", "Menon", "Singh", "Khan", "Mukherjee",
    "Rao", "Desai", "Joshi", "Pillai", "D'Souza", "Fernandes", "Bose", "Kulkarni", "Müller", "Núñez",
    "O'Brien", "Wang",
)  # fmt: skip
COMPANY_NAMES: Final[tuple[str, ...]] = (
    "Acme Corp", "Sahyadri Foods", "Kaveri Textiles", "Nilgiri Software", "Brightwave Solar",
    "Coromandel Freight", "Deccan Analytics", "Everest Pharma", "Ganga Logistics", "Indus Fintech",
    "Konkan Shipping", "Lotus Hospitality",
)  # fmt: skip
DESIGNATIONS: Final[tuple[str | None, ...]] = (
    "Sales Manager", "Head of Sales", "Procurement Lead", "Chief Financial Officer", "Founder",
    "Account Executive", "Operations Manager", "HR Business Partner", "Purchase Officer", None, None,
)  # fmt: skip
EPOCH: Final[datetime] = datetime(2023, 1, 1, tzinfo=UTC)
SEED_SPAN_SECONDS: Final[int] = 3 * 365 * 24 * 3600


@dataclass(frozen=True)
class SeededData:
    companies: tuple[Company, ...]
    # In created order, ``seq`` 1.. assigned.
    contacts: tuple[Contact, ...]


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so seeded ids repeat run after run."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def company_name(index: int) -> str:
    base = COMPANY_NAMES[index % len(COMPANY_NAMES)]
    lap = index // len(COMPANY_NAMES)
    return base if lap == 0 else f"{base} {lap + 1}"


def _domain(name: str) -> str:
    # "Acme Corp" -> acme.com, "Acme Corp 2" -> acme2.com: like the docs' john@acme.com.
    words = name.lower().split()
    suffix = words[-1] if words[-1].isdigit() else ""
    return f"{_ascii(words[0])}{suffix}.com"


@functools.cache
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())


def seed_data(*, accounts: int, companies: int, contacts_per_company: int, seed: int) -> SeededData:
    if accounts < 1 or companies < 0 or contacts_per_company < 0:
        raise ValueError(
            f"accounts={accounts}, companies={companies}, contacts per company={contacts_per_company}: "
            "give at least one account, and no negative counts"
        )
    rng = random.Random(seed)
    company_list = tuple(
        Company(
            id=random_uuid(rng),
            name=company_name(k),
            domain=_domain(company_name(k)),
            account=k % accounts + 1,
        )
        for k in range(companies)
    )
    drafts: list[dict[str, Any]] = []
    for index, company in enumerate(company_list):
        people = [_person(rng, company) for _ in range(contacts_per_company)]
        if index == 0:
            _curate_first(people, company)
        if index == 1 and people and drafts:
            people[0].update(first_name="Priya", last_name="Sharma", email=drafts[0]["email"])
        _pick_primary(rng, people, curated=index == 0)
        drafts += people
    drafts.sort(key=lambda draft: draft["created"])
    contacts = tuple(_contact(draft, seq) for seq, draft in enumerate(drafts, start=1))
    return SeededData(companies=company_list, contacts=contacts)


def _person(rng: random.Random, company: Company) -> dict[str, Any]:
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES) if rng.random() > 0.08 else None
    local = ".".join(_ascii(part).lower() for part in (first, last) if part)
    if rng.random() < 0.1:
        local = local.capitalize()
    created = EPOCH + timedelta(seconds=rng.randrange(int(SEED_SPAN_SECONDS * 0.8)))
    updated = created + timedelta(seconds=rng.randrange(int(SEED_SPAN_SECONDS * 0.2)))
    return {
        "id": random_uuid(rng),
        "company_id": company.id,
        "first_name": first,
        "last_name": last,
        "email": f"{local}@{company.domain}",
        "phone": _phone(rng),
        "designation": rng.choice(DESIGNATIONS),
        "is_primary": False,
        "created": created,
        "updated": updated,
    }


def _phone(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.7:
        return f"+91-{rng.choice('6789')}{rng.randrange(10**9):09d}"
    if roll < 0.8:
        return f"+1-212-555-01{rng.randrange(100):02d}"
    if roll < 0.85:
        return f"+44-20-7946-0{rng.randrange(1000):03d}"
    return None


def _curate_first(people: list[dict[str, Any]], company: Company) -> None:
    curated: tuple[dict[str, Any], ...] = (
        {"first_name": "Priya", "last_name": "Sharma", "email": f"priya.sharma@{company.domain}"},
        {"first_name": "Zoë", "last_name": "D'Souza", "email": f"zoe.dsouza@{company.domain}"},
        {
            "first_name": "Arjun",
            "last_name": None,
            "phone": None,
            "designation": None,
            "email": f"sales@{company.domain}",
        },
        {"first_name": "Meera", "last_name": "Iyer", "email": f"sales@{company.domain}"},
    )
    for person, changes in zip(people, curated, strict=False):
        person.update(changes)


def _pick_primary(rng: random.Random, people: list[dict[str, Any]], *, curated: bool) -> None:
    if curated and people:
        people[0]["is_primary"] = True
    elif people and rng.random() < 0.7:
        rng.choice(people)["is_primary"] = True


def _contact(draft: dict[str, Any], seq: int) -> Contact:
    created: datetime = draft["created"]
    return Contact(
        id=draft["id"],
        company_id=draft["company_id"],
        first_name=draft["first_name"],
        last_name=draft["last_name"],
        email=draft["email"],
        phone=draft["phone"],
        designation=draft["designation"],
        is_primary=draft["is_primary"],
        created_at=utc_stamp(created),
        updated_at=utc_stamp(draft["updated"]),
        created=created,
        seq=seq,
    )
