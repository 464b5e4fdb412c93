"""What the three API sandboxes (Lev, companies, sessions) share, and nothing they do differently.

``server``: the threaded loopback HTTP server, its quiet keep-alive handler base
and the background-thread lifecycle. ``foreground``: running one until
SIGINT/SIGTERM. ``requestlog``: the logged request and the state's request log
and counters. ``admin``: the JSON-object body every ``/_admin`` route reads.
Each sandbox keeps its own wire format (envelope, FastAPI ``detail``, Express
pages), routes, fault kinds and CLI.
"""
