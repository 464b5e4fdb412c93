"""One sync at a time per store: a kernel lock, released even on kill -9.

SQLite: `filelock.FileLock` (flock) on a file beside the database; the lock
file is never deleted, which would let two processes lock two different files.
PostgreSQL: a session advisory lock on a connection held for the whole run.
Who holds the lock is written to the `checkpoints` table so the one refused
can say who and since when.
"""

from __future__ import annotations

import os
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import filelock
from sqlalchemy import Engine, text

from storage.store import Store, now
from sync.errors import LockHeld

HOLDER = "lock.holder"
_POLL_SECONDS = 0.2


@contextmanager
def sync_lock(store: Store, *, wait_seconds: float = 0.0) -> Iterator[None]:
    engine = store.engine
    if engine.dialect.name == "sqlite":
        lock_context = _file_lock(store, wait_seconds)
    else:
        lock_context = _advisory_lock(store, engine, wait_seconds)
    with lock_context:
        with store.write() as tx:
            store.save_checkpoint(tx, HOLDER, f"pid {os.getpid()} on {socket.gethostname()} since {now()}")
        yield


@contextmanager
def _file_lock(store: Store, wait_seconds: float) -> Iterator[None]:
    database = store.engine.url.database or "contacts.db"
    lock = filelock.FileLock(f"{database}.lock", timeout=wait_seconds, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise _held(store) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory_lock(store: Store, engine: Engine, wait_seconds: float) -> Iterator[None]:
    key = zlib.crc32(b"contacts-sync:" + engine.url.render_as_string().encode()) & 0x7FFFFFFF
    deadline = time.monotonic() + wait_seconds
    with engine.connect() as connection:
        while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            connection.rollback()
            if time.monotonic() >= deadline:
                raise _held(store)
            time.sleep(_POLL_SECONDS)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


def _held(store: Store) -> LockHeld:
    with store.read() as tx:
        holder = store.load_checkpoint(tx, HOLDER) or "another process"
    return LockHeld(
        f"another sync of this store is running ({holder}); "
        "try again later, or pass --wait SECONDS to wait for it"
    )
