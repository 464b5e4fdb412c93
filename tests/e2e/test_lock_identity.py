"""The lock follows the store, not the spelling of its URL; a timed-out --wait says so."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from storage.locking import sync_lock
from storage.store import Store
from sync.apis.lev.sandbox.server import SandboxServer
from sync.errors import LockHeld
from tests.conftest import LocalTable
from tests.e2e.processes import Cli, created_with


def other_spellings(database_url: str, tmp_path: Path) -> list[str]:
    """Other URLs of the same store: another host name, port or driver, extra parameters, a symlink."""
    if database_url.startswith("sqlite"):
        real = Path(database_url.removeprefix("sqlite:///"))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "link.db").symlink_to(real)
        return [f"sqlite:///{elsewhere / 'link.db'}"]
    url = make_url(database_url)
    assert url.host == "127.0.0.1" and url.query, database_url
    at = f"@127.0.0.1:{url.port}/"
    # Without the port where it is the default one; else the same port, other parameters.
    bare = "@127.0.0.1/" if url.port == 5432 else at
    return [
        database_url.replace("postgresql+psycopg://", "postgresql://").replace(at, f"@localhost:{url.port}/")
        + "&application_name=cron",
        database_url.replace(at, bare) + "&connect_timeout=10",
    ]


@pytest.fixture
def stores(database_url: str, tmp_path: Path) -> Iterator[list[Store]]:
    opened = [Store.open(url) for url in [database_url, *other_spellings(database_url, tmp_path)]]
    yield opened
    for store in opened:
        store.close()


def test_every_spelling_of_one_store_takes_the_same_lock(
    stores: list[Store], request: pytest.FixtureRequest
) -> None:
    """While one spelling of the store's URL holds the lock, every other spelling is refused."""
    first, *others = stores
    with sync_lock(first):
        for other in others:
            with pytest.raises(LockHeld, match=f"pid {os.getpid()} on "), sync_lock(other):
                pass
        if first.engine.dialect.name == "postgresql":
            # Tests run many schemas of one database at once: another schema is another store.
            with another_schema(request.getfixturevalue("pg_server_url")) as url:
                neighbour = Store.open(url)
                try:
                    with sync_lock(neighbour):
                        pass
                finally:
                    neighbour.close()
    for other in others:
        with sync_lock(other):
            pass


@contextlib.contextmanager
def another_schema(server_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{server_url.replace('postgresql://', 'postgresql+psycopg://')}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.slow
def test_two_syncs_under_two_spellings_one_runs_and_nothing_is_created_twice(
    sandbox: SandboxServer, database_url: str, tmp_path: Path
) -> None:
    """Round after round, two syncs started together under two URLs of one store: one runs, one exits 75.

    Each write takes 8 s, so the one that takes the lock holds it long after the
    other, started at the same moment, has reached it; every insert lands once.
    """
    spellings = [database_url, *other_spellings(database_url, tmp_path)]
    table = LocalTable(database_url)
    assert Cli(sandbox, database_url).run("sync").returncode == 0
    sandbox.state.set_faults("slow=8000@p1/WRITE")
    for round_ in range(3):
        for n in range(3):
            table.insert(contact_type="sponsor", company_id=1, first_name=f"Round{round_}-{n}")
        urls = spellings[round_ % len(spellings)], spellings[(round_ + 1) % len(spellings)]
        processes = [Cli(sandbox, url).start("sync") for url in urls]
        outputs = [process.communicate(timeout=120)[0] for process in processes]
        codes = [process.returncode for process in processes]
        assert sorted(codes) == [0, 75], outputs
        ran = processes[codes.index(0)]
        refused = outputs[codes.index(75)]
        assert f"another sync of this store is running (pid {ran.pid} on " in refused
    names = created_with(sandbox, "Round")
    assert names == sorted(f"Round{r}-{n}" for r in range(3) for n in range(3))


@pytest.mark.slow
def test_a_wait_that_runs_out_says_how_long_it_waited_and_who_holds_the_lock(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """`sync --wait 3` behind a held lock exits 75 saying the 3 s ran out and naming the holder."""
    database_url = f"sqlite:///{tmp_path / 'contacts.db'}"
    store = Store.open(database_url)
    try:
        with sync_lock(store):
            done = subprocess.run(
                [sys.executable, "-m", "sync.cli", "sync", "--wait", "3"],
                env=Cli(sandbox, database_url).env,
                capture_output=True,
                text=True,
                timeout=60,
            )
    finally:
        store.close()
    assert done.returncode == 75, done.stderr
    assert "waited 3 s for the store's lock" in done.stderr
    assert f"(pid {os.getpid()} on " in done.stderr
    assert "pass --wait SECONDS to wait for it" not in done.stderr
