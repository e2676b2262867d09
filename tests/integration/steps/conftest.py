"""Real servers for the release-step tests, one per module, via runbooks.local.servers."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from runbooks.local.servers import (
    free_port,
    postgres_dsn,
    start_broker,
    start_postgres,
    start_redis,
)
from runbooks.steps.base import StepContext
from stackspec.model import Color
from tests.integration.adapters.conftest import moto_endpoint  # noqa: F401  (moto server)


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    """A world-searchable temp dir (PostgreSQL runs as `postgres`; tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="steps-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_port(state_dir: Path) -> Iterator[int]:
    """A real PostgreSQL 15 on 127.0.0.1."""
    port = free_port()
    server = start_postgres(state_dir, port)
    yield port
    server.stop()


@pytest.fixture
def dsn(postgres_port: int) -> str:
    """A fresh, empty database of its own for each test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn(postgres_port, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_dsn(postgres_port, name)


@pytest.fixture(scope="module")
def redis_url(state_dir: Path) -> Iterator[str]:
    """A real redis-server on 127.0.0.1."""
    port = free_port()
    server = start_redis(state_dir, port)
    yield f"redis://127.0.0.1:{port}/0"
    server.stop()


@pytest.fixture(scope="module")
def bootstrap(state_dir: Path) -> Iterator[str]:
    """A real tansu broker (Kafka protocol) on 127.0.0.1."""
    port = free_port()
    server = start_broker(state_dir, port)
    yield f"127.0.0.1:{port}"
    server.stop()


def context(**options: object) -> StepContext:
    """A release of trading-api 1.1.0 from blue to green with `options`."""
    return StepContext(
        stack="local",
        service="trading-api",
        version="1.1.0",
        old_color=Color.BLUE,
        new_color=Color.GREEN,
        options=options,
    )
