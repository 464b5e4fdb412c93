"""The session-cookie contacts API (seed 003): an Express app behind a ``connect.sid`` cookie.

Only its bundled sandbox exists so far (``sync.apis.sessions.sandbox``); the
adapter comes later.
"""
