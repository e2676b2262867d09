"""Health probes of the local stack's parts: each returns True or raises saying why not."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg
import redis
from confluent_kafka.admin import AdminClient

from runbooks.local.process import port_open
from stackspec.errors import DriverError

Probe = Callable[[], bool]


class ProbeFailed(DriverError):
    """A health probe got an answer that is not healthy (read by `check`, not by users)."""


def http_ok(url: str) -> Probe:
    """GET `url` answers 200."""

    def probe() -> bool:
        answer = httpx.get(url, timeout=2)
        if answer.status_code != 200:
            raise ProbeFailed(f"GET {url} answered {answer.status_code}: {answer.text[:200]}")
        return True

    return probe


def listening(port: int) -> Probe:
    """Something accepts TCP connections on 127.0.0.1:`port`."""
    return lambda: port_open(port)


def postgres_ok(dsn: str) -> Probe:
    """PostgreSQL answers `SELECT 1`."""

    def probe() -> bool:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    return probe


def redis_ok(url: str) -> Probe:
    """Redis answers PING."""

    def probe() -> bool:
        client = redis.Redis.from_url(url, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    return probe


def broker_ok(bootstrap: str) -> Probe:
    """The broker answers a metadata request."""

    def probe() -> bool:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
        return True

    return probe


def probe_for(target: str) -> Probe:
    """The probe of a recorded health target: `postgresql://`, `redis://`, `kafka://host:port`,
    `tcp://host:port` or an `http://` URL that must answer 200."""
    scheme, _, rest = target.partition("://")
    if scheme == "postgresql":
        return postgres_ok(target)
    if scheme == "redis":
        return redis_ok(target)
    if scheme == "kafka":
        return broker_ok(rest)
    if scheme == "tcp":
        return listening(int(rest.rsplit(":", 1)[1]))
    return http_ok(target)


def check(probe: Probe) -> tuple[bool, str]:
    """Run `probe` once: (healthy, why not)."""
    try:
        return probe(), ""
    except Exception as err:  # a failing probe is an answer, not an error
        return False, f"{type(err).__name__}: {err}"
