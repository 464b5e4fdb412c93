"""The `api` setting at the command line: an API the product does not know stops before anything."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli_edges import cli_env, run


def test_an_unknown_api_flag_exits_2_naming_the_flag_and_creates_nothing(tmp_path: Path) -> None:
    """`sync --api levv` exits 2 with one line naming `--api` and the APIs there are; no store is made."""
    database = tmp_path / "contacts.db"
    code, _, err = run(
        "sync",
        "--api",
        "levv",
        "--database-url",
        f"sqlite:///{database}",
        env=cli_env(CONTACTS_SYNC_API_TOKEN="lev_sk_api_setting"),
        cwd=tmp_path,
    )
    assert code == 2
    known = "companies, lev, sessions"
    said = "contacts-sync: --api: unknown API 'levv'; the APIs contacts-sync syncs with are"
    assert err == [f"{said}: {known}"]
    assert list(tmp_path.iterdir()) == []
