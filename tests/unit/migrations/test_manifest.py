"""Loading a migration folder: what is refused, with the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.migrations.manifest import available, load_migration
from stackspec.errors import BadInput

SHIPPED = Path(__file__).resolve().parents[3] / "migrations"


def folder(root: Path, version: str = "2.0.0", **files: str) -> Path:
    path = root / version
    path.mkdir(parents=True)
    defaults = {
        "migration.yaml": "description: test\n",
        "expand.sql": "ALTER TABLE orders ADD COLUMN IF NOT EXISTS a text;\n",
        "revert.sql": "ALTER TABLE orders DROP COLUMN IF EXISTS a;\n",
    }
    for name, text in (defaults | files).items():
        if text:
            (path / name.replace("_", ".")).write_text(text)
    return root


def test_a_complete_folder_loads_with_its_declared_allowances(tmp_path: Path) -> None:
    root = folder(
        tmp_path,
        **{
            "migration.yaml": "description: d\nallow:\n"
            "  expand:\n    some-rule: because it is small\n",
            "contract.sql": "ALTER TABLE orders DROP COLUMN IF EXISTS b;\n",
        },
    )
    loaded = load_migration(root, "2.0.0")
    assert loaded.contract is not None
    assert loaded.allowed("expand") == {"some-rule": "because it is small"}
    assert loaded.allowed("revert") == {}


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("../../etc", "is not a migration version"),
        ("/etc", "is not a migration version"),
        ("a/b", "is not a migration version"),
        ("9.9.9", "no migration '9.9.9'"),
        ("x" * 5000, "is not a migration version"),
    ],
)
def test_names_outside_the_folder_or_unknown_are_refused(
    tmp_path: Path, version: str, says: str
) -> None:
    root = folder(tmp_path)
    with pytest.raises(BadInput) as refused:
        load_migration(root, version)
    assert says in refused.value.message
    assert len(refused.value.message) < 300  # a long name is not echoed whole
    assert "2.0.0" in refused.value.hint


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    root = folder(tmp_path / "migrations")
    outside = folder(tmp_path / "elsewhere", "3.0.0") / "3.0.0"
    (root / "3.0.0").symlink_to(outside)
    with pytest.raises(BadInput, match="resolves outside"):
        load_migration(root, "3.0.0")


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"revert.sql": ""}, "revert.sql: missing"),
        ({"expand.sql": ""}, "expand.sql: missing"),
        ({"migration.yaml": ""}, "migration.yaml: missing"),
        ({"migration.yaml": "description: d\nrevertFile: x\n"}, "revertFile: Extra inputs"),
        ({"migration.yaml": "allow: {}\n"}, "description: Field required"),
        ({"migration.yaml": "description: d\nallow:\n  up: {x: because}\n"}, "allow.up"),
        ({"migration.yaml": "description: [unclosed\n"}, "not valid YAML"),
    ],
)
def test_incomplete_or_malformed_folders_are_refused(
    tmp_path: Path, files: dict[str, str], says: str
) -> None:
    root = folder(tmp_path, **{k.replace(".", "_"): v for k, v in files.items()})
    for name, text in files.items():
        if not text:
            (root / "2.0.0" / name).unlink(missing_ok=True)
    with pytest.raises(BadInput) as refused:
        load_migration(root, "2.0.0")
    assert says in refused.value.message


def test_the_old_single_file_format_is_named(tmp_path: Path) -> None:
    root = folder(tmp_path, **{"revert.sql": ""})
    (root / "2.0.0" / "revert.sql").unlink(missing_ok=True)
    (root / "2.0.0" / "up.sql").write_text("SELECT 1;\n")
    with pytest.raises(BadInput, match=r"up\.sql is the old format"):
        load_migration(root, "2.0.0")


def test_non_utf8_sql_is_refused(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "2.0.0" / "expand.sql").write_bytes(b"ALTER TABLE \xff;")
    with pytest.raises(BadInput, match="not UTF-8"):
        load_migration(root, "2.0.0")


def test_the_shipped_migrations_load() -> None:
    assert available(SHIPPED) == ["1.1.0", "1.2.0"]
    for version in available(SHIPPED):
        load_migration(SHIPPED, version)
