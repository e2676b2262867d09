"""The one typed settings model of a stack, shared by the Pulumi program and the runbooks.

A stack file (`stacks/Pulumi.<stack>.yaml`) holds Pulumi config under the project's
namespace; each top-level key (`trading-platform:services`, ...) maps to one field of
`StackSettings`. Keys are camelCase, as Pulumi config keys are. Every model is strict and
forbids unknown keys, so a typo fails loudly instead of being ignored.

Loading and the error a bad file gets live in `infra.stackfile`; this module only says
what a valid stack is.
"""

from __future__ import annotations

import re
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$"

Port = Annotated[int, Field(ge=1, le=65535)]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL)]
Version = Annotated[str, Field(pattern=VERSION)]
Percent = Annotated[float, Field(ge=0, le=100)]


class KeyedError(ValueError):
    """A cross-field error that knows which key (relative to the model) it is about."""

    def __init__(self, key: str, value: object, message: str) -> None:
        self.key = key
        self.value = value
        super().__init__(message)


class Model(BaseModel):
    """Base of every settings model: strict types, unknown keys rejected, camelCase keys."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


class Substrate(StrEnum):
    """Where a stack runs."""

    LOCAL = "local"
    KUBERNETES = "kubernetes"
    AWS = "aws"


class Color(StrEnum):
    """The two slots of a blue-green pair."""

    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Color:
        """The opposite color."""
        return Color.GREEN if self is Color.BLUE else Color.BLUE


class Resources(Model):
    """Kubernetes requests for one pod; limits are derived (2x) by the component."""

    cpu: Annotated[str, Field(pattern=QUANTITY)] = "250m"
    memory: Annotated[str, Field(pattern=QUANTITY)] = "256Mi"


class Autoscaling(Model):
    """Horizontal autoscaling of each color's Deployment."""

    min_replicas: Annotated[int, Field(ge=1)] = 2
    max_replicas: Annotated[int, Field(ge=1)] = 6
    cpu_target_percent: Annotated[int, Field(ge=10, le=95)] = 70

    @model_validator(mode="after")
    def _max_not_below_min(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"maxReplicas ({self.max_replicas}) must be >= minReplicas ({self.min_replicas})"
            )
        return self


class Versions(Model):
    """The version deployed in each color of a pair."""

    blue: Version
    green: Version

    def of(self, color: Color) -> str:
        """The version running in `color`."""
        return self.blue if color is Color.BLUE else self.green


class ConfigVersions(Model):
    """The runtime configuration version (`config/<service>/v<N>.yaml`) each color runs."""

    blue: Annotated[int, Field(ge=1)] = 1
    green: Annotated[int, Field(ge=1)] = 1

    def of(self, color: Color) -> int:
        """The configuration version of `color`."""
        return self.blue if color is Color.BLUE else self.green


