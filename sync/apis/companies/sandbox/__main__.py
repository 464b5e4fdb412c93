"""``python -m sync.apis.companies.sandbox``: serve a companies sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sync.apis.companies.sandbox.foreground import DEFAULT_PORT, serve
from sync.apis.companies.sandbox.validation import DEFAULT_LIMIT
from sync.apis.sandbox_kit.faults import FaultSpecError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sync.apis.companies.sandbox",
        description="Serve a local companies contacts API (seed 004) on loopback until Ctrl-C.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument(
        "--accounts", type=int, default=2, help="tokens, each owning companies (default %(default)s)"
    )
    parser.add_argument("--companies", type=int, default=4, help="companies in all (default %(default)s)")
    parser.add_argument("--contacts", type=int, default=25, help="contacts per company (default %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the generated data (default %(default)s)"
    )
    parser.add_argument(
        "--token", action="append", default=[], help="token of the next account (repeatable); else generated"
    )
    parser.add_argument(
        "--max-limit", type=int, default=DEFAULT_LIMIT, help="largest accepted ?limit= (default %(default)s)"
    )
    parser.add_argument(
        "--rate-window-seconds", type=float, default=60.0, help="rate-limit window (default %(default)s)"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every API answer")
    parser.add_argument(
        "--faults", default=None, help="fault SPEC, e.g. 'drop-after@1/POST,500@p0.05,seed=7'"
    )
    parser.add_argument("--retry-after-header", action="store_true", help="send Retry-After with every 429")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        serve(
            args.port,
            accounts=args.accounts,
            companies=args.companies,
            contacts_per_company=args.contacts,
            seed=args.seed,
            tokens=args.token,
            max_limit=args.max_limit,
            window_seconds=args.rate_window_seconds,
            latency_ms=args.latency_ms,
            faults=args.faults,
            retry_after_header=args.retry_after_header,
            host=args.host,
        )
    except (ValueError, FaultSpecError) as exc:
        print(f"companies sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"companies sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
