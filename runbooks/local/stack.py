"""Bringing the whole local stack up, reporting on it, and tearing it down.

    up(settings)          start every part not already running and healthy; wait for all
    status(state_dir)     each recorded part with its port, pid and health
    down(state_dir)       drain HAProxy, stop every recorded process, check no port listens

What was started is recorded in `<state>/pids.json` (see `record`), so `down` and `status`
need only the state dir. To replace one color of one service, see `services.deploy_color`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from runbooks.haproxy_runtime import HaproxyRuntime
from runbooks.local import record, render
from runbooks.local.assignments import initialise_assignments
from runbooks.local.endpoints import LocalEndpoints, endpoints, local_section, part_name
from runbooks.local.health import check, probe_for
from runbooks.local.process import LaunchError, port_open, wait_until
from runbooks.local.servers import (
    Server,
    create_topics,
    start_broker,
    start_haproxy,
    start_postgres,
    start_prometheus,
    start_redis,
    start_varnish,
)
from runbooks.local.services import start_service
from stackspec.errors import RouterError
from stackspec.model import Color, StackSettings

SCHEMA = Path(__file__).resolve().parents[2] / "samples" / "schema.sql"
# Stopped in this order: the edge and the router before what they send traffic to.
STOP_ORDER = ("prometheus", "varnish", "haproxy")
STOP_LAST = ("broker", "redis", "postgres")


@dataclass(frozen=True)
class PartStatus:
    """One part of the stack as seen now."""

    name: str
    port: int
    pid: int | None
    alive: bool
    healthy: bool
    problem: str
    log_path: str


@dataclass(frozen=True)
class StackStatus:
    """Every part of the stack; `healthy` when all are."""

    state_dir: Path
    parts: tuple[PartStatus, ...]

    @property
    def healthy(self) -> bool:
        """Whether every part is alive and healthy (an empty stack is not)."""
        return bool(self.parts) and all(p.healthy for p in self.parts)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        return {
            "state_dir": str(self.state_dir),
            "healthy": self.healthy,
            "parts": [asdict(p) for p in self.parts],
        }


@dataclass(frozen=True)
class Plan:
    """How to bring one part up: its name, health target, start, and what to ensure after."""

    name: str
    health: str
    start: Callable[[], record.Part]
    ensure: Callable[[], None] = lambda: None


def up(settings: StackSettings, state_dir: Path | None = None) -> StackStatus:
    """Start every part that is not running healthy, in dependency order; leave the rest.

    Raises LaunchError or TimeoutError naming the part that did not come up and its log.
    """
    ends = endpoints(settings, state_dir)
    ends.state_dir.mkdir(parents=True, exist_ok=True)
    ends.state_dir.chmod(0o755)  # PostgreSQL runs as its own user and must enter it
    parts = record.load(ends.state_dir)
    for plan in _plans(settings, ends):
        current = parts.get(plan.name)
        if current is None or not current.server.alive() or not check(probe_for(plan.health))[0]:
            if current is not None:
                current.server.stop()
            parts[plan.name] = plan.start()
            record.save(ends.state_dir, parts)
        plan.ensure()
    return status(ends.state_dir)


def _plans(settings: StackSettings, ends: LocalEndpoints) -> list[Plan]:
    ports, state = local_section(settings).ports, ends.state_dir
    topics = [(t.name, t.partitions) for t in settings.streaming.topics]
    infra = [
        Plan(
            "postgres",
            ends.postgres_dsn,
            _infra(
                start_postgres,
                state,
                ports.postgres,
                settings.database.name,
                health=ends.postgres_dsn,
            ),
            lambda: _apply_schema(ends.postgres_dsn),
        ),
        Plan(
            "redis", ends.redis_url, _infra(start_redis, state, ports.redis, health=ends.redis_url)
        ),
        Plan(
            "broker",
            f"kafka://{ends.bootstrap_servers}",
            _infra(start_broker, state, ports.kafka, health=f"kafka://{ends.bootstrap_servers}"),
            lambda: _topics_and_assignments(settings, ends, topics),
        ),
    ]
    return infra + _service_plans(settings, ends) + _edge_plans(settings, ends)


def _topics_and_assignments(
    settings: StackSettings, ends: LocalEndpoints, topics: list[tuple[str, int]]
) -> None:
    """The topics, then the consumers' partition assignments (before any consumer starts)."""
    create_topics(ends.bootstrap_servers, topics)
    initialise_assignments(settings, ends.redis_url)


