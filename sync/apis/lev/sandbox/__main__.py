"""``contacts-sync sandbox`` (or ``python -m sync.apis.lev.sandbox``): serve a Lev sandbox until stopped."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sync.apis.lev.sandbox.faults import FaultSpecError
from sync.apis.lev.sandbox.filters import FilterMode


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Serve a local Lev contacts API sandbox on loopback until stopped."
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default %(default)s)")
    parser.add_argument("--contacts", type=int, default=500, help="contacts to seed (default %(default)s)")
    parser.add_argument(
        "--tier",
        choices=["free", "standard", "enterprise", "unlimited"],
        default="unlimited",
        help="rate-limit tier (default %(default)s)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every answer")
    parser.add_argument("--faults", default="", help="fault plan, e.g. '500@3,drop-after@p0.05,seed=7'")
    parser.add_argument(
        "--window-seconds", type=float, default=60.0, help="rate-limit window (shorten it for tests)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the generated data (default %(default)s)"
    )
    parser.add_argument("--token", default=None, help="token to accept (default: a new one, printed)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME=TOKEN",
        help="serve one more account with this token (repeat it; each gets its own contacts)",
    )
    filters = parser.add_mutually_exclusive_group()
    filters.add_argument(
        "--ignore-filters",
        action="store_true",
        help="ignore filter[...] on GET /contacts, like a server without",
    )
    filters.add_argument(
        "--reject-filters", action="store_true", help="answer 400 to filter[...] on GET /contacts"
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m sync.apis.lev.sandbox") -> int:
    from sync.apis.lev.sandbox.server import serve  # the server only once the arguments are good

    args = _parser(prog).parse_args(argv)
    mode: FilterMode = "ignore" if args.ignore_filters else "reject" if args.reject_filters else "apply"
    accounts = [tuple(given.split("=", 1)) for given in args.account]
    if any(len(pair) != 2 or not all(pair) for pair in accounts):
        print(f"{prog}: --account takes NAME=TOKEN", file=sys.stderr)
        return 2
    try:
        serve(
            port=args.port,
            contacts=args.contacts,
            tier=args.tier,
            latency_ms=args.latency_ms,
            faults=args.faults or None,
            window_seconds=args.window_seconds,
            seed=args.seed,
            token=args.token,
            filter_mode=mode,
            accounts=[(name, token) for name, token in accounts],
        )
    except FaultSpecError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
