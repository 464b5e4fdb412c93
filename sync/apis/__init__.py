"""The contacts APIs, one self-contained folder each (client, wire rules, fields, sandbox).

`adapter.py` says what any API is to the engine (an `Adapter` value), `registry.py`
names the ones there are; code above this package imports only those two (and
`kinds.py`), never an API's folder.
"""
