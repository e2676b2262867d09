"""Deploy a version to one color of a service on Kubernetes.

Deployment `<service>-<color>` (infra/bluegreen.py names and labels it) gets the image
`<image>:<version>` on its container named `<service>` (its only container, if none is) and the
label `version` on its metadata and its pod template; the selector (app, color) is not
touched. The change is one JSON patch (RFC 6902) whose `test` op pins the container's
position, so a reordered container list fails instead of patching the wrong container. Then
the rollout is polled until available, as `kubectl rollout status` judges it: the controller
has observed the new generation, every desired replica is updated and available, and no
old replica is left. The deadline's error says what was last seen.

Idempotent, so an interrupted deploy is completed by calling deploy again: a Deployment
already carrying the image and label is not patched, only waited for (at once when it is
already available).

Every kubernetes and urllib3 failure becomes a DriverError here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from runbooks.core.model import Color
from runbooks.kube_config import load_kube_config
from stackspec.errors import DriverError

VERSION_LABEL = "version"
RBAC_HINT = "check the kube context, the namespace, and RBAC for deployments (get, patch)"


@dataclass(frozen=True)
class Rollout:
    """What a Deployment's status says about its rollout."""

    generation: int
    observed: int
    desired: int
    replicas: int
    updated: int
    available: int

    @classmethod
    def of(cls, deployment: dict[str, Any]) -> Rollout:
        """From a Deployment as `to_dict()` gives it (snake_case keys; absent counts are 0)."""
        status = deployment.get("status") or {}
        spec_replicas = (deployment.get("spec") or {}).get("replicas")
        return cls(
            generation=int(deployment["metadata"].get("generation") or 0),
            observed=int(status.get("observed_generation") or 0),
            desired=1 if spec_replicas is None else int(spec_replicas),
            replicas=int(status.get("replicas") or 0),
            updated=int(status.get("updated_replicas") or 0),
            available=int(status.get("available_replicas") or 0),
        )

    @property
    def available_now(self) -> bool:
        return (
            self.observed >= self.generation
            and self.updated == self.available == self.desired
            and self.replicas == self.updated
        )

    def __str__(self) -> str:
        return (
            f"generation {self.generation} (observed {self.observed}), {self.desired} desired, "
            f"{self.updated} updated, {self.available} available, {self.replicas} in total"
        )


def deployment_name(service: str, color: Color) -> str:
    """As infra.bluegreen.PairNames.color names it."""
    return f"{service}-{color.value}"


def image_patch(deployment: dict[str, Any], service: str, image: str, version: str) -> list[Any]:
    """The JSON patch that gives `deployment` (a `to_dict()`) `image` and the `version` label;
    [] when it already has both. DriverError when no container can be chosen."""
    template = deployment["spec"]["template"]
    containers = template["spec"]["containers"]
    names = [c["name"] for c in containers]
    if service in names:
        index = names.index(service)
    elif len(containers) == 1:
        index = 0
    else:
        raise DriverError(
            f"Deployment {deployment['metadata']['name']} has no container named {service} "
            f"among {names}",
            hint="the blue-green component names the container after the service",
        )
    ops: list[Any] = []
    container = f"/spec/template/spec/containers/{index}"
    if containers[index].get("image") != image:
        ops += [
            {"op": "test", "path": f"{container}/name", "value": names[index]},
            {"op": "replace", "path": f"{container}/image", "value": image},
        ]
    for where, meta in (
        ("/metadata", deployment["metadata"]),
        ("/spec/template/metadata", template.get("metadata")),
    ):
        labels = (meta or {}).get("labels")
        if labels is None:
            ops.append({"op": "add", "path": f"{where}/labels", "value": {VERSION_LABEL: version}})
        elif labels.get(VERSION_LABEL) != version:
            ops.append({"op": "add", "path": f"{where}/labels/{VERSION_LABEL}", "value": version})
    return ops


class KubernetesDeployer:
    """Rolls a version out on one color's Deployment and waits for it to be available.

    `apps_api` (kubernetes AppsV1Api) is built from the in-cluster config, else the local
    kubeconfig, unless given.
    """

    def __init__(
        self,
        namespace: str,
        apps_api: Any = None,
        timeout_seconds: float = 600.0,
        poll_seconds: float = 2.0,
    ) -> None:
        self._namespace = namespace
        self._apps = apps_api if apps_api is not None else default_apps_api()
        self._timeout = timeout_seconds
        self._poll = poll_seconds

    def deploy(self, service: str, color: Color, version: str, image: str) -> None:
        """Run `<image>:<version>` on `<service>-<color>` and return once its rollout is
        available; DriverError when the Deployment is missing, the API fails, or the rollout
        is not available within `timeout_seconds`."""
        name = deployment_name(service, color)
        ops = image_patch(self._read(name), service, f"{image}:{version}", version)
        if ops:
            self._call(name, "patch", self._apps.patch_namespaced_deployment, ops)
        self._wait(name, service, f"{image}:{version}", version)

    def _wait(self, name: str, service: str, image: str, version: str) -> None:
        deadline = time.monotonic() + self._timeout
        while True:
            live = self._read(name)
            if image_patch(live, service, image, version):
                raise DriverError(
                    f"Deployment {self._namespace}/{name} was changed while its rollout of "
                    f"{image} was awaited",
                    hint="another deploy or a `pulumi up` is running; deploy again after it",
                )
            rollout = Rollout.of(live)
            if rollout.available_now:
                return
            if time.monotonic() >= deadline:
                raise DriverError(
                    f"Deployment {self._namespace}/{name} rollout of {image} not available "
                    f"after {self._timeout:g}s: {rollout}",
                    hint=f"kubectl -n {self._namespace} rollout status deployment/{name}; "
                    "look at its new pods (image pull, readiness probe); deploy again to resume",
                )
            time.sleep(self._poll)

    def _read(self, name: str) -> dict[str, Any]:
        found = self._call(name, "read", self._apps.read_namespaced_deployment)
        deployment: dict[str, Any] = found.to_dict() if hasattr(found, "to_dict") else found
        return deployment

    def _call(self, name: str, what: str, method: Any, *body: Any) -> Any:
        """`method(name, namespace, *body)` with its failures as DriverError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        where = f"Deployment {self._namespace}/{name}"
        try:
            return method(name, self._namespace, *body)
        except ApiException as exc:
            if exc.status == 404:
                raise DriverError(
                    f"{where} is missing",
                    hint="run `pulumi up` for the stack: it declares both colors' Deployments",
                ) from exc
            raise DriverError(
                f"cannot {what} {where}: {exc.status} {exc.reason}", hint=RBAC_HINT
            ) from exc
        except HTTPError as exc:
            cause = type(getattr(exc, "reason", None) or exc).__name__
            raise DriverError(
                f"cannot {what} {where}: the Kubernetes API at {self._host()} is unreachable "
                f"({cause})",
                hint="check the kube context and that the cluster is up",
            ) from exc

    def _host(self) -> str:
        api_client = getattr(self._apps, "api_client", None)
        return str(getattr(getattr(api_client, "configuration", None), "host", "?"))


def default_apps_api(context: str | None = None) -> Any:
    """AppsV1Api from the in-cluster config, else the local kubeconfig (at `context` when
    given); DriverError when neither can be loaded (a malformed kubeconfig included)."""
    from kubernetes import client

    load_kube_config(context, DriverError, purpose="deploy to")
    return client.AppsV1Api()
