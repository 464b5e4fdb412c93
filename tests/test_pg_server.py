"""The throwaway PostgreSQL server the suite falls back on when none answers at the test URL."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from tests.pg_server import server_problem, throwaway_postgres


def test_a_closed_port_is_reported_as_a_problem_naming_the_port() -> None:
    """server_problem says why nothing answers, so the session can fall back and say so."""
    problem = server_problem("postgresql://postgres@127.0.0.1:1/test")
    assert problem is not None and "port 1" in problem


def test_the_throwaway_server_answers_runs_unprivileged_and_leaves_nothing_behind() -> None:
    """A throwaway server takes connections to `test`, never runs as root, and is gone afterwards."""
    with throwaway_postgres() as url:
        assert server_problem(url) is None
        with psycopg.connect(url) as db:
            row = db.execute(
                "SELECT current_database(), pg_backend_pid(), current_setting('data_directory')"
            ).fetchone()
            assert row is not None
            name, backend_pid, data_directory = row
            # While connected: the backend process ends with its connection.
            assert Path(f"/proc/{backend_pid}").stat().st_uid != 0 or os.geteuid() != 0
        assert name == "test"
    assert server_problem(url) is not None
    assert not Path(data_directory).exists()
