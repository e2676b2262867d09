"""A backup id is matched whole: `^...$` with re.match let `<id>\n` through (`$` also
matches before a trailing newline), naming a folder that is not the backup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.migrations.backup import MANIFEST_FILE, list_backups, load_manifest

GOOD = "20261126T234500Z-0123abcd"


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    for name in (GOOD, f"{GOOD}\n", f"{GOOD}x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST_FILE).write_text(json.dumps({"id": name}))
    return tmp_path


def test_only_a_whole_id_names_a_backup(backups: Path) -> None:
    assert load_manifest(backups, GOOD) == {"id": GOOD}
    assert load_manifest(backups, f"{GOOD}\n") is None
    assert load_manifest(backups, f"{GOOD}x") is None
    assert [m["id"] for m in list_backups(backups)] == [GOOD]
