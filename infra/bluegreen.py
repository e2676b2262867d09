"""A blue-green pair of one service on Kubernetes.

Per color: a Deployment labelled app/color/version, a Service `<name>-<color>`, a
PodDisruptionBudget that always lets a node drain (none for a single replica) and (if set) a
HorizontalPodAutoscaler. Per service: one ServiceAccount `<name>`, with the IRSA annotation
when a role is given. Per configuration version (`config/<name>/v<N>.yaml`, validated
first): an immutable ConfigMap `<name>-config-v<N>`;
each color's pods mount the one of the version that color runs (`configVersions`), at
CONFIG_MOUNT, and carry it in the annotation `trading/config-version`.
For the pair: a stable Service `<name>` on the active color, a preview Service
`<name>-preview` on the other, and for HTTP services a Gateway API HTTPRoute `<name>` whose
backend weights are the declared split (the kubernetes router changes those weights during
a release).

Pods meet the `restricted` Pod Security Standard (non-root high UID, no privilege
escalation, capabilities dropped, seccomp RuntimeDefault) with a read-only root filesystem
and an emptyDir at /tmp; requests and limits; startup and readiness probes on the health
path, liveness on the port; spread across zones (`kubernetes.zoneSpread`) and nodes. No API
token is mounted: the services never call the Kubernetes API, and IRSA does not need one
(see `ROLE_ANNOTATION`).

On aws stacks (`data` given, see `DataWiring`) each container mounts the service's ESO-synced
Secret `<name>-data-credentials` read-only as files under `CREDENTIALS_MOUNT` (required: a pod
without its credentials must not start; files, not env, because RDS rotates its password
and a mounted Secret follows the rotation while an env var keeps the old value until the
pod restarts), and gets the MSK IAM bootstrap brokers, the client security
`msk-iam` and the region, under the names the services read (samples.options). Without
`data` (dev) the containers carry no data-tier env, as before.
Every child is parented to the component, so a provider given in `opts` reaches them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.incluster import SERVICE_TIER, TIER_LABEL, container_security, pod_security
from runbooks.config import files as config_files
from runbooks.config.registry import SCHEMAS as CONFIGURED
from runbooks.kafka_client import Security
from stackspec.model import Color, Service
from stackspec.model import Kubernetes as KubernetesSettings
from stackspec.stackfile import PROJECT, Problem, StackFileError, stack_path

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$")
CONFIG_MOUNT = "/etc/trading/config"
CREDENTIALS_MOUNT = "/etc/trading/credentials"  # the data-credentials Secret, a file per key
CONFIG_FILE = "config.yaml"
CONFIG_ANNOTATION = "trading/config-version"
# IRSA: the EKS pod identity webhook sees this on a pod's ServiceAccount and injects
# AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and its own projected token volume
# (`aws-iam-token`, audience sts.amazonaws.com). That volume does not depend on
# automountServiceAccountToken, so the API token stays unmounted; fsGroup makes the
# projected token readable by the non-root user.
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
SCRATCH = "/tmp"
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
# SASL_SSL with MSK IAM (runbooks.kafka_client): how clients on aws stacks connect.
KAFKA_SECURITY: Security = "msk-iam"


def doubled(quantity: str) -> str:
    """Twice a Kubernetes quantity, same unit: '250m' -> '500m', '1Gi' -> '2Gi', '0.5' -> '1'."""
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    number, unit = float(match.group(1)) * 2, match.group(2)
    text = str(int(number)) if number.is_integer() else f"{number:g}"
    return text + unit


@dataclass(frozen=True)
class DataWiring:
    """How a service's pods on an aws stack reach the managed data tier.

    `secret_name`: the Kubernetes Secret ESO keeps in sync (infra.secrets); `bootstrap_servers`:
    the MSK brokers for IAM auth (port 9098); `region`: the cluster's, for the IAM signer;
    `files`: variable -> key of that Secret, e.g. TRADING_POSTGRES_DSN_FILE -> postgres-dsn
    (infra.secrets.SecretDelivery.files): each variable names the key's file under the mount.
    `secret_ready`: what makes that Secret exist (its ExternalSecret, awaited until Ready);
    the Deployments wait for it, or their pods sit in ContainerCreating on the required mount.
    """

    secret_name: str
    bootstrap_servers: pulumi.Input[str]
    region: str
    files: Mapping[str, str] = field(default_factory=dict)
    secret_ready: Sequence[pulumi.Resource] = ()

    def env(self) -> list[k8s.core.v1.EnvVarArgs]:
        """The variables samples.options reads (TRADING_<NAME>, and AWS_REGION as boto does)."""
        return [
            k8s.core.v1.EnvVarArgs(name="TRADING_BOOTSTRAP_SERVERS", value=self.bootstrap_servers),
            k8s.core.v1.EnvVarArgs(name="TRADING_KAFKA_SECURITY", value=KAFKA_SECURITY),
            k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=self.region),
            *(
                k8s.core.v1.EnvVarArgs(name=env, value=f"{CREDENTIALS_MOUNT}/{key}")
                for env, key in sorted(self.files.items())
            ),
        ]

    def volume(self) -> k8s.core.v1.VolumeArgs:
        """The whole credentials Secret as files; required, so a pod never starts without it."""
        return k8s.core.v1.VolumeArgs(
            name="credentials",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=self.secret_name, optional=False, default_mode=0o440
            ),
        )

    def mount(self) -> k8s.core.v1.VolumeMountArgs:
        """Where the container reads them (one file per key), read-only."""
        return k8s.core.v1.VolumeMountArgs(
            name="credentials", mount_path=CREDENTIALS_MOUNT, read_only=True
        )


@dataclass(frozen=True)
class PairNames:
    """The Kubernetes names of one pair: what the runbooks look up."""

    service: str

    def color(self, color: Color) -> str:
        """Deployment and Service name of `color`."""
        return f"{self.service}-{color}"

    @property
    def stable(self) -> str:
        return self.service

    @property
    def preview(self) -> str:
        return f"{self.service}-preview"

    @property
    def route(self) -> str:
        return self.service

    @property
    def account(self) -> str:
        """The ServiceAccount both colors run as (the IRSA role's trust names it)."""
        return self.service


class BlueGreenService(pulumi.ComponentResource):
    """Both colors of `service`, its stable/preview Services and (HTTP only) its route."""

    def __init__(
        self,
        name: str,
        service: Service,
        cluster: KubernetesSettings,
        opts: pulumi.ResourceOptions | None = None,
        role_arn: pulumi.Input[str] | None = None,
        data: DataWiring | None = None,
        route_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("trading:infra:BlueGreenService", name, None, opts)
        # The HTTPRoute waits for these (the Gateway and its CRDs, see infra.gateway).
        self._route_after = list(route_after)
        self._child = pulumi.ResourceOptions(parent=self)
        self._svc, self._ns, self._cluster = service, cluster.namespace, cluster
        self._data = data
        self.names = PairNames(service.name)
        self.account = self._account(name, role_arn)
        self.config_maps = self._declare_config(name)
        for color in Color:
            self._declare_color(name, color)
        active = service.active_color
        self._service(f"{name}-stable", self.names.stable, active)
        self._service(f"{name}-preview", self.names.preview, active.other)
        self.route = self._route(name, cluster) if service.kind == "http" else None
        self.register_outputs({"stable": self.names.stable, "preview": self.names.preview})

    def _labels(self, color: Color) -> dict[str, str]:
        return {"app": self._svc.name, "color": str(color)}

    def _account(self, name: str, role_arn: pulumi.Input[str] | None) -> k8s.core.v1.ServiceAccount:
        """The service's own identity, shared by both colors (one IRSA role per service)."""
        return k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.names.account,
                namespace=self._ns,
                labels={"app": self._svc.name},
                annotations={ROLE_ANNOTATION: role_arn} if role_arn is not None else None,
            ),
            automount_service_account_token=False,
            opts=self._child,
        )

    def _meta(self, name: str, labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._ns, labels=labels)

    def _declare_config(self, name: str) -> dict[int, str]:
        """One immutable ConfigMap per configuration version; {version: ConfigMap name}.

        Every file is validated, and each color's declared version must be one of them:
        a bad or missing file stops the program before anything is declared.
        """
        svc = self._svc
        if svc.name not in CONFIGURED:
            return {}
        shipped = config_files.versions(svc.name)
        for color in Color:
            declared = svc.config_versions.of(color)
            if declared not in shipped:
                key = f"{PROJECT}:services[name={svc.name}].configVersions.{color}"
                allowed = f"allowed: a version of config/{svc.name}/: {shipped}"
                path = stack_path(pulumi.get_stack())
                raise StackFileError(path, [Problem(key, str(declared), allowed)])
        maps = {}
        for version in shipped:
            config_files.load_version(svc.name, version)
            text = config_files.version_path(svc.name, version).read_text(encoding="utf-8")
            maps[version] = config_files.config_map_name(svc.name, version)
            k8s.core.v1.ConfigMap(
                f"{name}-config-v{version}",
                metadata=self._meta(maps[version], {"app": svc.name}),
                data={CONFIG_FILE: text},
                # A version's content never changes: a change is a new version, so a
                # rollback can always point a color back at the old one.
                immutable=True,
                opts=self._child,
            )
        return maps

    def _declare_color(self, name: str, color: Color) -> None:
        svc, object_name = self._svc, self.names.color(color)
        labels = {**self._labels(color), "version": svc.versions.of(color)}
        config_map = self.config_maps.get(svc.config_versions.of(color))
        k8s.apps.v1.Deployment(
            f"{name}-{color}",
            metadata=self._meta(object_name, labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # With an autoscaler the HPA owns the replica count; declaring it would fight it.
                replicas=None if svc.autoscaling else svc.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._labels(color)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, TIER_LABEL: SERVICE_TIER},
                        annotations=(
                            {CONFIG_ANNOTATION: str(svc.config_versions.of(color))}
                            if config_map
                            else None
                        ),
                    ),
                    spec=self._pod_spec(color, config_map),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(self._data.secret_ready) if self._data else []
            ),
        )
        self._service(f"{name}-{color}-service", object_name, color)
        if svc.replicas >= 2 or svc.autoscaling is not None:
            # maxUnavailable, not minAvailable: a PDB that demands every replica (or 1 of 1)
            # makes `kubectl drain` wait forever. One replica gets none: it cannot be kept
            # up through a drain anyway.
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{color}-pdb",
                metadata=self._meta(object_name, self._labels(color)),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._labels(color)),
                    # A pod that is not ready serves nothing: evicting it never blocks a drain.
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=self._child,
            )
        if svc.autoscaling is not None:
            self._autoscaler(f"{name}-{color}-hpa", object_name, color)

    def _pod_spec(self, color: Color, config_map: str | None) -> k8s.core.v1.PodSpecArgs:
        volumes = [
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())
        ]
        if config_map:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="config",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map),
                )
            )
        if self._data:
            volumes.append(self._data.volume())
        return k8s.core.v1.PodSpecArgs(
            service_account_name=self.names.account,
            automount_service_account_token=False,
            security_context=pod_security(),
            containers=[self._container(color, config_map)],
            volumes=volumes,
            topology_spread_constraints=self._spread(color),
        )

    def _spread(self, color: Color) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        """Each color's pods evenly over zones, then over nodes (nodes only preferred)."""
        zone_rule = "DoNotSchedule" if self._cluster.zone_spread == "required" else "ScheduleAnyway"
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key=key,
                when_unsatisfiable=rule,
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._labels(color)),
                # Count only the current revision's pods, so a rollout is not skewed by the
                # pods it is replacing.
                match_label_keys=["pod-template-hash"],
            )
            for key, rule in ((ZONE_KEY, zone_rule), (HOST_KEY, "ScheduleAnyway"))
        ]

    def _container(self, color: Color, config_map: str | None) -> k8s.core.v1.ContainerArgs:
        svc = self._svc
        requests = {"cpu": svc.resources.cpu, "memory": svc.resources.memory}
        config_path = f"{CONFIG_MOUNT}/{CONFIG_FILE}"

        def probe(period: int, failures: int) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=svc.health_path, port=svc.port),
                period_seconds=period,
                failure_threshold=failures,
                timeout_seconds=2,
            )

        mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=SCRATCH)]
        if config_map:
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_MOUNT, read_only=True)
            )
        if self._data:
            mounts.append(self._data.mount())
        return k8s.core.v1.ContainerArgs(
            name=svc.name,
            image=f"{svc.image}:{svc.versions.of(color)}",
            # A release is a new tag, never a re-pushed one; a registry round-trip at every
            # pod start would sit on the path of a rollback.
            image_pull_policy="IfNotPresent",
            ports=[k8s.core.v1.ContainerPortArgs(container_port=svc.port, name="http")],
            env=[
                k8s.core.v1.EnvVarArgs(name="COLOR", value=str(color)),
                *(
                    [k8s.core.v1.EnvVarArgs(name="TRADING_CONFIG", value=config_path)]
                    if config_map
                    else []
                ),
                *(self._data.env() if self._data else []),
            ],
            volume_mounts=mounts,
            # Liveness and readiness start only once the startup probe passed (up to 60 s),
            # so a slow start is never killed. The health path also checks the service's
            # database and cache: it decides readiness, but liveness only asks whether the
            # process still accepts connections, so a database outage takes pods out of
            # rotation instead of restarting every one of them.
            startup_probe=probe(period=2, failures=30),
            readiness_probe=probe(period=5, failures=3),
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=svc.port),
                period_seconds=10,
                failure_threshold=3,
                timeout_seconds=2,
            ),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests=requests, limits={k: doubled(v) for k, v in requests.items()}
            ),
            security_context=container_security(),
        )

    def _service(self, resource_name: str, object_name: str, color: Color) -> None:
        k8s.core.v1.Service(
            resource_name,
            metadata=self._meta(object_name, {"app": self._svc.name}),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=self._labels(color),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=self._svc.port)],
            ),
            opts=self._child,
        )

    def _autoscaler(self, resource_name: str, target: str, color: Color) -> None:
        scaling = self._svc.autoscaling
        assert scaling is not None
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            resource_name,
            metadata=self._meta(target, self._labels(color)),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=target
                ),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization",
                                average_utilization=scaling.cpu_target_percent,
                            ),
                        ),
                    )
                ],
            ),
            opts=self._child,
        )

    def _route(self, name: str, cluster: KubernetesSettings) -> k8s.apiextensions.CustomResource:
        svc, split = self._svc, self._svc.split
        weights = {Color.BLUE: split.blue, Color.GREEN: split.green}
        backends = [
            {"name": self.names.color(c), "port": svc.port, "weight": weights[c]} for c in Color
        ]
        return k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata=self._meta(self.names.route, {"app": svc.name}),
            spec={
                "parentRefs": [
                    {"name": cluster.gateway_name, "namespace": cluster.gateway_namespace}
                ],
                "hostnames": [cluster.ingress_host],
                "rules": [{"backendRefs": backends}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._route_after),
        )
