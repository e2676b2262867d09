"""Starting the sample services, one color of one service at a time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runbooks.config.registry import SCHEMAS
from runbooks.config.targets import render
from runbooks.haproxy_runtime import HaproxyRuntime
from runbooks.local import record
from runbooks.local.endpoints import LocalEndpoints, endpoints, part_name, service_port
from runbooks.local.health import http_ok
from runbooks.local.process import port_open, spawn, started_or_stopped
from runbooks.local.servers import Server, wait_until
from runbooks.local.warmup import WARM_UP_PATHS, warm_up
from samples.options import Faults
from stackspec.errors import BadInput, RouterError
from stackspec.model import Color, StackSettings
from stackspec.stackfile import PROJECT_ROOT

SERVICE_START_TIMEOUT = 30.0
HAPROXY_UP_TIMEOUT = 15.0  # rise 2 x inter 1s, with room for a slow machine
NO_FAULTS = Faults()


def start_service(
    settings: StackSettings,
    ends: LocalEndpoints,
    service: str,
    color: Color,
    version: str,
    faults: Faults = NO_FAULTS,
) -> record.Part:
    """Start `python -m samples.<service>` for `color` at `version` with `faults`.

    Returns once /health answers 200, or, when `faults.fail_health` is set, once it listens.
    A service with a versioned configuration is given the version the stack declares for
    `color` (`configVersions`), copied to `<state>/config/<service>-<color>.yaml`.
    """
    module = f"samples.{service.replace('-', '_')}"
    if not (PROJECT_ROOT / "samples" / f"{service.replace('-', '_')}.py").exists():
        raise BadInput(f"no sample service module {module}", hint="services: see samples/")
    port = service_port(settings, service, color)
    argv = [
        sys.executable,
        "-m",
        module,
        "--color",
        color.value,
        "--version",
        version,
        "--port",
        str(port),
        "--postgres-dsn",
        ends.postgres_dsn,
        "--redis-url",
        ends.redis_url,
        "--bootstrap-servers",
        ends.bootstrap_servers,
        "--cache-key-version",
        str(settings.cache.key_version),
        "--quote-max-age",
        str(settings.edge.default_ttl_seconds),
        *faults.as_flags(),
        *_config_flags(settings, ends, service, color),
    ]
    name = part_name(service, color)
    log = ends.state_dir / "logs" / f"{name}.log"
    server = spawn(name, argv, log, port, cwd=PROJECT_ROOT)
    health = f"http://127.0.0.1:{port}{settings.service(service).health_path}"
    ready = (lambda: port_open(port)) if faults.fail_health else http_ok(health)
    started_or_stopped(server, ready, SERVICE_START_TIMEOUT)
    detail = {"health": health, "version": version, "faults": json.dumps(faults.__dict__)}
    return record.Part(server, detail)


def _config_flags(
    settings: StackSettings, ends: LocalEndpoints, service: str, color: Color
) -> list[str]:
    """`--config <file>` with the declared version rendered, or nothing without a schema."""
    if service not in SCHEMAS:
        return []
    version = settings.service(service).config_versions.of(color)
    return ["--config", str(render(ends.state_dir, service, color, version))]


def deploy_color(
    settings: StackSettings,
    state_dir: Path | None,
    service: str,
    color: Color,
    version: str,
    faults: Faults = NO_FAULTS,
) -> Server:
    """Replace the process of `color` of `service` with one at `version` with `faults`.

    Its HAProxy server is drained first and set ready again once the new one answers and
    has been warmed (runbooks.local.warmup: its first, slower requests are not users'), so
    its weight (likely 0 when deploying the idle color) is kept. Raises LaunchError (with
    the log's tail) when the new process does not come up.
    """
    try:
        settings.service(service)
    except KeyError as err:
        raise BadInput(str(err).strip("\"'"), hint="check the service name") from None
    ends = endpoints(settings, state_dir)
    parts = record.load(ends.state_dir)
    name = part_name(service, color)
    routed = _routed(ends, service)
    runtime = HaproxyRuntime(ends.admin_socket)
    if routed and name in parts:
        runtime.set_server_state(f"be_{service}", color.value, "drain")
    if name in parts:
        parts.pop(name).server.stop()
        record.save(ends.state_dir, parts)
    parts[name] = start_service(settings, ends, service, color, version, faults)
    record.save(ends.state_dir, parts)
    warm_up(ends.service_url(service, color), WARM_UP_PATHS.get(service, ()))
    if routed:
        runtime.set_server_state(f"be_{service}", color.value, "ready")
        if not faults.fail_health:
            # Answering /health is not enough: HAProxy sends traffic only once its own
            # checks (rise 2) say UP, and the router refuses weight for a DOWN server.
            wait_until(
                lambda: _checked_up(ends, service, color),
                HAPROXY_UP_TIMEOUT,
                f"HAProxy's health check to mark {name} UP",
            )
    return parts[name].server


def _checked_up(ends: LocalEndpoints, service: str, color: Color) -> bool:
    runtime = HaproxyRuntime(ends.admin_socket, 2.0)
    rows = runtime.show_servers_state(f"be_{service}")
    return any(r["srv_name"] == color.value and r["srv_op_state"] != "0" for r in rows)


def _routed(ends: LocalEndpoints, service: str) -> bool:
    """Whether HAProxy runs and has a backend for `service`."""
    if not ends.admin_socket.exists():
        return False
    try:
        servers = HaproxyRuntime(ends.admin_socket).servers()
    except RouterError:
        return False
    return any(backend == f"be_{service}" for backend, _ in servers)


def serve_on_idle_color(
    settings: StackSettings, service: str, version: str, faults: Faults
) -> Color:
    """Out of band, for drills and benchmarks: deploy `version` with `faults` on the idle
    color and make it the active one (all traffic, and the stack's record), so the next
    release is judged against it. Returns that color."""
    from runbooks.core.model import Weights
    from runbooks.drivers.base import ServiceState
    from runbooks.drivers.local import LocalDriver
    from runbooks.local.endpoints import state_dir_of
    from runbooks.routers.haproxy import HaproxyRouter

    current = settings.service(service)
    color = current.active_color.other
    deploy_color(settings, None, service, color, version, faults)
    HaproxyRouter(endpoints(settings).admin_socket).set_weights(service, Weights.all_on(color))
    versions = current.versions.model_copy(update={color.value: version})
    state = ServiceState(color, versions, Weights.all_on(color))
    LocalDriver(settings, state_dir_of(settings)).write_release_state(service, state)
    return color
