"""A local stand-in for the companies contacts API (seed 004), served over loopback.

``CompaniesState`` is the data and everything the server remembers (accounts
and their tokens, companies, contacts, rate limits, faults, switches, request
log); ``CompaniesServer`` serves it over HTTP/1.1; ``serve`` runs one in the
foreground for the CLI (also ``python -m sync.apis.companies.sandbox``);
``running_sandbox`` is the test helper. Faults use the Lev SPEC grammar (see
``faults``); the admin routes are in ``admin``.
"""

from sync.apis.companies.sandbox.faults import Faults
from sync.apis.companies.sandbox.foreground import serve
from sync.apis.companies.sandbox.server import CompaniesServer
from sync.apis.companies.sandbox.state import CompaniesState
from sync.apis.companies.sandbox.testing import running_sandbox
from sync.apis.sandbox_kit.faults import FaultSpecError

__all__ = [
    "CompaniesServer",
    "CompaniesState",
    "FaultSpecError",
    "Faults",
    "running_sandbox",
    "serve",
]
