"""A stateful server run in-cluster (dev): a StatefulSet with a PVC, a Service, its own
ServiceAccount and the NetworkPolicy that admits only the trading services.

The database, cache and broker components of a kubernetes stack are each one of these.
Their pods satisfy the `restricted` Pod Security Standard: a non-root high UID, no
privilege escalation, every capability dropped, seccomp RuntimeDefault, a read-only root
filesystem with emptyDirs where the image must write (see `PROFILES`), no API token.

Images: the settings accept on this substrate only versions published as Docker Hub tags
(`stackspec.model`: REDIS_IMAGE_TAGS, KAFKA_IMAGE_TAGS; ElastiCache's `7.1` and MSK's
`3.6.0` have no image). A minor-line tag (`redis:7.0`, `postgres:15`) moves with every
patch release, so `pinned_image` pins it to a full release that exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

# Pod label every in-cluster data server carries; the services' NetworkPolicies reach it.
TIER_LABEL = "trading/tier"
DATA_TIER = "data"
SERVICE_TIER = "service"
# A high UID/GID no image user maps to on the node (checkov CKV_K8S_40: >= 10000).
RUN_AS = 10001


@dataclass(frozen=True)
class ImageProfile:
    """What this module knows of one image repository: full releases of its floating tags,
    the paths it writes outside its data volume, the env vars that must name a directory
    below the volume's root, and its size."""

    tags: dict[str, str]  # floating tag (major or major.minor) -> a full release of it
    writable: tuple[str, ...] = ()
    # env var -> subdirectory of the data volume it is set to, whatever the spec says.
    below_root: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: dict[str, str] = field(default_factory=lambda: {"cpu": "500m", "memory": "512Mi"})


PROFILES: dict[str, ImageProfile] = {
    "postgres": ImageProfile(
        tags={"13": "13.16", "14": "14.13", "15": "15.8", "16": "16.4", "17": "17.0"},
        # The server's socket and lock file; /tmp also holds nss_wrapper's passwd for a UID
        # the image does not know.
        writable=("/var/run/postgresql",),
        # initdb refuses a non-empty directory, and an ext4 volume's root holds lost+found.
        below_root={"PGDATA": "pgdata"},
        requests={"cpu": "250m", "memory": "512Mi"},
        limits={"cpu": "1", "memory": "1Gi"},
    ),
    "redis": ImageProfile(
        tags={"6.2": "6.2.14", "7.0": "7.0.15", "7.2": "7.2.5", "7.4": "7.4.2"},
    ),
    "apache/kafka": ImageProfile(
        tags={"3.7": "3.7.2", "3.8": "3.8.1", "3.9": "3.9.1"},
        # The image renders server.properties and copies log4j files into its config
        # directory at start, and logs under /opt/kafka/logs.
        writable=("/opt/kafka/config", "/opt/kafka/logs"),
        # An ext4 volume's root holds lost+found, and Kafka refuses to start on a log
        # directory holding anything but partitions ("Found directory .../lost+found").
        below_root={"KAFKA_LOG_DIRS": "logs"},
        # The image's JVM heap is 1 GiB (KAFKA_HEAP_OPTS): the limit leaves room above it.
        requests={"cpu": "250m", "memory": "1536Mi"},
        limits={"cpu": "1", "memory": "2Gi"},
    ),
}
GENERIC = ImageProfile(tags={})
SECRETS_MOUNT = "/run/secrets/server"


def pinned_image(image: str) -> str:
    """`image` with a floating tag pinned to a full release ('redis:7.0' -> 'redis:7.0.15');
    a full release, or a tag or repository this module does not know, is left as given."""
    repository, _, tag = image.rpartition(":")
    profile = PROFILES.get(repository, GENERIC)
    pinned = profile.tags.get(tag)
    return f"{repository}:{pinned}" if pinned else image


@dataclass(frozen=True)
class ServerSpec:
    """What to run: image, port, environment, data mount and its size."""

    image: str
    port: int
    data_path: str
    storage_gb: int = 10
    env: dict[str, str] = field(default_factory=dict)
    # env var -> key of the Secret. Delivered as a file, never as an env value (env leaks
    # into `kubectl describe`, crash dumps and child processes): the Secret is mounted at
    # SECRETS_MOUNT and `<VAR>_FILE` names the key's file, the docker-library images'
    # convention (postgres reads POSTGRES_PASSWORD_FILE).
    secret_env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


