"""The adapter layer: one registry names the APIs, the `api` setting picks one, the store follows it."""

from __future__ import annotations

import ast
import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from config.settings import Settings, load_settings
from storage.tables import DEFAULT_TABLES, contacts_table
from sync.apis.kinds import Kind
from sync.apis.registry import ADAPTERS, DEFAULT_API, adapter_named
from sync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
# What code above the adapters may import from sync.apis: the layer's own modules.
LAYER_MODULES = {"sync.apis", "sync.apis.registry", "sync.apis.adapter", "sync.apis.kinds"}


def test_the_api_setting_defaults_to_lev_and_names_a_registered_adapter() -> None:
    """Without an `api` setting the store syncs with Lev, the registry's default."""
    settings, _ = load_settings(environ={})
    assert settings.api == DEFAULT_API == "lev"
    assert adapter_named(settings.api).name == "lev"


@pytest.mark.parametrize(
    ("source", "label"),
    [
        ({"environ": {"CONTACTS_SYNC_API": "levv"}}, "CONTACTS_SYNC_API"),
        ({"environ": {}, "flags": {"api": "levv"}}, "--api"),
    ],
)
def test_an_unknown_api_is_named_under_its_label_with_the_apis_there_are(
    source: dict[str, object], label: str
) -> None:
    """`api = "levv"` is a ConfigError under the name the user gave, listing the known APIs."""
    with pytest.raises(ConfigError) as caught:
        load_settings(**source)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"{label}: unknown API 'levv'"), message
    assert ", ".join(sorted(ADAPTERS)) in message


def test_an_unknown_api_in_the_config_file_names_the_file_and_key(tmp_path: Path) -> None:
    """A bad `api` in the TOML file is reported as `<file>: api: ...`."""
    path = tmp_path / "contacts-sync.toml"
    path.write_text('api = "companies-v9"\n')
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=str(path), environ={})
    assert str(caught.value).startswith(f"{path}: api: unknown API 'companies-v9'")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _own_sandbox(path: Path, module: str) -> bool:
    api = next((name for name in ADAPTERS if path.name.startswith(name)), None)
    return path.parent == ROOT / "bench" and api is not None and module.startswith(f"sync.apis.{api}.sandbox")


def test_nothing_above_the_adapters_imports_a_specific_api() -> None:
    """Engine, store, settings and benchmarks reach an API only through sync.apis.registry;
    a benchmark of one API (bench/<api>*.py) may start that API's sandbox."""
    above = [
        path
        for folder in ("sync", "storage", "config", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not path.is_relative_to(ROOT / "sync" / "apis")
    ]
    assert len(above) > 20  # the scan sees the code, not an empty folder
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in above
        for module in _imports(path)
        if (module.startswith("sync.apis") and module not in LAYER_MODULES) or module.startswith("sync.lev")
        if not _own_sandbox(path, module)
    }
    assert offenders == set()


def test_each_adapter_describes_itself_consistently() -> None:
    """Every registered adapter is keyed by its name, writes only to its columns, and owns the rest."""
    for name, adapter in ADAPTERS.items():
        assert adapter.name == name
        assert adapter.writable | adapter.create_only <= set(adapter.columns)
        assert adapter.api_owned == set(adapter.columns) - adapter.writable
        assert adapter.id_type in (int, str)
        assert adapter.wire_rules(Settings()).writable == adapter.writable


def test_the_store_builds_its_contacts_table_from_the_adapters_columns() -> None:
    """`contacts` holds the store's local_id, then the adapter's columns in order, then extra."""
    lev = adapter_named("lev")
    assert [column.name for column in DEFAULT_TABLES.contacts.columns] == ["local_id", *lev.columns, "extra"]
    assert lev.api_owned >= {"id", "owner_account_id", "is_connected", "created_at", "updated_at"}
    assert "id" not in lev.writable and "first_name" in lev.writable


def test_a_contacts_table_with_text_ids_keeps_each_kind_of_value(database_url: str) -> None:
    """An API with uuid ids gets a table whose id is unique text and whose JSON and booleans round-trip."""
    columns = {
        "id": Kind.TEXT,
        "company_id": Kind.TEXT,
        "first_name": Kind.TEXT,
        "is_primary": Kind.BOOLEAN,
        "metadata": Kind.JSON,
        "seats": Kind.INTEGER,
    }
    table = contacts_table(MetaData(), columns)
    engine = create_engine(database_url)
    try:
        table.create(engine)
        contact_id = str(uuid.uuid4())
        row = {
            "id": contact_id,
            "company_id": str(uuid.uuid4()),
            "first_name": "Zoë",
            "is_primary": True,
            "metadata": {"tags": ["a", "b"], "n": 1},
            "seats": 2**40,
        }
        with engine.begin() as connection:
            connection.execute(insert(table), row)
            connection.execute(insert(table), {"first_name": "not pushed yet"})
        with engine.connect() as connection:
            stored = connection.execute(select(table).where(table.c.id == contact_id)).mappings().one()
        assert {name: stored[name] for name in columns} == row
        assert isinstance(stored["local_id"], int)
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(table), {"id": contact_id, "first_name": "twice"})
        with engine.connect() as connection:
            ids = connection.execute(select(table.c.id).order_by(table.c.local_id)).scalars().all()
        assert ids == [contact_id, None]
        assert json.dumps(stored["metadata"], sort_keys=True) == '{"n": 1, "tags": ["a", "b"]}'
    finally:
        engine.dispose()
