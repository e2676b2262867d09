"""Where a color's configuration lives, and how it is changed: one class per substrate.

A target answers two things for one service: which configuration version a color runs now
(`running`), and make a color run a version (`give`), returning only once the color is
seen running it (or raising `ConfigNotTaken` with what was seen instead).

- `LocalTarget`: the file `<state>/config/<service>-<color>.yaml` (a copy of
  `config/<service>/v<N>.yaml`) is what the process loads; `give` replaces it atomically,
  sends the process SIGHUP and polls its /health until it reports a reload: the version it
  reports then, or the error of a refused file, is the answer.
- `KubernetesTarget`: the color's Deployment mounts ConfigMap `<service>-config-v<N>`
  (declared by the Pulumi program for every version); `give` patches the pod template to
  the version's ConfigMap and waits until the rollout of that Deployment is complete.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Protocol

import httpx

from runbooks.config import files
from runbooks.config.files import config_map_name
from runbooks.kube_config import load_kube_config
from runbooks.local import record
from runbooks.local.process import pid_alive, wait_until
from stackspec.errors import StepError
from stackspec.model import Color

CONFIG_ANNOTATION = "trading/config-version"
CONFIG_VOLUME = "config"


class ConfigNotTaken(StepError):
    """A color was asked to run a configuration version and is not running it."""


class ConfigTarget(Protocol):
    """Reads and changes the configuration version of one service's colors."""

    def running(self, color: Color) -> int | None:
        """The version `color` runs now; None if it cannot be told."""
        ...

    def give(self, color: Color, version: int) -> str:
        """Make `color` run `version`; returns what was done. Raises ConfigNotTaken."""
        ...


def rendered_path(state_dir: Path, service: str, color: Color) -> Path:
    """The file one color of one service loads on the local stack."""
    return state_dir / "config" / f"{service}-{color.value}.yaml"


def render(
    state_dir: Path, service: str, color: Color, version: int, root: Path | None = None
) -> Path:
    """Copy the validated `v<version>.yaml` of `service` to the color's file, atomically.

    Raises ConfigFileError (nothing written) if that version is missing or invalid.
    """
    files.load_version(service, version, root)
    target = rendered_path(state_dir, service, color)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(files.version_path(service, version, root).read_text(encoding="utf-8"))
    os.replace(tmp, target)  # the process never reads half a file
    return target