class InClusterServer(pulumi.ComponentResource):
    """One replica of `spec` as a StatefulSet behind a Service named `name`.

    Every child is parented to this component, so a provider given in `opts` reaches them.
    """

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
        self.account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=meta, automount_service_account_token=False, opts=child
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
        self.network_policy = _admit_services(name, namespace, spec.port, labels, child)
        self.endpoint: pulumi.Output[str] = pulumi.Output.from_input(
            f"{name}.{namespace}.svc.cluster.local:{spec.port}"
        )
        self.register_outputs({"endpoint": self.endpoint})


def _admit_services(
    name: str, namespace: str, port: int, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Ingress to this server only from the trading services' pods, and from itself (a
    broker reaches its own advertised address through its Service)."""
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-ingress",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-ingress", namespace=namespace, labels=labels
        ),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            policy_types=["Ingress", "Egress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        _peer({TIER_LABEL: SERVICE_TIER}),
                        _peer(labels),
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")],
                )
            ],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[_peer(labels)],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")],
                )
            ],
        ),
        opts=opts,
    )


def _peer(labels: dict[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
    )


def _pod(
    name: str, spec: ServerSpec, labels: dict[str, str], secret_name: pulumi.Input[str] | None
) -> k8s.core.v1.PodTemplateSpecArgs:
    repository = spec.image.rpartition(":")[0]
    profile = PROFILES.get(repository, GENERIC)
    writable = ("/tmp", *profile.writable)
    scratch = {path: f"scratch-{i}" for i, path in enumerate(writable)}
    volumes = [
        k8s.core.v1.VolumeArgs(name=volume, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())
        for volume in scratch.values()
    ]
    if spec.secret_env:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="secrets",
                # 0440: readable by the pod's group (fsGroup) only.
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secret_name, default_mode=0o440
                ),
            )
        )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, TIER_LABEL: DATA_TIER}),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=name,
            automount_service_account_token=False,
            security_context=pod_security(),
            containers=[_container(name, spec, profile, scratch)],
            volumes=volumes,
        ),
    )


def _container(
    name: str,
    spec: ServerSpec,
    profile: ImageProfile,
    scratch: dict[str, str],
) -> k8s.core.v1.ContainerArgs:
    values = {**spec.env, **{k: f"{spec.data_path}/{d}" for k, d in profile.below_root.items()}}
    env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in values.items()]
    env += [
        k8s.core.v1.EnvVarArgs(name=f"{var}_FILE", value=f"{SECRETS_MOUNT}/{key}")
        for var, key in spec.secret_env.items()
    ]
    mounts = [k8s.core.v1.VolumeMountArgs(name="data", mount_path=spec.data_path)]
    mounts += [k8s.core.v1.VolumeMountArgs(name=v, mount_path=p) for p, v in scratch.items()]
    if spec.secret_env:
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_MOUNT, read_only=True)
        )
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=pinned_image(spec.image),
        image_pull_policy="IfNotPresent",  # a full release, not a floating tag
        args=list(spec.args) or None,
        ports=[k8s.core.v1.ContainerPortArgs(container_port=spec.port, name="main")],
        env=env,
        startup_probe=_tcp_probe(spec.port, period=5, failures=36),  # up to 3 min to start
        readiness_probe=_tcp_probe(spec.port, period=5, failures=3),
        liveness_probe=_tcp_probe(spec.port, period=10, failures=6),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests=profile.requests, limits=profile.limits
        ),
        security_context=container_security(),
        volume_mounts=mounts,
    )


def _tcp_probe(port: int, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=port),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=3,
    )


def pod_security() -> k8s.core.v1.PodSecurityContextArgs:
    """The pod half of the `restricted` Pod Security Standard, shared with the services."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        fs_group=RUN_AS,
        # Only chown the volume when its root is not ours yet: a large volume restarts fast.
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security() -> k8s.core.v1.SecurityContextArgs:
    """The container half of the `restricted` Pod Security Standard, plus a read-only root."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
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
