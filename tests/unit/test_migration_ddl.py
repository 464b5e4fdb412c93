"""Migration 0004's rewrite of contacts' CREATE TABLE text, over plain strings."""

from __future__ import annotations

from storage.migrations import _with_autoincrement

AS_0001_WROTE_IT = (
    "CREATE TABLE contacts (\n\tlocal_id INTEGER NOT NULL, \n\tid BIGINT, \n\textra TEXT, "
    "crm_note TEXT NOT NULL DEFAULT 'none', \n\tPRIMARY KEY (local_id), \n\tUNIQUE (id)\n)"
)


def test_the_key_constraint_becomes_an_autoincrement_column_and_the_rest_is_kept() -> None:
    rebuilt = _with_autoincrement(AS_0001_WROTE_IT)
    assert rebuilt == (
        "CREATE TABLE contacts_rebuilt (\n\tlocal_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "
        "\n\tid BIGINT, \n\textra TEXT, crm_note TEXT NOT NULL DEFAULT 'none', \n\tUNIQUE (id)\n)"
    )


def test_an_inline_key_and_a_quoted_name_after_a_rename_are_recognised() -> None:
    ddl = 'CREATE TABLE "contacts" (\n\tlocal_id INTEGER NOT NULL PRIMARY KEY, \n\tid BIGINT\n)'
    assert _with_autoincrement(ddl) == (
        "CREATE TABLE contacts_rebuilt (\n\tlocal_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "
        "\n\tid BIGINT\n)"
    )


def test_a_table_declared_some_other_way_is_not_touched() -> None:
    assert _with_autoincrement("CREATE TABLE contacts (local_id INT PRIMARY KEY, id BIGINT)") is None
    assert _with_autoincrement("CREATE TABLE contacts_archive (local_id INTEGER NOT NULL, id BIGINT)") is None
    both = AS_0001_WROTE_IT.replace("local_id INTEGER NOT NULL,", "local_id INTEGER NOT NULL PRIMARY KEY,")
    assert _with_autoincrement(both) is None


def test_quoted_names_as_schema_tools_write_them_are_recognised() -> None:
    ddl = 'CREATE TABLE "contacts" ("local_id" INTEGER NOT NULL, "id" BIGINT, PRIMARY KEY("local_id"))'
    assert _with_autoincrement(ddl) == (
        'CREATE TABLE contacts_rebuilt (local_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "id" BIGINT)'
    )


def test_key_text_inside_a_column_added_later_is_left_alone() -> None:
    """Added columns sit before the table constraints: only the last key clause is the key."""
    added = "note TEXT DEFAULT ', PRIMARY KEY (local_id)', "
    ddl = AS_0001_WROTE_IT.replace("crm_note TEXT", added + "crm_note TEXT")
    rebuilt = _with_autoincrement(ddl)
    assert rebuilt is not None and added in rebuilt
    assert rebuilt.count("PRIMARY KEY") == 2  # the AUTOINCREMENT column, and the text in the default
