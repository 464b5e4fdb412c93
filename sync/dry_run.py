"""`sync --dry-run`: the writes the store calls for right now, sent nowhere.

It plans from the store as last synced, without pulling (a pull would change
the store), so remote edits made since the last sync are not taken into account.
"""

from __future__ import annotations

from collections.abc import Iterator

from storage.store import Store
from sync.lev.wire import LevWireRules
from sync.plan import plan_row


def preview_writes(store: Store, *, conflict_policy: str) -> Iterator[str]:
    rules = LevWireRules()
    count = 0
    with store.read() as tx:
        for saved in store.load_pending_writes(tx):
            count += 1
            yield (
                f"{saved.method} {saved.path} {saved.body.decode()}"
                f"  # local_id {saved.local_id}, left pending by an earlier run"
            )
        for row in store.load_row_states(tx):
            planned = plan_row(row, rules)
            if planned.write:
                count += 1
                request = planned.write.request
                yield f"{request.method} {request.path} {request.body.decode()}  # local_id {row.local_id}"
            if planned.rejection:
                yield f"# local_id {row.local_id} would be refused: {planned.rejection.reason}"
    yield f"# {count} write(s) would be sent (policy {conflict_policy}); nothing was sent"