class Split(Model):
    """Traffic split of a pair in percent, written back by the runbooks after a release."""

    blue: Annotated[int, Field(ge=0, le=100)]
    green: Annotated[int, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _adds_up(self) -> Split:
        if self.blue + self.green != 100:
            raise ValueError(f"blue + green must be 100; got {self.blue} + {self.green}")
        return self


class Service(Model):
    """One blue-green service of the trading system."""

    name: DnsLabel
    kind: Literal["http", "consumer"] = "http"
    image: Annotated[str, Field(min_length=1, pattern=r"^[^\s:]+$")]
    port: Port
    health_path: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/health"
    replicas: Annotated[int, Field(ge=1, le=100)] = 2
    active_color: Color = Color.BLUE
    versions: Versions
    config_versions: ConfigVersions = ConfigVersions()
    weights: Split | None = None
    resources: Resources = Resources()
    autoscaling: Autoscaling | None = None
    consumes: tuple[str, ...] = ()

    @property
    def active_version(self) -> str:
        """The version serving traffic."""
        return self.versions.of(self.active_color)

    @property
    def split(self) -> Split:
        """The declared split: `weights` if set, else all traffic on the active color."""
        if self.weights is not None:
            return self.weights
        on_blue = self.active_color is Color.BLUE
        return Split(blue=100 if on_blue else 0, green=0 if on_blue else 100)


class Database(Model):
    """PostgreSQL: the writer, its read replicas and its backups."""

    postgres_version: Annotated[str, Field(pattern=r"^1[3-7](\.[0-9]+)?$")] = "15"
    instance_class: Annotated[str, Field(pattern=r"^(db\.[a-z0-9]+\.[a-z0-9]+|local|in-cluster)$")]
    storage_gb: Annotated[int, Field(ge=1, le=65536)] = 20
    multi_az: bool = False
    read_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    backup_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    deletion_protection: bool = False
    pool_size: Annotated[int, Field(ge=1, le=1000)] = 20
    name: DnsLabel = "trading"


class Cache(Model):
    """Redis: a replication group (aws), a StatefulSet (kubernetes) or a process (local)."""

    redis_version: Annotated[str, Field(pattern=r"^[67](\.[0-9]+)?$")] = "7.1"
    node_type: Annotated[str, Field(pattern=r"^(cache\.[a-z0-9]+\.[a-z0-9]+|local|in-cluster)$")]
    replicas: Annotated[int, Field(ge=0, le=5)] = 0
    tls: bool = False
    key_version: Annotated[int, Field(ge=1)] = 1


class Topic(Model):
    """One Kafka topic."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9._-]{1,249}$")]
    partitions: Annotated[int, Field(ge=1, le=1000)] = 3
    retention_hours: Annotated[int, Field(ge=1, le=8760)] = 168


class Streaming(Model):
    """Kafka: MSK (aws), in-cluster (kubernetes) or the local broker."""

    kafka_version: Annotated[str, Field(pattern=r"^[23]\.[0-9]+(\.[0-9]+)*$")] = "3.6.0"
    brokers: Annotated[int, Field(ge=1, le=30)] = 1
    instance_type: str = "kafka.t3.small"
    auth: Literal["iam", "sasl-scram", "none"] = "none"
    tls: bool = False
    topics: tuple[Topic, ...] = ()

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: tuple[Topic, ...]) -> tuple[Topic, ...]:
        names = [t.name for t in topics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"topic names must be unique; repeated: {', '.join(dupes)}")
        return topics


class Edge(Model):
    """The edge cache in front of the HTTP services: CloudFront (aws) or Varnish (local)."""

    enabled: bool = True
    origin_service: DnsLabel = "trading-api"
    default_ttl_seconds: Annotated[int, Field(ge=0, le=31536000)] = 5
    max_ttl_seconds: Annotated[int, Field(ge=0, le=31536000)] = 60
    purge_on_release: bool = True
    https_only: bool = True
    min_tls_version: Literal["TLSv1.2_2021", "TLSv1.2_2019", "TLSv1.3"] = "TLSv1.2_2021"

    @model_validator(mode="after")
    def _ttls_ordered(self) -> Edge:
        if self.max_ttl_seconds < self.default_ttl_seconds:
            raise ValueError(
                f"maxTtlSeconds ({self.max_ttl_seconds}) must be >= "
                f"defaultTtlSeconds ({self.default_ttl_seconds})"
            )
        return self


class Step(Model):
    """One phase of a rollout: send `weight` percent to the new color, then bake."""

    weight: Annotated[int, Field(ge=0, le=100)]
    bake_seconds: Annotated[float, Field(ge=0, le=86400)] = 60


class Thresholds(Model):
    """How much worse than the old color the new one may be (defaults: the team's targets)."""

    error_rate_increase_pp: Annotated[float, Field(ge=0, le=100)] = 0.1
    p95_latency_increase_percent: Annotated[float, Field(ge=0, le=1000)] = 10.0
    # Latencies of both colors under this are not judged (said so, never "Successful"): the
    # noise between two processes on one machine is larger than 10% of a millisecond.
    p95_latency_floor_ms: Annotated[float, Field(ge=0, le=60000)] = 1.0
    availability_percent: Percent = 99.9
    min_requests: Annotated[int, Field(ge=1)] = 50
    # How sure a test must be that the new color is worse by more than the effect above.
    confidence_percent: Annotated[float, Field(ge=50, lt=100)] = 95.0


class RollbackTargets(Model):
    """How fast each kind of change must be undoable, in seconds (the team's bars)."""

    config_seconds: Annotated[int, Field(ge=1)] = 300
    api_seconds: Annotated[int, Field(ge=1)] = 900
    schema_seconds: Annotated[int, Field(ge=1)] = 1800


class Queries(Model):
    """PromQL per color as `string.Template` text; `$service`, `$color` and `$version` (the
    version that color runs in the release) are filled in.

    Each query gives RAW counter series, never rate() or increase(): the provider takes
    every series' whole-number delta over the window itself (restarts and series born in
    the window included) and adds them up. Sum by `instance` (one per process) rather than
    over everything, so one process restarting is not read as all of them restarting.
    - `requests`: requests the service answered; `errors`: those with a 5xx;
    - `latency`: the cumulative histogram buckets, with their `le` label;
    - `edge_errors`: requests of the color that failed at the router, never reaching the
      service (default: HAProxy's per-server connection and response errors, whose server
      names are the colors); empty text skips it.
    """

    requests: str = (
        "sum by (instance) (http_requests_total"
        '{service="$service",color="$color",version="$version"})'
    )
    errors: str = (
        "sum by (instance) (http_requests_total"
        '{service="$service",color="$color",version="$version",code=~"5.."})'
    )
    latency: str = (
        "sum by (instance, le) (http_request_duration_seconds_bucket"
        '{service="$service",color="$color",version="$version"})'
    )
    edge_errors: str = (
        'sum by (instance) ({__name__=~"haproxy_server_(connection|response)_errors_total",'
        'proxy="be_$service",server="$color"})'
    )


class Metrics(Model):
    """Where the analysis reads its measurements from."""

    provider: Literal["prometheus", "haproxy", "http", "cloudwatch", "nop"] = "prometheus"
    url: str | None = None
    min_window_seconds: Annotated[float, Field(ge=0, le=3600)] = 0
    queries: Queries = Queries()


class Migrations(Model):
    """How database migrations run (see migrations/README.md)."""

    # A DDL statement waiting for its lock makes every writer queue behind it: give up fast.
    lock_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    lock_retries: Annotated[int, Field(ge=0, le=20)] = 5
    statement_timeout_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    # Contract runs this long after promotion, and never before the old color is retired
    # (scaleDownDelaySeconds); null: only by hand, with `runbook db contract`.
    contract_after_seconds: Annotated[float, Field(ge=0, le=86400)] | None = 0.0


class Rollout(Model):
    """The rollout policy: how a new version is phased in and judged."""

    strategy: Literal["canary", "blue-green"] = "canary"
    steps: tuple[Step, ...] = (
        Step(weight=5, bake_seconds=60),
        Step(weight=25, bake_seconds=120),
        Step(weight=50, bake_seconds=120),
        Step(weight=100, bake_seconds=60),
    )
    analysis_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 15
    failure_limit: Annotated[int, Field(ge=0)] = 1
    consecutive_error_limit: Annotated[int, Field(ge=0)] = 4
    inconclusive_limit: Annotated[int, Field(ge=0)] = 3
    # A step ends (and a release promotes) only on this many successful windows in a row.
    consecutive_success_limit: Annotated[int, Field(ge=1, le=100)] = 1
    scale_down_delay_seconds: Annotated[float, Field(ge=0)] = 30
    thresholds: Thresholds = Thresholds()
    rollback_targets: RollbackTargets = RollbackTargets()
    migrations: Migrations = Migrations()
    metrics: Metrics = Metrics()
    router: Literal["haproxy", "kubernetes", "aws-alb", "nop"] | None = None
    manual_promotion: bool = False

    @field_validator("steps")
    @classmethod
    def _steps_rise_to_100(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        if not steps:
            raise ValueError("at least one step is required, and the last must have weight 100")
        weights = [s.weight for s in steps]
        if any(b <= a for a, b in pairwise(weights)):
            raise ValueError(f"step weights must strictly increase; got {weights}")
        if weights[-1] != 100:
            raise ValueError(f"the last step must have weight 100; got {weights}")
        return steps


class SecretRef(Model):
    """A Pulumi secret as it stands in a stack file: `{secure: <ciphertext>}`.

    The plaintext is never held by the settings; the stack driver resolves it when needed.
    """

    secure: Annotated[str, Field(min_length=1)]


class EnvRef(Model):
    """A secret read from an environment variable at run time (for the local stack)."""

    env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class Notifications(Model):
    """Where release events go: a Slack-compatible webhook, held as a secret."""

    webhook_url: SecretRef | EnvRef | None = None

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _no_plaintext(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(
                "a secret in plain text is not allowed; set it with "
                "`pulumi config set --secret --path notifications.webhookUrl <url>` "
                "(gives {secure: ...}) or use {env: VAR_NAME}"
            )
        return value


class Network(Model):
    """The VPC of an aws stack: private subnets per zone, one per entry of `zones`."""

    vpc_cidr: Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")] = "10.40.0.0/16"
    zones: Annotated[tuple[str, ...], Field(min_length=1, max_length=6)] = (
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    )


class Kubernetes(Model):
    """Where the services run on a Kubernetes substrate."""

    namespace: DnsLabel = "trading"
    gateway_name: DnsLabel = "trading-gateway"
    gateway_namespace: DnsLabel = "gateway"
    ingress_host: str = "trading.example.com"


class Aws(Model):
    """The AWS account side of a stack."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")] = "us-east-1"
    network: Network = Network()
    certificate_arn: str | None = None


class LocalPorts(Model):
    """Loopback ports of the local rehearsal substrate."""

    edge: Port = 18080
    haproxy: Port = 18081
    haproxy_stats: Port = 18404
    postgres: Port = 15432
    redis: Port = 16379
    kafka: Port = 19092
    prometheus: Port = 19090
    service_base: Port = 18100


class Local(Model):
    """The local rehearsal substrate: real servers as processes on loopback."""

    state_dir: str = ".local-stack"
    ports: LocalPorts = LocalPorts()

    @model_validator(mode="after")
    def _ports_unique(self) -> Local:
        ports = self.ports.model_dump()
        values = list(ports.values())
        clashes = sorted({k for k, v in ports.items() if values.count(v) > 1})
        if clashes:
            raise ValueError(f"ports must be distinct; shared by: {', '.join(clashes)}")
        return self


class StackSettings(Model):
    """Everything one stack declares; read by `infra/__main__.py` and by the runbooks."""

    substrate: Substrate
    services: Annotated[tuple[Service, ...], Field(min_length=1)]
    database: Database
    cache: Cache
    streaming: Streaming
    edge: Edge = Edge()
    rollout: Rollout = Rollout()
    notifications: Notifications = Notifications()
    kubernetes: Kubernetes | None = None
    aws: Aws | None = None
    local: Local | None = None

    @model_validator(mode="after")
    def _substrate_sections(self) -> StackSettings:
        needs: dict[Substrate, tuple[str, ...]] = {
            Substrate.LOCAL: ("local",),
            Substrate.KUBERNETES: ("kubernetes",),
            Substrate.AWS: ("kubernetes", "aws"),
        }
        missing = [s for s in needs[self.substrate] if getattr(self, s) is None]
        if missing:
            raise KeyedError(
                missing[0],
                None,
                f"substrate '{self.substrate}' requires the section(s): {', '.join(missing)}",
            )
        return self

    @model_validator(mode="after")
    def _services_consistent(self) -> StackSettings:
        names = [s.name for s in self.services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise KeyedError(
                "services", dupes, f"service names must be unique; repeated: {', '.join(dupes)}"
            )
        topics = {t.name for t in self.streaming.topics}
        for index, svc in enumerate(self.services):
            unknown = sorted(set(svc.consumes) - topics)
            if unknown:
                raise KeyedError(
                    f"services[{index}].consumes",
                    unknown,
                    f"service '{svc.name}' consumes unknown topic(s); "
                    f"declared topics: {sorted(topics)}",
                )
        if self.edge.enabled and self.edge.origin_service not in names:
            raise KeyedError(
                "edge.originService",
                self.edge.origin_service,
                f"edge.originService '{self.edge.origin_service}' is not a service; "
                f"services: {names}",
            )
        return self

    @property
    def router(self) -> str:
        """The traffic router's registry name: the policy's choice, else the substrate's."""
        if self.rollout.router is not None:
            return self.rollout.router
        return "haproxy" if self.substrate is Substrate.LOCAL else "kubernetes"

    def service(self, name: str) -> Service:
        """The service called `name`; raises KeyError naming the known services."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(f"no service '{name}'; services: {[s.name for s in self.services]}")


def is_valid_name(name: str) -> bool:
    """Whether `name` is usable as a stack or service name (a DNS label)."""
    return re.fullmatch(DNS_LABEL, name) is not None
