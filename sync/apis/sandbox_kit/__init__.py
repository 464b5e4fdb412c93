"""What the three API sandboxes (Lev, companies, sessions) share, and nothing they do differently.

``server``: the threaded loopback HTTP server, its quiet keep-alive handler base
(body reading, delays, dropped connections) and the background-thread
lifecycle. ``foreground``: running one until SIGINT/SIGTERM. ``request``: the
request handed to a sandbox's ``handle_api``. ``requestlog``: the logged
request and the state's request log and counters. ``faults``: the fault plan
(counting, seeded draws, how rules combine) under each sandbox's own grammar.
``admin``: JSON-object bodies and the ``/faults``, ``/log``, ``/counters``
routes. Each sandbox keeps its own wire format (Lev's envelope, FastAPI's
``detail``, Express's pages), routes, fault kinds, settings and CLI.
"""
