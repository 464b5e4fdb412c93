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
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import filelock
from sqlalchemy import Engine, text

from storage.store import Store, now
from sync.errors import Interrupted, LockHeld

HOLDER = "lock.holder"
_POLL_SECONDS = 0.2


@contextmanager
def sync_lock(
    store: Store, *, wait_seconds: float = 0.0, stop: threading.Event | None = None
) -> Iterator[None]:
    """Hold the store's lock; wait for it up to `wait_seconds`, or until `stop` is set."""
    engine = store.engine
    stop = stop or threading.Event()
    if engine.dialect.name == "sqlite":
        lock_context = _file_lock(store, wait_seconds, stop)
    else:
        lock_context = _advisory_lock(store, engine, wait_seconds, stop)
    with lock_context:
        with store.write() as tx:
            store.save_checkpoint(tx, HOLDER, f"pid {os.getpid()} on {socket.gethostname()} since {now()}")
        yield


@contextmanager
def _file_lock(store: Store, wait_seconds: float, stop: threading.Event) -> Iterator[None]:
    database = store.engine.url.database or "contacts.db"
    lock = filelock.FileLock(f"{database}.lock", mode=0o600)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lock.acquire(timeout=max(0.0, min(_POLL_SECONDS, deadline - time.monotonic())))
            break
        except filelock.Timeout:
            _check_wait(store, deadline, stop)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory_lock(
    store: Store, engine: Engine, wait_seconds: float, stop: threading.Event
) -> Iterator[None]:
    key = zlib.crc32(b"contacts-sync:" + engine.url.render_as_string().encode()) & 0x7FFFFFFF
    deadline = time.monotonic() + wait_seconds
    with engine.connect() as connection:
        while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            connection.rollback()
            _check_wait(store, deadline, stop)
            stop.wait(_POLL_SECONDS)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


def _check_wait(store: Store, deadline: float, stop: threading.Event) -> None:
    if stop.is_set():
        raise Interrupted("stopped by a shutdown signal while waiting for the store's lock")
    if time.monotonic() >= deadline:
        raise _held(store)


def _held(store: Store) -> LockHeld:
    with store.read() as tx:
        holder = store.load_checkpoint(tx, HOLDER) or "another process"
    return LockHeld(
        f"another sync of this store is running ({holder}); "
        "try again later, or pass --wait SECONDS to wait for it"
    )
