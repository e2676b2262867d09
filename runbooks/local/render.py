"""Configs of the local stack's servers, rendered with Jinja2 from the stack's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from runbooks.local.endpoints import http_services, local_section, service_port
from stackspec.model import Color, StackSettings

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,  # a missing value is an error, not an empty string
    keep_trailing_newline=True,
    autoescape=False,  # server configs, not HTML
)


@dataclass(frozen=True)
class Backend:
    """One server line of a HAProxy backend."""

    color: str
    port: int
    weight: int


def haproxy_config(settings: StackSettings, admin_socket: Path) -> str:
    """haproxy.cfg: a backend per HTTP service, blue and green weighted from its split."""
    services = [
        {
            "name": svc.name,
            "health_path": svc.health_path,
            "servers": [
                Backend(
                    c.value,
                    service_port(settings, svc.name, c),
                    svc.split.blue if c is Color.BLUE else svc.split.green,
                )
                for c in Color
            ],
        }
        for svc in http_services(settings)
    ]
    return _env.get_template("haproxy.cfg.j2").render(
        ports=local_section(settings).ports,
        services=services,
        default_service=settings.edge.origin_service,
        admin_socket=admin_socket,
    )


def varnish_vcl(settings: StackSettings) -> str:
    """default.vcl: the edge cache in front of HAProxy, TTLs from `settings.edge`."""
    return _env.get_template("default.vcl.j2").render(
        ports=local_section(settings).ports, edge=settings.edge
    )


def prometheus_config(settings: StackSettings) -> str:
    """prometheus.yml: scrape HAProxy's exporter and each color of each service every 1 s."""
    targets = [
        {"service": svc.name, "color": c.value, "port": service_port(settings, svc.name, c)}
        for svc in settings.services
        for c in Color
    ]
    return _env.get_template("prometheus.yml.j2").render(
        ports=local_section(settings).ports, service_targets=targets
    )
