"""A rotated PostgreSQL password or Redis token reaches the sample services without a
restart, against real servers.

On aws stacks RDS rotates the master password and ESO rewrites the mounted DSN file; here
`ALTER ROLE ... PASSWORD` (and Redis `CONFIG SET requirepass`) rotate, the test rewrites
the file, and ending the open connections makes the pool open new ones, as its
max_lifetime or a dropped connection would. A file that goes missing mid-run fails the
connection being opened with a message naming the file, while the service keeps running
and recovers once the file is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import redis
from psycopg_pool import PoolTimeout

from samples.credential_files import DsnFile, redis_client
from samples.db import Pool
from tests.integration.samples.conftest import ROLE, Servers

pytestmark = pytest.mark.integration

T = TypeVar("T")


def _dsn(servers: Servers, password: str) -> str:
    return f"postgresql://{ROLE}:{password}@127.0.0.1:{servers.postgres_port}/trading"


def _rotate_password(servers: Servers, password: str) -> None:
    """What RDS does: a new password for the role; open sessions stay logged in."""
    with servers.admin() as conn:
        conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{password}'")


def _end_sessions(servers: Servers) -> None:
    """End the role's sessions, so the pool has to open new connections."""
    with servers.admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,)
        )


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="utf-8")


def _eventually(attempt: Callable[[], T], seconds: float = 20.0) -> T:
    """`attempt()` once it stops raising (the pool retries a failed connect with backoff)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return attempt()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def dsn_file(servers: Servers, tmp_path: Path) -> Path:
    _rotate_password(servers, "week-1")
    path = tmp_path / "postgres-dsn"
    _write(path, _dsn(servers, "week-1"))
    return path


@pytest.fixture
def pool(dsn_file: Path) -> Iterator[Pool]:
    pool = Pool(DsnFile(dsn_file), size=1, timeout=2.0)
    assert pool.warm(timeout=10)
    yield pool
    pool.close()


def _session(pool: Pool) -> tuple[object, ...]:
    """(user, backend pid) of the connection the pool hands out."""
    with pool.connection() as conn:
        row = conn.execute("SELECT current_user, pg_backend_pid()").fetchone()
    assert row is not None
    return row


def test_a_new_connection_after_rotation_uses_the_password_now_in_the_file(
    servers: Servers, dsn_file: Path, pool: Pool
) -> None:
    user, first_pid = _session(pool)
    assert user == ROLE

    _rotate_password(servers, "week-2")
    _write(dsn_file, _dsn(servers, "week-2"))
    _end_sessions(servers)

    user, pid = _eventually(lambda: _session(pool))
    assert user == ROLE
    assert pid != first_pid
    # The old password really is refused now: the new connection did not get in on it.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_dsn(servers, "week-1"), connect_timeout=2).close()


def test_a_missing_dsn_file_fails_new_connections_clearly_and_the_pool_recovers(
    servers: Servers, dsn_file: Path, pool: Pool
) -> None:
    dsn = dsn_file.read_text()
    dsn_file.unlink()
    assert _session(pool)[0] == ROLE  # the open connection keeps serving

    _end_sessions(servers)
    with pytest.raises(PoolTimeout) as raised:
        _eventually(lambda: _session(pool), seconds=5)
    assert str(raised.value).endswith(
        f"new connections cannot be opened: --postgres-dsn-file {dsn_file}: "
        "No such file or directory"
    )
    assert "week-1" not in str(raised.value)

    dsn_file.write_text(dsn)
    assert _eventually(lambda: _session(pool))[0] == ROLE


@pytest.fixture
def redis_admin(servers: Servers) -> Iterator[redis.Redis]:
    """A connection that set the first token; Redis keeps it logged in across changes."""
    admin = redis.Redis(host="127.0.0.1", port=servers.redis_port, socket_timeout=2)
    admin.config_set("requirepass", "token-1")
    yield admin
    admin.config_set("requirepass", "")
    admin.close()


def _redis_url(servers: Servers, token: str) -> str:
    return f"redis://:{token}@127.0.0.1:{servers.redis_port}/0"


def test_a_new_redis_connection_after_rotation_uses_the_token_now_in_the_file(
    servers: Servers, redis_admin: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "redis-url"
    _write(path, _redis_url(servers, "token-1"))
    client = redis_client(_redis_url(servers, "token-1"), path, socket_timeout=2)
    assert client.ping()

    redis_admin.config_set("requirepass", "token-2")
    _write(path, _redis_url(servers, "token-2"))
    client.connection_pool.disconnect()  # the next command opens a new connection
    assert client.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(_redis_url(servers, "token-1"), socket_timeout=2).ping()

    path.unlink()
    client.connection_pool.disconnect()
    with pytest.raises(redis.AuthenticationError) as raised:
        client.ping()
    assert str(raised.value) == f"--redis-url-file {path}: No such file or directory"

    _write(path, _redis_url(servers, "token-2"))
    assert client.ping()  # the failed connection was closed, not left half-open
    client.close()
