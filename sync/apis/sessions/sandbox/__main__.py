"""``python -m sync.apis.sessions.sandbox``: serve the sessions sandbox until Ctrl-C.

Exit status 2 with a one-line message for a bad option (unknown fault kind,
bad switch value), as the product's usage errors do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sync.apis.sessions.sandbox.server import DEFAULT_PORT, serve
from sync.apis.sessions.sandbox.sessions import DEFAULT_ROLE
from sync.apis.sessions.sandbox.state import DUPLICATE_EMAIL_ANSWERS
from sync.apis.sessions.sandbox.wire import ERROR_BODIES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sync.apis.sessions.sandbox",
        description="A local session-cookie contacts API (seed 003) on loopback.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--contacts", type=int, default=500, help="seeded contacts (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--role", default=DEFAULT_ROLE, help="role of the printed session (consultant)")
    p.add_argument("--session-max-age", type=float, default=None, metavar="SECONDS")
    p.add_argument("--faults", default=None, metavar="SPEC", help="the Lev sandbox fault grammar")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--error-body", choices=ERROR_BODIES, default="json")
    p.add_argument("--duplicate-email", choices=DUPLICATE_EMAIL_ANSWERS, default="409")
    p.add_argument("--chunked", action="store_true", help="stream lists with chunked encoding")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        serve(
            port=args.port,
            host=args.host,
            contacts=args.contacts,
            seed=args.seed,
            role=args.role,
            session_max_age=args.session_max_age,
            faults=args.faults,
            latency_ms=args.latency_ms,
            error_body=args.error_body,
            duplicate_email=args.duplicate_email,
            chunked=args.chunked,
        )
    except ValueError as problem:
        print(f"sessions sandbox: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
