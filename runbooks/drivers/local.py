"""The local stack's driver: release state in `<state_dir>/stack-state.json`.

The stack file stays as it was authored; the state file overrides, per service, the active
color, versions and weights. `apply_state` gives the settings with that state applied, so
the next `local up` brings the services back as the last release left them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from runbooks.drivers.base import WEBHOOK_KEY, Faults, ServiceState
from runbooks.outputs import StackOutputs
from stackspec.errors import BadInput, DriverError
from stackspec.model import Color, EnvRef, SecretRef, Service, Split, StackSettings

STATE_FILE = "stack-state.json"


def state_path(state_dir: Path) -> Path:
    """The state file of a state dir."""
    return state_dir / STATE_FILE


def load_state(state_dir: Path) -> dict[str, ServiceState]:
    """Each service's recorded state; empty if nothing was recorded yet."""
    path = state_path(state_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {name: ServiceState.from_config(data) for name, data in raw["services"].items()}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as err:
        raise DriverError(
            f"the release state file {path} is unreadable: {err}",
            hint="fix or delete it (deleting returns every service to its stack file state)",
        ) from None


def save_state(state_dir: Path, states: Mapping[str, ServiceState]) -> None:
    """Write every service's state atomically (a crash leaves the old file or the new one)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"services": {name: s.to_config() for name, s in sorted(states.items())}}, indent=2
    )
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".stack-state-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, state_path(state_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply_state(settings: StackSettings, states: Mapping[str, ServiceState]) -> StackSettings:
    """`settings` with each recorded service state applied (services not recorded unchanged;
    recorded services the stack no longer has are ignored)."""
    return settings.model_copy(
        update={"services": tuple(_applied(svc, states.get(svc.name)) for svc in settings.services)}
    )


def _applied(service: Service, state: ServiceState | None) -> Service:
    if state is None:
        return service
    update = {
        "active_color": state.active_color,
        "versions": state.versions,
        "weights": Split(blue=state.weights.blue, green=state.weights.green),
    }
    if state.config_versions is not None:
        update["config_versions"] = state.config_versions
    return service.model_copy(update=update)


class LocalDriver:
    """Release state of the local stack, in its state dir."""

    def __init__(self, settings: StackSettings, state_dir: Path) -> None:
        self.settings = settings
        self.state_dir = state_dir

    def applied(self, settings: StackSettings) -> StackSettings:
        """`settings` with the state file's services applied (`local up` brings those)."""
        return apply_state(settings, load_state(self.state_dir))

    def read_outputs(self, stack: str) -> StackOutputs:
        """The local stack's addresses (`local.*`), computed from its settings."""
        from runbooks.local.endpoints import endpoints

        ends = endpoints(self.settings, self.state_dir)
        local = {
            "stateDir": str(ends.state_dir),
            "adminSocket": str(ends.admin_socket),
            "prometheusUrl": ends.prometheus_url,
            "edgeUrl": ends.edge_url,
            "haproxyStatsUrl": ends.haproxy_stats_url,
            "postgresDsn": ends.postgres_dsn,
            "redisUrl": ends.redis_url,
            "bootstrapServers": ends.bootstrap_servers,
        }
        return StackOutputs.of(
            stack,
            {"local": local},
            f"the local stack's state dir {ends.state_dir}",
            resolve_secret=self.resolve_secret,
        )

    def deploy(self, service: str, color: Color, version: str, faults: Faults) -> None:
        """Replace the process of `color` with one at `version` (runbooks.local.services)."""
        from runbooks.local.services import deploy_color
        from samples.options import Faults as DrillFaults

        try:
            drill = DrillFaults(**faults)
        except TypeError as err:
            raise BadInput(f"unknown fault: {err}", hint="see samples.options.Faults") from None
        try:
            deploy_color(self.settings, self.state_dir, service, color, version, drill)
        except OSError as err:
            raise DriverError(f"could not start {service} {version} on {color}: {err}") from err

    def read_release_state(self, service: str) -> ServiceState:
        recorded = load_state(self.state_dir).get(service)
        return recorded or ServiceState.declared(_service(self.settings, service))

    def write_release_state(self, service: str, state: ServiceState) -> None:
        _service(self.settings, service)
        states = load_state(self.state_dir)
        recorded = states.get(service)
        if state.config_versions is None and recorded is not None:
            # A release without a config step leaves the recorded config versions as they are.
            state = replace(state, config_versions=recorded.config_versions)
        states[service] = state
        save_state(self.state_dir, states)

    def resolve_secret(self, ref: SecretRef | EnvRef, key: str = WEBHOOK_KEY) -> str | None:
        if isinstance(ref, EnvRef):
            return os.environ.get(ref.env)
        raise DriverError(
            f"{key} is a Pulumi secret, which the local stack cannot decrypt",
            hint="use {env: VAR_NAME} in the local stack file",
        )


def _service(settings: StackSettings, name: str) -> Service:
    try:
        return settings.service(name)
    except KeyError as err:
        raise BadInput(
            str(err.args[0]), hint="check the service name against the stack file"
        ) from None
