"""Every contacts API the product syncs with, by the name the `api` setting gives.

The one place above an API's folder that names it: a new API is a folder and a
line here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from sync.apis.adapter import Adapter
from sync.apis.companies.adapter import COMPANIES
from sync.apis.lev.adapter import LEV
from sync.apis.sessions.adapter import SESSIONS

DEFAULT_API: Final = "lev"
ADAPTERS: Final = MappingProxyType({adapter.name: adapter for adapter in (LEV, COMPANIES, SESSIONS)})


def adapter_named(name: str) -> Adapter:
    """The adapter of a name the settings have already checked against ADAPTERS."""
    return ADAPTERS[name]
