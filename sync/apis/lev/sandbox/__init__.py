"""A faithful local stand-in for the Lev contacts API, served over loopback.

``SandboxState`` is the account (data, idempotency keys, rate limits, faults,
request log); ``SandboxServer`` serves it over HTTP/1.1; ``serve`` runs one in
the foreground for the CLI; ``running_sandbox`` is the test helper. The fault
SPEC grammar is in ``faults``, the admin routes in ``admin``, the
``filter[updated_at][gte|lte]`` range of GET /contacts in ``filters``.
"""

from sync.apis.lev.sandbox.faults import FaultPlan, FaultSpecError
from sync.apis.lev.sandbox.server import SandboxServer, serve
from sync.apis.lev.sandbox.state import SandboxState
from sync.apis.lev.sandbox.testing import running_sandbox

__all__ = [
    "FaultPlan",
    "FaultSpecError",
    "SandboxServer",
    "SandboxState",
    "running_sandbox",
    "serve",
]
