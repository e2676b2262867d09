"""The Pulumi stacks' driver: release state written back into the stack's config.

Through the Automation API (`select_stack(stack, work_dir=<project root>)`, which needs the
Pulumi CLI), the service's `activeColor`, `versions.{blue,green}` and `weights.{blue,green}`
are set by path in `trading-platform:services[i]`, in one `config set-all --path`, so the
next `pulumi up` deploys what the release left instead of undoing it.

Caveat: with `--path` the CLI stores an all-digits value as a number, so a version such as
"2" would come back as 2 and the stack file would then fail validation (loudly). Use dotted
versions ("2.0.0").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from pulumi.automation import ConfigValue

from runbooks.drivers.base import WEBHOOK_KEY, Faults, ServiceState
from runbooks.outputs import StackOutputs
from stackspec.errors import BadInput, DriverError
from stackspec.model import Color, EnvRef, SecretRef, Service, StackSettings
from stackspec.stackfile import PROJECT, PROJECT_ROOT

SERVICES_KEY = f"{PROJECT}:services"


class ConfigStack(Protocol):
    """The part of `pulumi.automation.Stack` this driver uses."""

    def get_config(self, key: str, *, path: bool = False) -> ConfigValue: ...

    def set_all_config(
        self, config: MutableMapping[str, ConfigValue], *, path: bool = False
    ) -> None: ...

    def outputs(self) -> MutableMapping[str, Any]: ...


StackFactory = Callable[[str, Path], ConfigStack]


def select_stack(stack: str, work_dir: Path) -> ConfigStack:
    """The real stack, through the Automation API (needs the Pulumi CLI on PATH)."""
    from pulumi import automation

    selected: ConfigStack = automation.select_stack(stack_name=stack, work_dir=str(work_dir))
    return selected


class Deployer(Protocol):
    """Puts an image version on one color's Deployment (runbooks.deploy.kubernetes)."""

    def deploy(self, service: str, color: Color, version: str, image: str) -> None: ...


class PulumiDriver:
    """Release state in the Pulumi config of stack `stack` of the project at `work_dir`;
    deploys through `deployer` on the stack's cluster.

    `stack_factory` selects the stack (default: the Automation API); tests inject a fake.
    `deployer` builds the deployer on first use (so reading state needs no cluster);
    `images` maps each service to its image repository (the stack file's `image`).
    """

    def __init__(
        self,
        stack: str,
        work_dir: Path = PROJECT_ROOT,
        stack_factory: StackFactory = select_stack,
        deployer: Callable[[], Deployer] | None = None,
        images: Mapping[str, str] | None = None,
    ) -> None:
        self.stack_name = stack
        self.work_dir = work_dir
        self._factory = stack_factory
        self._stack: ConfigStack | None = None
        self._make_deployer = deployer
        self._deployer: Deployer | None = None
        self._images = dict(images or {})

    def deploy(self, service: str, color: Color, version: str, faults: Faults) -> None:
        """Set the color's image to `version` and wait for its rollout (the Deployment
        rolls now, like Argo Rollouts; the config write-back keeps `pulumi up` from undoing
        it)."""
        if faults:
            raise BadInput(
                f"faults {sorted(faults)} can only be injected on the local stack",
                hint="drop --fault options for this stack",
            )
        if service not in self._images:
            raise BadInput(f"no service '{service}' in stack '{self.stack_name}'")
        if self._make_deployer is None:
            raise DriverError(f"stack '{self.stack_name}' has no deployer configured")
        self._deployer = self._deployer or self._make_deployer()
        self._deployer.deploy(service, color, version, self._images[service])

    def applied(self, settings: StackSettings) -> StackSettings:
        """`settings` as the stack file has them: the write-back lands in that file."""
        return settings

    def read_outputs(self, stack: str) -> StackOutputs:
        """The stack's outputs (`pulumi stack output`); secret outputs are left out."""
        raw = self._call("read the outputs of", lambda s: s.outputs())
        values = {k: v.value for k, v in raw.items() if not getattr(v, "secret", False)}
        return StackOutputs.of(
            self.stack_name,
            values,
            f"the Pulumi outputs of stack '{self.stack_name}'",
            resolve_secret=self.resolve_secret,
        )

    def read_release_state(self, service: str) -> ServiceState:
        _, entry = self._find(service)
        try:
            declared = Service.model_validate_json(json.dumps(entry))
        except ValueError as err:
            raise DriverError(
                f"service '{service}' in the config of stack '{self.stack_name}' is invalid: {err}",
                hint="`runbook plan --stack` shows every problem of the stack file",
            ) from None
        return ServiceState.declared(declared)

    def write_release_state(self, service: str, state: ServiceState) -> None:
        index, _ = self._find(service)
        at = f"{SERVICES_KEY}[{index}]"
        values = {
            f"{at}.activeColor": state.active_color.value,
            f"{at}.versions.blue": state.versions.blue,
            f"{at}.versions.green": state.versions.green,
            f"{at}.weights.blue": str(state.weights.blue),
            f"{at}.weights.green": str(state.weights.green),
        }
        if state.config_versions is not None:
            values[f"{at}.configVersions.blue"] = str(state.config_versions.blue)
            values[f"{at}.configVersions.green"] = str(state.config_versions.green)
        config = {key: ConfigValue(value, secret=False) for key, value in values.items()}
        self._call("write the release state to", lambda s: s.set_all_config(config, path=True))

    def resolve_secret(self, ref: SecretRef | EnvRef, key: str = WEBHOOK_KEY) -> str | None:
        if isinstance(ref, EnvRef):
            return os.environ.get(ref.env)
        value: ConfigValue = self._call(
            f"decrypt {key} of", lambda s: s.get_config(f"{PROJECT}:{key}", path=True)
        )
        return value.value or None

    def _find(self, service: str) -> tuple[int, dict[str, Any]]:
        """The index and config entry of `service` in `trading-platform:services`."""
        value: ConfigValue = self._call(
            "read the services of", lambda s: s.get_config(SERVICES_KEY)
        )
        try:
            entries = json.loads(value.value)
        except ValueError:
            raise DriverError(
                f"{SERVICES_KEY} of stack '{self.stack_name}' is not a list of services",
                hint="check the stack file",
            ) from None
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and entry.get("name") == service:
                return index, entry
        names = [e.get("name") for e in entries if isinstance(e, dict)]
        raise BadInput(
            f"no service '{service}' in stack '{self.stack_name}'", hint=f"services: {names}"
        )

    def _call(self, doing: str, action: Callable[[ConfigStack], Any]) -> Any:
        """Run `action` on the stack; any failure becomes a DriverError.

        The underlying message is left out: it may echo config values, including secrets.
        """
        try:
            if self._stack is None:
                self._stack = self._factory(self.stack_name, self.work_dir)
            return action(self._stack)
        except FileNotFoundError as err:  # the Automation API runs the `pulumi` binary
            raise DriverError(
                f"could not {doing} stack '{self.stack_name}': the Pulumi CLI is not "
                f"installed (no `{err.filename or 'pulumi'}` on PATH)",
                hint="install the Pulumi CLI and log in, or rehearse on the local stack",
            ) from None
        except Exception as err:
            raise DriverError(
                f"could not {doing} stack '{self.stack_name}' ({type(err).__name__})",
                hint="check that the Pulumi CLI is installed and logged in "
                "(`pulumi stack select` works in the project)",
            ) from None