class LocalTarget:
    """The configuration of one service's processes on the local stack."""

    def __init__(
        self, state_dir: Path, service: str, timeout: float = 30.0, root: Path | None = None
    ) -> None:
        self.state_dir, self.service, self.timeout, self.root = state_dir, service, timeout, root

    def running(self, color: Color) -> int | None:
        """What the process reports; the rendered file's version if it is not running."""
        part = self._part(color)
        if part is not None and part.server.alive():
            reported: int | None = self._health(part)["config"]["version"]
            return reported
        path = rendered_path(self.state_dir, self.service, color)
        return files.load_file(path, self.service).version if path.exists() else None

    def give(self, color: Color, version: int) -> str:
        """Render `v<version>`, signal the process, wait until it reports the reload."""
        name = f"{self.service}-{color.value}"
        part = self._part(color)
        alive = part is not None and pid_alive(part.server.pid)
        before = self._health(part) if alive and part is not None else None
        path = render(self.state_dir, self.service, color, version, self.root)
        if part is None or before is None:
            return f"{path} holds v{version}; {name} is not running (it loads it on start)"
        if before["config"]["version"] == version and not before["config"]["error"]:
            return f"{name} already runs v{version}"
        os.kill(part.server.pid, signal.SIGHUP)
        seen = self._after_reload(part, int(before["config"]["reloads"]), name)
        config = seen["config"]
        if config["error"]:
            raise ConfigNotTaken(
                f"{name} refused v{version} and keeps running v{config['version']}: "
                f"{config['error']}"
            )
        if config["version"] != version:
            raise ConfigNotTaken(f"{name} reloaded but runs v{config['version']}, not v{version}")
        return f"{name} runs v{version} (reloaded on SIGHUP)"

    def _after_reload(self, part: record.Part, before: int, name: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reloaded() -> bool:
            seen.update(self._health(part))
            return int(seen["config"]["reloads"]) > before

        try:
            wait_until(reloaded, self.timeout, f"{name} to reload its configuration")
        except TimeoutError as err:
            raise ConfigNotTaken(str(err), hint=f"read {part.server.log_path}") from None
        return seen

    def _part(self, color: Color) -> record.Part | None:
        return record.load(self.state_dir).get(f"{self.service}-{color.value}")

    def _health(self, part: record.Part) -> dict[str, Any]:
        # /health answers 503 when a dependency is down, with the same body: read it anyway.
        answer = httpx.get(part.detail["health"], timeout=5)
        body: dict[str, Any] = answer.json()
        if "config" not in body:
            raise ConfigNotTaken(f"{part.server.name} does not report its configuration")
        return body


class KubernetesTarget:
    """The configuration of one service's Deployments: which ConfigMap each color mounts.

    `apps_api` is a kubernetes AppsV1Api (built from kubeconfig or in-cluster if not given).
    """

    def __init__(
        self,
        namespace: str,
        service: str,
        timeout: float = 240.0,
        apps_api: Any = None,
        context: str | None = None,
    ) -> None:
        if apps_api is None:
            from kubernetes import client

            load_kube_config(context, ConfigNotTaken)
            apps_api = client.AppsV1Api()
        self.namespace, self.service, self.timeout, self.apps = (
            namespace,
            service,
            timeout,
            apps_api,
        )

    def running(self, color: Color) -> int | None:
        """The version the Deployment's pod template carries."""
        deployment = self._read(color)
        annotations = deployment.spec.template.metadata.annotations or {}
        value = annotations.get(CONFIG_ANNOTATION)
        return int(value) if value is not None else None

    def give(self, color: Color, version: int) -> str:
        """Point the color's pods at the version's ConfigMap; wait for the rollout."""
        name = f"{self.service}-{color.value}"
        if self.running(color) == version:
            return f"Deployment {name} already runs v{version}"
        patch = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {CONFIG_ANNOTATION: str(version)}},
                    "spec": {
                        "volumes": [
                            {
                                "name": CONFIG_VOLUME,
                                "configMap": {"name": config_map_name(self.service, version)},
                            }
                        ]
                    },
                }
            }
        }
        self._call("patch", self.apps.patch_namespaced_deployment, name, self.namespace, patch)
        try:
            wait_until(lambda: self._rolled_out(color), self.timeout, f"{name} to roll out")
        except TimeoutError as err:
            raise ConfigNotTaken(str(err), hint=f"kubectl rollout status deploy/{name}") from None
        return f"Deployment {name} runs ConfigMap {config_map_name(self.service, version)}"

    def _read(self, color: Color) -> Any:
        name = f"{self.service}-{color.value}"
        return self._call("read", self.apps.read_namespaced_deployment, name, self.namespace)

    def _call(self, what: str, method: Any, name: str, *args: Any) -> Any:
        """`method(name, *args)`; the Kubernetes API's errors become one ConfigNotTaken."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(name, *args)
        except (ApiException, HTTPError) as exc:
            why = f"{getattr(exc, 'status', '')} {getattr(exc, 'reason', None) or exc}".strip()
            raise ConfigNotTaken(
                f"cannot {what} Deployment {name} in namespace {self.namespace}: {why}",
                hint="check the kube context, the namespace, and RBAC for deployments",
            ) from None

    def _rolled_out(self, color: Color) -> bool:
        deployment = self._read(color)
        status, wanted = deployment.status, deployment.spec.replicas or 0
        return bool(
            (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
            and (status.updated_replicas or 0) >= wanted
            and (status.available_replicas or 0) >= wanted
            and (status.replicas or 0) == (status.updated_replicas or 0)
        )
