"""Checking, before a run sends or writes anything, that the API reaches the store's account.

A store synced with account A and then pointed at account B (the sandbox's token
swapped for the real one, a mistyped api_url) would pull B's contacts over A's
rows and push A's pending edits to B. So every run first asks the API whose
account the token reaches and compares it with the one the store recorded on
its first run (sync.identity decides; this module only fetches and saves).
"""

from __future__ import annotations

import structlog

from storage.binding import load_binding, load_has_synced, save_binding, save_rebound
from storage.location import store_location
from storage.locking import sync_lock
from storage.store import Store
from sync.errors import AccountMismatch
from sync.identity import Verdict, compared, described, mismatch_message
from sync.remote import AccountIdentity, Remote

log = structlog.get_logger("sync.binding")


def check_binding(store: Store, remote: Remote) -> AccountIdentity:
    """The account this run talks to; AccountMismatch when the store belongs to another.

    An unbound store (new, or made before stores were bound) is bound to it here,
    before anything else is written.
    """
    current = remote.fetch_identity()
    with store.read() as tx:
        bound = load_binding(tx)
    verdict = compared(bound, current)
    if verdict is Verdict.SAME:
        return current
    if verdict is Verdict.OTHER:
        assert bound is not None
        raise AccountMismatch(mismatch_message(bound, current, store_location(store.engine)))
    with store.write() as tx:
        adopted = verdict is Verdict.UNBOUND and load_has_synced(tx)
        save_binding(store, tx, current)
    if verdict is Verdict.RENAMED:
        assert bound is not None
        log.info("store.binding.renamed", was=bound.account_name, now=current.account_name)
    elif adopted:
        log.warning(
            "store.binding.adopted",
            account=described(current),
            note="this store was made before stores were bound to one account; it now belongs to "
            "this one. If its contacts came from another account, run `contacts-sync reset`",
        )
    else:
        log.info("store.binding.recorded", account=described(current))
    return current


def save_rebind(store: Store, current: AccountIdentity) -> str:
    """Bind the store to `current` under the sync lock; the move is kept in the run history."""
    with sync_lock(store), store.write() as tx:
        return save_rebound(store, tx, current)