def _infra(launch: Callable[..., object], *args: object, health: str) -> Callable[[], record.Part]:
    def start() -> record.Part:
        server = launch(*args)
        assert isinstance(server, Server)
        return record.Part(server, {"health": health})

    return start


def _service_plans(settings: StackSettings, ends: LocalEndpoints) -> list[Plan]:
    plans = []
    for svc in settings.services:
        for color in Color:
            health = ends.service_url(svc.name, color) + svc.health_path
            start = _service_start(settings, ends, svc.name, color, svc.versions.of(color))
            plans.append(Plan(part_name(svc.name, color), health, start))
    return plans


def _service_start(
    settings: StackSettings, ends: LocalEndpoints, service: str, color: Color, version: str
) -> Callable[[], record.Part]:
    return lambda: start_service(settings, ends, service, color, version)


def _edge_plans(settings: StackSettings, ends: LocalEndpoints) -> list[Plan]:
    ports, state = local_section(settings).ports, ends.state_dir
    stats = f"{ends.haproxy_stats_url}/metrics"
    return [
        Plan(
            "haproxy",
            stats,
            _infra(
                start_haproxy,
                state,
                render.haproxy_config(settings, ends.admin_socket),
                ports.haproxy,
                health=stats,
            ),
        ),
        Plan(
            "varnish",
            f"tcp://127.0.0.1:{ports.edge}",
            _infra(
                start_varnish,
                state,
                ports.edge,
                render.varnish_vcl(settings),
                health=f"tcp://127.0.0.1:{ports.edge}",
            ),
        ),
        Plan(
            "prometheus",
            f"{ends.prometheus_url}/-/ready",
            _infra(
                start_prometheus,
                state,
                ports.prometheus,
                render.prometheus_config(settings),
                health=f"{ends.prometheus_url}/-/ready",
            ),
        ),
    ]


def _apply_schema(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())


def status(state_dir: Path) -> StackStatus:
    """Each recorded part: alive, and healthy by its own probe."""
    found = []
    for name, part in record.load(state_dir).items():
        alive = part.server.alive()
        healthy, problem = check(probe_for(part.detail["health"])) if alive else (False, "")
        found.append(
            PartStatus(
                name,
                part.server.port,
                part.server.pid,
                alive,
                healthy,
                problem if alive else "not running",
                str(part.server.log_path),
            )
        )
    return StackStatus(state_dir, tuple(found))


def down(state_dir: Path, timeout: float = 10) -> list[str]:
    """Drain HAProxy's servers, stop every recorded process, wait until no port listens.

    Returns the names of the parts stopped, in stop order. Raises LaunchError if a port
    still listens.
    """
    parts = record.load(state_dir)
    _drain_all(state_dir / "haproxy" / "admin.sock")
    middle = [n for n in parts if n not in STOP_ORDER + STOP_LAST]
    order = [n for n in (*STOP_ORDER, *middle, *STOP_LAST) if n in parts]
    for name in order:
        parts[name].server.stop(timeout)
    ports = {name: p.server.port for name, p in parts.items()}
    try:
        wait_until(
            lambda: not any(port_open(p) for p in ports.values()),
            timeout,
            "the stack's ports to close",
        )
    except TimeoutError:
        still = sorted(n for n, p in ports.items() if port_open(p))
        raise LaunchError(
            f"ports still listening after down: {still}",
            hint="something else may be using them; see `ss -ltnp`",
        ) from None
    (state_dir / "pids.json").unlink(missing_ok=True)
    return order


def _drain_all(admin_socket: Path) -> None:
    if not admin_socket.exists():
        return
    runtime = HaproxyRuntime(admin_socket)
    try:
        for backend, server in runtime.servers():
            runtime.set_server_state(backend, server, "drain")
    except RouterError:
        pass  # HAProxy is already gone or refusing: nothing left to drain
