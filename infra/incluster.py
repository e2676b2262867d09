"""A stateful server run in-cluster (dev): a StatefulSet with a PVC and a Service.

The database, cache and broker components of a kubernetes stack are each one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ServerSpec:
    """What to run: image, port, environment, data mount and its size."""

    image: str
    port: int
    data_path: str
    storage_gb: int = 10
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)  # env var -> key of the Secret
    args: tuple[str, ...] = ()


class InClusterServer(pulumi.ComponentResource):
    """One replica of `spec` as a StatefulSet behind a Service named `name`."""

    def __init__(
        self,
        type_token: str,
        name: str,
        spec: ServerSpec,
        namespace: str,
        secret_name: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app": name}
        meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels)
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta,
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=labels, ports=[k8s.core.v1.ServicePortArgs(port=spec.port, name="main")]
            ),
            opts=child,
        )
        self.stateful_set = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=meta,
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=name,
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=_pod(name, spec, labels, secret_name),
                volume_claim_templates=[_claim(spec.storage_gb)],
            ),
            opts=child,
        )
        self.endpoint: pulumi.Output[str] = pulumi.Output.from_input(
            f"{name}.{namespace}.svc.cluster.local:{spec.port}"
        )
        self.register_outputs({"endpoint": self.endpoint})


def _pod(
    name: str, spec: ServerSpec, labels: dict[str, str], secret_name: pulumi.Input[str] | None
) -> k8s.core.v1.PodTemplateSpecArgs:
    env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in spec.env.items()]
    env += [
        k8s.core.v1.EnvVarArgs(
            name=var,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
            ),
        )
        for var, key in spec.secret_env.items()
    ]
    container = k8s.core.v1.ContainerArgs(
        name=name,
        image=spec.image,
        args=list(spec.args) or None,
        ports=[k8s.core.v1.ContainerPortArgs(container_port=spec.port, name="main")],
        env=env,
        readiness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=spec.port), period_seconds=5
        ),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="data", mount_path=spec.data_path)],
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
        spec=k8s.core.v1.PodSpecArgs(containers=[container]),
    )


def _claim(storage_gb: int) -> k8s.core.v1.PersistentVolumeClaimArgs:
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                requests={"storage": f"{storage_gb}Gi"}
            ),
        ),
    )
