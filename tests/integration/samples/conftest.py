"""Real PostgreSQL and Redis servers for the sample services' credential tests, one each
for the module, with password authentication for one role and on Redis."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from runbooks.local.servers import free_port, postgres_dsn, start_postgres, start_redis

ROLE = "rotating"


@dataclass(frozen=True)
class Servers:
    """Where the servers listen and where PostgreSQL keeps its data."""

    postgres_port: int
    redis_port: int
    state_dir: Path

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection (trust auth over loopback), autocommit."""
        return psycopg.connect(postgres_dsn(self.postgres_port, "postgres"), autocommit=True)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """PostgreSQL, where ROLE must give its password (SCRAM), and Redis, for the module.

    The state dir is world-searchable: PostgreSQL runs as `postgres`, which cannot enter
    pytest's 0700 temp dirs.
    """
    state_dir = Path(tempfile.mkdtemp(prefix="credentials-"))
    state_dir.chmod(0o755)
    started = []
    try:
        pg_port, redis_port = free_port(), free_port()
        started.append(start_postgres(state_dir, pg_port))
        started.append(start_redis(state_dir, redis_port))
        found = Servers(pg_port, redis_port, state_dir)
        _require_password(found, ROLE)
        yield found
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def _require_password(servers: Servers, role: str) -> None:
    """Make `role` log in only with its password: the launcher trusts loopback, so put a
    SCRAM rule for it first in pg_hba.conf and reload."""
    hba = servers.state_dir / "postgres" / "data" / "pg_hba.conf"
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    with servers.admin() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'initial'")
        conn.execute("SELECT pg_reload_conf()")
