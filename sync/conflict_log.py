"""How a merge's conflicts reach the run's log, from the pull and from the push alike."""

from __future__ import annotations

import structlog

from storage.store import MergedContact

log = structlog.get_logger("sync.engine")


def log_conflicts(local_id: int, merged: MergedContact, *, policy: str) -> None:
    # Field names and outcomes only: the values are personal data, shown at debug alone.
    for conflict in merged.merge.conflicts:
        log.info(
            "sync.conflict",
            local_id=local_id,
            contact_id=merged.contact_id,
            field=conflict.field,
            policy=policy,
            winner=conflict.winner,
        )
        log.debug(
            "sync.conflict.values",
            local_id=local_id,
            contact_id=merged.contact_id,
            field=conflict.field,
            base=conflict.base,
            local=conflict.local,
            remote=conflict.remote,
        )
