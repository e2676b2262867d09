"""Where every part of the local stack listens, computed from the stack's settings alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stackspec.errors import BadInput
from stackspec.model import Color, Local, Service, StackSettings, Substrate
from stackspec.stackfile import PROJECT_ROOT


def local_section(settings: StackSettings) -> Local:
    """The `local` section of a local stack; BadInput for any other substrate."""
    if settings.substrate is not Substrate.LOCAL or settings.local is None:
        raise BadInput(
            f"the local stack tools need substrate 'local'; this stack is '{settings.substrate}'",
            hint="use --stack local (or a stack file with `substrate: local`)",
        )
    return settings.local


def state_dir_of(settings: StackSettings, root: Path = PROJECT_ROOT) -> Path:
    """The state dir of the stack: `local.stateDir`, relative to the project root."""
    return (root / local_section(settings).state_dir).resolve()


def service_port(settings: StackSettings, service: str, color: Color) -> int:
    """The port of one color of one service: base + 2 * (index of service) + (0 blue, 1 green)."""
    names = [s.name for s in settings.services]
    if service not in names:
        raise BadInput(f"no service '{service}'", hint=f"services: {', '.join(names)}")
    offset = 2 * names.index(service) + (0 if color is Color.BLUE else 1)
    return local_section(settings).ports.service_base + offset


def part_name(service: str, color: Color) -> str:
    """The name under which one color of one service is recorded and reported."""
    return f"{service}-{color.value}"


def http_services(settings: StackSettings) -> list[Service]:
    """The services HAProxy routes to."""
    return [s for s in settings.services if s.kind == "http"]


@dataclass(frozen=True)
class LocalEndpoints:
    """Addresses of the local stack's parts, for the routers, metrics and steps to use."""

    state_dir: Path
    admin_socket: Path
    prometheus_url: str
    edge_url: str
    haproxy_url: str
    haproxy_stats_url: str
    postgres_dsn: str
    redis_url: str
    bootstrap_servers: str
    services: dict[str, dict[Color, str]]

    def service_url(self, service: str, color: Color) -> str:
        """The base URL of one color of one service (bypassing HAProxy)."""
        return self.services[service][color]


def postgres_dsn(port: int, dbname: str = "trading") -> str:
    """The DSN of the local PostgreSQL on `port` (trust auth, user postgres)."""
    return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"


def endpoints(settings: StackSettings, state_dir: Path | None = None) -> LocalEndpoints:
    """Every address of the local stack of `settings` (state dir default: `state_dir_of`)."""
    ports = local_section(settings).ports
    state = state_dir or state_dir_of(settings)
    return LocalEndpoints(
        state_dir=state,
        admin_socket=state / "haproxy" / "admin.sock",
        prometheus_url=f"http://127.0.0.1:{ports.prometheus}",
        edge_url=f"http://127.0.0.1:{ports.edge}",
        haproxy_url=f"http://127.0.0.1:{ports.haproxy}",
        haproxy_stats_url=f"http://127.0.0.1:{ports.haproxy_stats}",
        postgres_dsn=postgres_dsn(ports.postgres, settings.database.name),
        redis_url=f"redis://127.0.0.1:{ports.redis}/0",
        bootstrap_servers=f"127.0.0.1:{ports.kafka}",
        services={
            s.name: {c: f"http://127.0.0.1:{service_port(settings, s.name, c)}" for c in Color}
            for s in settings.services
        },
    )
