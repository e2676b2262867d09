"""Fixtures for the local substrate's tests: a state dir that PostgreSQL can enter."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A fresh world-searchable temp dir.

    pytest's tmp_path sits under a 0700 dir, which PostgreSQL (run as `postgres`) cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix="local-stack-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
