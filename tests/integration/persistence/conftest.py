"""Fixtures of the persistence tests: a real PostgreSQL for the session, journals per test,
and worker processes that are always killed and reaped."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from runbooks.journal.base import Journal
from runbooks.journal.registry import JOURNALS
from runbooks.local.servers import free_port, postgres_dsn, start_postgres

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def postgres_port() -> Iterator[int]:
    """A PostgreSQL 15 server of our own on 127.0.0.1, for the whole session.

    Its state dir is world-searchable: the server runs as `postgres`, which cannot enter
    pytest's 0700 temp dirs.
    """
    state_dir = Path(tempfile.mkdtemp(prefix="journal-pg-"))
    state_dir.chmod(0o755)
    port = free_port()
    server = start_postgres(state_dir, port)
    try:
        yield port
    finally:
        server.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def fresh_postgres_dsn(postgres_port: int) -> str:
    """The DSN of a new, empty database, so no test sees another's rows."""
    name = "journal_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_dsn(postgres_port, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_dsn(postgres_port, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend name, target): the SQLite file, or the DSN of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "journal.sqlite3")
    return "postgres", request.getfixturevalue("fresh_postgres_dsn")


@pytest.fixture
def journal(backend: tuple[str, str]) -> Journal:
    """A journal of each backend, empty."""
    name, target = backend
    if name == "sqlite":
        return JOURNALS.create("sqlite", path=target)
    return JOURNALS.create("postgres", dsn=target)


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    """Worker processes a test starts; each is killed and reaped afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def start_worker(
    workers: list[subprocess.Popen[str]],
    mode: str,
    backend: tuple[str, str],
    stack: str,
    holder: str,
) -> subprocess.Popen[str]:
    """Run `journal_worker` in its own process (see that module for the modes)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.persistence.journal_worker",
            mode,
            *backend,
            stack,
            holder,
        ],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers.append(proc)
    return proc
