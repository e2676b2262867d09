"""The one typed settings model of a stack, shared by the Pulumi program and the runbooks.

A stack file (`stacks/Pulumi.<stack>.yaml`) holds Pulumi config under the project's
namespace; each top-level key (`trading-platform:services`, ...) maps to one field of
`StackSettings`. Keys are camelCase, as Pulumi config keys are. Every model is strict and
forbids unknown keys, so a typo fails loudly instead of being ignored.

Loading and the error a bad file gets live in `stackspec.stackfile`; this module only says
what a valid stack is.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from stackspec import capacity
from stackspec.names import DNS_LABEL, VERSION
from stackspec.stackfile import LOCAL_STATE_DIR

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$"

Port = Annotated[int, Field(ge=1, le=65535)]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL)]
Version = Annotated[str, Field(pattern=VERSION)]
Percent = Annotated[float, Field(ge=0, le=100)]
# The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch Logs keeps logs for one of {list(LOG_RETENTION_DAYS)} days")
    return days


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


def _vpc_cidr(longest: int) -> AfterValidator:
    """An IPv4 network AWS accepts as a VPC's block: /16 (largest) to /`longest`."""

    def check(text: str) -> str:
        try:
            network = ipaddress.IPv4Network(text, strict=True)
        except ValueError as err:
            raise ValueError(f"an IPv4 network such as 10.40.0.0/16 ({err})") from None
        if not 16 <= network.prefixlen <= longest:
            raise ValueError(
                f"a VPC block from /16 to /{longest} (AWS allows /16-/28; the stack carves "
                "16 subnets of 4 bits more from a block it creates, and AWS's smallest is /28)"
            )
        return text

    return AfterValidator(check)


# A VPC the stack creates (its subnets are /prefix+4, at most /28) and one it adopts.
CreatedVpcCidr = Annotated[str, _vpc_cidr(24)]
AdoptedVpcCidr = Annotated[str, _vpc_cidr(28)]
HOSTNAME = r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
# CloudFront takes certificates from ACM in us-east-1 only.
ACM_CERTIFICATE_US_EAST_1 = r"^arn:aws:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}$"
WAF_GLOBAL_WEB_ACL = (
    r"^arn:aws:wafv2:us-east-1:[0-9]{12}:global/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}$"
)
# Versions that exist where they run (AWS docs, Docker Hub), checked per substrate by
# StackSettings. MSK: supported and not past end of support in 2026 (3.6.0 ended 2026-06-01,
# 3.7.x 2026-09-01).
MSK_MAX_ZONES = 3
MSK_KAFKA_VERSIONS = ("3.8.x", "3.9.x", "4.0.x", "4.1.x")
KAFKA_IMAGE_TAGS = ("3.7.0", "3.7.1", "3.8.0", "3.8.1", "3.9.0", "3.9.1", "4.0.0")
ELASTICACHE_REDIS_VERSIONS = ("6.0", "6.2", "7.0", "7.1")
REDIS_IMAGE_TAGS = ("6.0", "6.2", "7.0", "7.2", "7.4", "8.0")


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
    # Topics the service writes to: its IRSA role may write these and no others.
    produces: tuple[str, ...] = ()

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
    """PostgreSQL: the writer, its read replicas and its backups.

    On aws the last three keys size the monitoring: Enhanced Monitoring's interval (0 turns
    it off), and how long Performance Insights and the exported PostgreSQL logs are kept.
    """

    postgres_version: Annotated[str, Field(pattern=r"^1[3-7](\.[0-9]+)?$")] = "15"
    instance_class: Annotated[str, Field(pattern=r"^(db\.[a-z0-9]+\.[a-z0-9]+|local|in-cluster)$")]
    storage_gb: Annotated[int, Field(ge=1, le=65536)] = 20
    multi_az: bool = False
    read_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    backup_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    deletion_protection: bool = False
    pool_size: Annotated[int, Field(ge=1, le=1000)] = 20
    name: DnsLabel = "trading"
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = 60
    # Performance Insights keeps 7 days free, else whole months (31 days each) up to 2 years.
    performance_insights_days: Annotated[int, Field(ge=7, le=731)] = 7
    log_retention_days: LogRetentionDays = 365

    @field_validator("performance_insights_days")
    @classmethod
    def _pi_retention(cls, days: int) -> int:
        if days != 7 and (days % 31 or days > 713) and days != 731:
            raise ValueError(
                f"performanceInsightsDays must be 7, a multiple of 31 up to 713, or 731; got {days}"
            )
        return days


class Cache(Model):
    """Redis: a replication group (aws), a StatefulSet (kubernetes) or a process (local).

    `redisVersion` must exist where it runs: an ElastiCache engine version on aws
    (ELASTICACHE_REDIS_VERSIONS), a `redis:<tag>` image on kubernetes (REDIS_IMAGE_TAGS).
    """

    redis_version: Annotated[str, Field(pattern=r"^[678](\.[0-9]+)?$")] = "7.0"
    node_type: Annotated[str, Field(pattern=r"^(cache\.[a-z0-9]+\.[a-z0-9]+|local|in-cluster)$")]
    replicas: Annotated[int, Field(ge=0, le=5)] = 0
    tls: bool = False
    key_version: Annotated[int, Field(ge=1)] = 1
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    log_retention_days: LogRetentionDays = 365


class Topic(Model):
    """One Kafka topic.

    `replicationFactor` defaults to min(3, streaming.brokers) and `minInsyncReplicas` to one
    less than the replication factor (at least 1): with acks=all a write then survives the
    loss of a broker, and a broker can be patched without stopping producers.
    """

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9._-]{1,249}$")]
    partitions: Annotated[int, Field(ge=1, le=1000)] = 3
    retention_hours: Annotated[int, Field(ge=1, le=8760)] = 168
    replication_factor: Annotated[int, Field(ge=1, le=30)] | None = None
    min_insync_replicas: Annotated[int, Field(ge=1, le=30)] | None = None

    def replication(self, brokers: int) -> int:
        """The replication factor on a cluster of `brokers` brokers."""
        return self.replication_factor or min(3, brokers)

    def min_insync(self, brokers: int) -> int:
        """min.insync.replicas on a cluster of `brokers` brokers."""
        return self.min_insync_replicas or max(1, self.replication(brokers) - 1)


class Streaming(Model):
    """Kafka: MSK (aws), in-cluster (kubernetes) or the local broker.

    `kafkaVersion` must exist where it runs: an MSK version on aws (MSK_KAFKA_VERSIONS, which
    spells minor lines as `3.9.x`), an `apache/kafka:<tag>` image on kubernetes
    (KAFKA_IMAGE_TAGS). aws stacks need `auth: iam` and `tls: true` (the clients sign with
    MSK IAM over SASL_SSL).
    """

    kafka_version: Annotated[str, Field(pattern=r"^[234]\.[0-9]+(\.([0-9]+|x))*$")] = "3.9.1"
    brokers: Annotated[int, Field(ge=1, le=30)] = 1
    instance_type: str = "kafka.t3.small"
    auth: Literal["iam", "sasl-scram", "none"] = "none"
    tls: bool = False
    topics: tuple[Topic, ...] = ()
    log_retention_days: LogRetentionDays = 365

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: tuple[Topic, ...]) -> tuple[Topic, ...]:
        names = [t.name for t in topics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"topic names must be unique; repeated: {', '.join(dupes)}")
        return topics


class GeoRestriction(Model):
    """Which countries (ISO 3166-1 alpha-2) CloudFront serves: all, only some, or all but some."""

    type: Literal["none", "whitelist", "blacklist"] = "none"
    locations: tuple[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], ...] = ()

    @model_validator(mode="after")
    def _locations_match_type(self) -> GeoRestriction:
        if (self.type == "none") != (not self.locations):
            raise ValueError(
                f"type '{self.type}' needs "
                + ("no locations" if self.type == "none" else "at least one location")
                + f"; got {list(self.locations)}"
            )
        return self


class Edge(Model):
    """The edge cache in front of the HTTP services: CloudFront (aws) or Varnish (local).

    On aws an enabled edge needs `certificateArn` (ACM, us-east-1) and `aliases`: with the
    default *.cloudfront.net certificate CloudFront ignores `minTlsVersion`. `webAclArn`
    names an existing WAFv2 web ACL (scope CLOUDFRONT); unset, the stack creates one.
    """

    enabled: bool = True
    origin_service: DnsLabel = "trading-api"
    default_ttl_seconds: Annotated[int, Field(ge=0, le=31536000)] = 5
    max_ttl_seconds: Annotated[int, Field(ge=0, le=31536000)] = 60
    purge_on_release: bool = True
    https_only: bool = True
    min_tls_version: Literal["TLSv1.2_2021", "TLSv1.2_2019", "TLSv1.3"] = "TLSv1.2_2021"
    certificate_arn: Annotated[str, Field(pattern=ACM_CERTIFICATE_US_EAST_1)] | None = None
    aliases: Annotated[
        tuple[Annotated[str, Field(pattern=HOSTNAME)], ...], Field(max_length=100)
    ] = ()
    web_acl_arn: Annotated[str, Field(pattern=WAF_GLOBAL_WEB_ACL)] | None = None
    # Requests per 5 minutes from one IP before the created web ACL blocks it.
    rate_limit_per_5_minutes: Annotated[int, Field(ge=10, le=2_000_000_000)] = 2000
    geo_restriction: GeoRestriction = GeoRestriction()
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90

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
    # Consumers: the new color fails on lag (records its furthest-behind partition stayed
    # behind) above max_consumer_lag AND more than this percent above the old color's lag, so
    # a stream both colors are behind on (a burst, a slow broker) does not fail the release.
    max_consumer_lag: Annotated[int, Field(ge=0)] = 1000
    consumer_lag_increase_percent: Annotated[float, Field(ge=0, le=1000)] = 50.0


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


class ConsumerQueries(Model):
    """PromQL per consumer color, filled like `Queries` (`$service`, `$color`, `$version`).

    - `processed`, `errors`: RAW counters of records processed OK and records that failed
      (the window's requests are both, its errors the failed ones);
    - `latency`: the processing-time histogram's cumulative buckets, with their `le` label;
    - `lag`: a gauge, records behind, one series per partition the color owns; the provider
      takes each series' lowest value over the analysis interval, then the largest of those;
    - `partitions`: a gauge, partitions the color owns; the window's last value, summed;
    - `sync_age`: seconds from each member's last good sync with its assignment to the
      scrape that saw it (the scrape's timestamp minus the gauge: no matter how often
      Prometheus scrapes), one series per member; a last value above the heartbeat TTL is
      a hung consumer loop and makes the sample an ERROR measurement. Empty: not checked.
    """

    processed: str = (
        'sum by (instance) (messages_consumed_total{service="$service",color="$color",'
        'version="$version"})'
    )
    errors: str = (
        'sum by (instance) (consumer_errors_total{service="$service",color="$color",'
        'version="$version"})'
    )
    latency: str = (
        "sum by (instance, le) (message_processing_seconds_bucket"
        '{service="$service",color="$color",version="$version"})'
    )
    lag: str = (
        'max by (topic, partition) (consumer_lag{service="$service",color="$color",'
        'version="$version"})'
    )
    partitions: str = (
        'sum(consumer_partitions{service="$service",color="$color",version="$version"})'
    )
    sync_age: str = (
        "max by (instance) (timestamp(consumer_last_sync_timestamp_seconds"
        '{service="$service",color="$color",version="$version"})'
        ' - consumer_last_sync_timestamp_seconds{service="$service",color="$color",'
        'version="$version"})'
    )


class ConsumerMetrics(Model):
    """Where services of kind `consumer` are measured. `provider` null: the stack's own
    (`rollout.metrics.provider`); `url` null: `rollout.metrics.url`, else the stack's own
    Prometheus. Only providers that can measure consumers may be named here: cloudwatch
    (ALB target groups), haproxy (HAProxy backends) and http (probes) see no records."""

    provider: Literal["prometheus", "nop"] | None = None
    url: str | None = None
    queries: ConsumerQueries = ConsumerQueries()


class Metrics(Model):
    """Where the analysis reads its measurements from."""

    provider: Literal["prometheus", "haproxy", "http", "cloudwatch", "nop"] = "prometheus"
    url: str | None = None
    # cloudwatch: the ALB whose target groups carry the colors (ARN or `app/<name>/<id>`)
    load_balancer: Annotated[str, Field(min_length=1)] | None = None
    min_window_seconds: Annotated[float, Field(ge=0, le=3600)] = 0
    queries: Queries = Queries()
    consumers: ConsumerMetrics = ConsumerMetrics()


class Migrations(Model):
    """How database migrations run (see migrations/README.md)."""

    # A DDL statement waiting for its lock makes every writer queue behind it: give up fast.
    lock_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    lock_retries: Annotated[int, Field(ge=0, le=20)] = 5
    statement_timeout_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    # Contract runs this long after promotion, and never before the old color is retired
    # (scaleDownDelaySeconds); null: only by hand, with `runbook db contract`.
    contract_after_seconds: Annotated[float, Field(ge=0, le=86400)] | None = 0.0


class Alb(Model):
    """The aws-alb router: per service, the listener whose forward action it weighs.

    `target_group` names each color's target group (`{service}` and `{color}` filled in).
    """

    listener_arns: Annotated[
        dict[str, Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:")]], Field(min_length=1)
    ]
    target_group: Annotated[str, Field(min_length=1)] = "{service}-{color}"


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
    alb: Alb | None = None  # required by router aws-alb
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


class Promotion(Model):
    """What a rollout on this stack needs: evidence from another stack (`runbook rollout
    --from`), that stack's soak time since it promoted the version, and approvals."""

    require_evidence_from: DnsLabel | None = None
    required_soak_seconds: Annotated[float, Field(ge=0, le=30 * 86400)] = 0
    approvals: Annotated[int, Field(ge=0, le=20)] = 0


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
    """The VPC an aws stack creates with its cluster: per zone, one private subnet (nodes,
    pods, data tier) and one public subnet (NAT gateway, internet-facing load balancers).

    `zones` defaults to the first three zones of `aws.region` (see `Aws.zones`); each one
    given must be a zone of that region.

    `operatorSecurityGroupId` (created or adopted cluster): the security group of the deploy
    runner, in the cluster's VPC, that runs the release engine's steps reaching the data
    tier itself (db-migration on the database port, the Kafka canary on MSK's IAM port);
    the data tier admits it on those two ports only. Unset: only the services reach it.
    """

    vpc_cidr: CreatedVpcCidr = "10.40.0.0/16"
    zones: Annotated[tuple[str, ...], Field(min_length=2, max_length=6)] | None = None
    flow_log_retention_days: Literal[30, 60, 90, 180, 365, 731] = 365
    operator_security_group_id: Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")] | None = None


EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


class NodeGroup(Model):
    """The managed node group of a created cluster (one group across every private subnet)."""

    instance_types: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")], ...],
        Field(min_length=1),
    ] = ("m6i.large",)
    min_size: Annotated[int, Field(ge=1, le=450)] = 3
    desired_size: Annotated[int, Field(ge=1, le=450)] = 3
    max_size: Annotated[int, Field(ge=1, le=450)] = 6
    disk_gb: Annotated[int, Field(ge=20, le=16384)] = 50

    @model_validator(mode="after")
    def _sizes_ordered(self) -> NodeGroup:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need minSize <= desiredSize <= maxSize; got {self.min_size}, "
                f"{self.desired_size}, {self.max_size}"
            )
        return self


class CreatedCluster(Model):
    """An EKS cluster the stack creates, with its VPC (`aws.network`) and node group."""

    version: Annotated[str, Field(pattern=r"^1\.(2[89]|3[0-9])$")] = "1.34"
    # The API endpoint is private; these CIDRs (an operator VPN, CI runners) may also reach
    # it publicly. Empty: private only, so `pulumi up` must run from inside the VPC.
    public_access_cidrs: tuple[
        Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")], ...
    ] = ()
    node_group: NodeGroup = NodeGroup()
    # IAM roles given cluster-admin through EKS access entries (CI's deploy role, on-call's
    # break-glass role); whoever runs the first `pulumi up` is admin as the cluster creator.
    admin_role_arns: tuple[
        Annotated[
            str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$")
        ],
        ...,
    ] = ()

    @field_validator("public_access_cidrs")
    @classmethod
    def _no_open_endpoint(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        if "0.0.0.0/0" in cidrs:
            raise ValueError("0.0.0.0/0 would open the API endpoint to the internet")
        return cidrs


class AdoptedCluster(Model):
    """An existing EKS cluster the stack deploys into; the data tier joins its VPC.

    `subnetIds`: private subnets of that VPC in at least two zones, where the data tier's
    subnet groups and MSK brokers go. `securityGroupId`: the group the services' pods carry
    (the cluster security group for managed nodes). `vpcCidr`: that VPC's CIDR, the only
    destination of the services' egress to the data tier (infra.netpol). The cluster's own
    access (EKS access entries for whoever runs `pulumi up`) is managed where the cluster is.

    The operator must have network policy enabled in the cluster's VPC CNI add-on
    (`enableNetworkPolicy: "true"` in the vpc-cni add-on's configuration): without it EKS
    accepts the stack's NetworkPolicies and enforces none of them. A created cluster sets
    it itself.
    """

    name: Annotated[str, Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")]
    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    subnet_ids: Annotated[
        tuple[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")], ...],
        Field(min_length=2),
    ]
    # The security group the services' pods carry: the cluster security group EKS attaches
    # to managed nodes, or the nodes' own group. The data tier admits only this one.
    security_group_id: Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]
    oidc_provider_arn: Annotated[
        str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/oidc\.eks\..+$")
    ]
    oidc_issuer_url: Annotated[
        str, Field(pattern=r"^https://oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/[0-9A-Fa-f]+$")
    ]
    vpc_cidr: AdoptedVpcCidr


class Cluster(Model):
    """Exactly one of: `created` (the stack owns the cluster) or `adopted` (given by config)."""

    created: CreatedCluster | None = None
    adopted: AdoptedCluster | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Cluster:
        given = [k for k in ("created", "adopted") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "set exactly one of `created` (an EKS cluster the stack creates) or "
                f"`adopted` (name, vpcId, vpcCidr, subnetIds, securityGroupId, "
                f"oidcProviderArn, oidcIssuerUrl of an existing one); got {given or 'neither'}"
            )
        return self


class Gateway(Model):
    """The Gateway API side of the cluster: who installs the Gateway the routes attach to.

    `install`: the stack installs Envoy Gateway, the GatewayClass `className` and the
    Gateway (infra.gateway); null (the default) means yes on an aws stack that creates its
    EKS cluster, no elsewhere (an adopted or dev cluster that already runs a Gateway says
    nothing, or false). `tlsSecretName`: the kubernetes.io/tls Secret in
    kubernetes.gatewayNamespace holding the certificate of kubernetes.ingressHost, which the
    HTTPS listener serves to CloudFront (required when the stack installs the Gateway).
    """

    install: bool | None = None
    class_name: DnsLabel = "envoy-gateway"
    tls_secret_name: DnsLabel | None = None


class Kubernetes(Model):
    """Where the services run on a Kubernetes substrate.

    `context`: the kubeconfig context of the explicit provider on the kubernetes substrate
    (aws stacks build their kubeconfig from the cluster instead).
    """

    namespace: DnsLabel = "trading"
    gateway_name: DnsLabel = "trading-gateway"
    gateway_namespace: DnsLabel = "gateway"
    ingress_host: str = "trading.example.com"
    context: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    # Where Prometheus runs: the only namespace whose pods may scrape the services' port.
    # null: nothing scrapes from inside the cluster.
    metrics_namespace: DnsLabel | None = "monitoring"
    # `required`: a color's pods never pile into one zone (every node must carry the
    # topology.kubernetes.io/zone label, as EKS nodes do); `preferred`: best effort, for
    # clusters whose nodes have no zone label (kind, minikube).
    zone_spread: Literal["required", "preferred"] = "required"
    gateway: Gateway = Gateway()


class Aws(Model):
    """The AWS account side of a stack: region, cluster (created or adopted), network."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    cluster: Cluster
    network: Network = Network()

    @model_validator(mode="after")
    def _zones_in_region(self) -> Aws:
        zone = re.compile(rf"^{re.escape(self.region)}[a-z]$")
        wrong = [z for z in self.network.zones or () if not zone.match(z)]
        if wrong:
            raise KeyedError(
                "network.zones",
                wrong,
                f"zones {wrong} are not in region '{self.region}'; allowed: "
                f"'{self.region}' followed by one letter (e.g. {self.region}a)",
            )
        return self

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones of the created VPC: `network.zones`, else the region's a, b and c."""
        return self.network.zones or tuple(f"{self.region}{s}" for s in "abc")


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

    state_dir: str = LOCAL_STATE_DIR
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
    promotion: Promotion | None = None
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
            for key, listed in (("consumes", svc.consumes), ("produces", svc.produces)):
                unknown = sorted(set(listed) - topics)
                if unknown:
                    raise KeyedError(
                        f"services[{index}].{key}",
                        unknown,
                        f"service '{svc.name}' {key} unknown topic(s); "
                        f"declared topics (streaming.topics): {sorted(topics)}",
                    )
        self._topic_replication()
        if self.edge.enabled and self.edge.origin_service not in names:
            raise KeyedError(
                "edge.originService",
                self.edge.origin_service,
                f"edge.originService '{self.edge.origin_service}' is not a service; "
                f"services: {names}",
            )
        return self

    def _topic_replication(self) -> None:
        brokers = self.streaming.brokers
        # MSK restarts brokers one at a time to patch them: with min.insync.replicas equal
        # to the replication factor, every acks=all write to a partition on that broker fails.
        strict = self.substrate is Substrate.AWS
        for index, topic in enumerate(self.streaming.topics):
            key = f"streaming.topics[{index}]"
            factor, in_sync = topic.replication(brokers), topic.min_insync(brokers)
            if factor > brokers:
                raise KeyedError(
                    f"{key}.replicationFactor",
                    factor,
                    f"topic '{topic.name}': replicationFactor {factor} exceeds the "
                    f"{brokers} broker(s) of streaming.brokers; allowed: 1 to {brokers}",
                )
            if in_sync > factor or (strict and factor > 1 and in_sync >= factor):
                top = factor - 1 if strict and factor > 1 else factor
                raise KeyedError(
                    f"{key}.minInsyncReplicas",
                    in_sync,
                    f"topic '{topic.name}': minInsyncReplicas {in_sync} with replication "
                    f"factor {factor}; allowed: 1 to {top} (on aws one broker at a time is "
                    "patched, and writes must go on meanwhile)",
                )
            if strict and factor < min(2, brokers):
                raise KeyedError(
                    f"{key}.replicationFactor",
                    factor,
                    f"topic '{topic.name}': replicationFactor 1 on {brokers} MSK brokers loses "
                    f"acknowledged records with a broker; allowed: 2 to {brokers}",
                )

    @model_validator(mode="after")
    def _data_tier_exists_where_it_runs(self) -> StackSettings:
        if self.substrate is Substrate.LOCAL:
            return self
        on_aws = self.substrate is Substrate.AWS
        checks = (
            (
                "cache.redisVersion",
                self.cache.redis_version,
                (ELASTICACHE_REDIS_VERSIONS, "an ElastiCache Redis OSS engine version"),
                (REDIS_IMAGE_TAGS, "a redis image tag"),
            ),
            (
                "streaming.kafkaVersion",
                self.streaming.kafka_version,
                (MSK_KAFKA_VERSIONS, "an MSK Kafka version still supported"),
                (KAFKA_IMAGE_TAGS, "an apache/kafka image tag"),
            ),
        )
        for key, value, on_msk_or_elasticache, as_image in checks:
            allowed, what = on_msk_or_elasticache if on_aws else as_image
            if value not in allowed:
                raise KeyedError(
                    key,
                    value,
                    f"{key} '{value}' is not {what} on substrate '{self.substrate}'; "
                    f"allowed: {list(allowed)}",
                )
        if on_aws:
            self._aws_streaming_and_edge()
        return self

    def _aws_streaming_and_edge(self) -> None:
        if self.streaming.auth != "iam" or not self.streaming.tls:
            raise KeyedError(
                "streaming.auth",
                self.streaming.auth,
                "aws stacks need streaming.auth: iam and streaming.tls: true "
                "(the services and runbooks connect with MSK IAM over SASL_SSL)",
            )
        if not self.cache.tls:
            raise KeyedError(
                "cache.tls",
                False,
                "aws stacks need cache.tls: true (ElastiCache takes an AUTH token only with "
                "encryption in transit)",
            )
        zones = self._broker_zones()
        if self.streaming.brokers % zones:
            raise KeyedError(
                "streaming.brokers",
                self.streaming.brokers,
                f"MSK puts the same number of brokers in each of its {zones} zones: "
                f"use a multiple of {zones}",
            )
        edge = self.edge
        if not edge.enabled:
            return
        why = (
            "CloudFront applies edge.minTlsVersion only with a certificate of the stack's "
            "own; or set edge.enabled: false"
        )
        if edge.certificate_arn is None:
            raise KeyedError(
                "edge.certificateArn",
                None,
                "an aws stack with the edge enabled needs edge.certificateArn, an ACM "
                "certificate in us-east-1 (arn:aws:acm:us-east-1:<account>:certificate/<id>): "
                + why,
            )
        if not edge.aliases:
            raise KeyedError(
                "edge.aliases",
                [],
                "an aws stack with the edge enabled needs edge.aliases, the host names the "
                "certificate covers: " + why,
            )
        origin = self.kubernetes.ingress_host if self.kubernetes else None
        if origin in edge.aliases:
            raise KeyedError(
                "edge.aliases",
                list(edge.aliases),
                f"edge.aliases must not contain the origin host '{origin}' "
                "(kubernetes.ingressHost): CloudFront would fetch from itself",
            )

    @model_validator(mode="after")
    def _node_group_fits(self) -> StackSettings:
        """Both colours of every service at their minimum, plus a rolling update's surge,
        must fit the created node group at its minimum size (nothing adds nodes)."""
        created = self.aws.cluster.created if self.aws else None
        if created is None or self.substrate is not Substrate.AWS:
            return self  # an adopted cluster's nodes are sized where it is managed
        nodes, key = created.node_group, "aws.cluster.created.nodeGroup"
        unknown = [t for t in nodes.instance_types if capacity.usable(t) is None]
        if unknown:
            raise KeyedError(
                f"{key}.instanceTypes",
                unknown,
                f"no allocatable capacity known for {unknown}, so the stack cannot check "
                f"that its pods fit; allowed: {sorted(capacity.ALLOCATABLE)} "
                "(or add the type to stackspec/capacity.py)",
            )
        per_node = min(
            (capacity.usable(t) or capacity.Amount(0, 0) for t in nodes.instance_types),
            key=lambda a: (a.cpu_m, a.memory_mi),
        )
        needed, pods = capacity.PLATFORM, 0
        for svc in self.services:
            pod = capacity.Amount(
                capacity.cpu_millis(svc.resources.cpu), capacity.mebibytes(svc.resources.memory)
            )
            if not pod.fits_in(per_node):
                raise KeyedError(
                    f"{key}.instanceTypes",
                    list(nodes.instance_types),
                    f"one pod of '{svc.name}' requests {pod} (services.resources); a node "
                    f"of {list(nodes.instance_types)} leaves {per_node} for pods",
                )
            minimum = svc.autoscaling.min_replicas if svc.autoscaling else svc.replicas
            count = 2 * (minimum + capacity.max_surge(minimum))
            pods += count
            needed = needed + pod.times(count)
        room = per_node.times(nodes.min_size)
        if not needed.fits_in(room):
            raise KeyedError(
                f"{key}.minSize",
                nodes.min_size,
                f"{key}.minSize {nodes.min_size} x {list(nodes.instance_types)} leaves {room} "
                f"for pods, but both colours of services[*] at their minimum replicas "
                "(autoscaling.minReplicas, else replicas) with a rolling update's surge "
                f"({capacity.DEFAULT_MAX_SURGE_PERCENT}% per Deployment) are {pods} pods "
                f"needing {needed - capacity.PLATFORM} (services.resources requests) plus "
                f"{capacity.PLATFORM} for the cluster's add-ons: {needed} in all; raise "
                f"minSize (nothing adds nodes) or use a larger instance type",
            )
        return self

    @model_validator(mode="after")
    def _gateway_installable(self) -> StackSettings:
        if self.kubernetes is None or not self.installs_gateway:
            return self
        gateway = self.kubernetes.gateway
        if gateway.tls_secret_name is None:
            raise KeyedError(
                "kubernetes.gateway.tlsSecretName",
                None,
                "the stack installs the Gateway (kubernetes.gateway.install, default true on an "
                "aws stack that creates its cluster), so it needs kubernetes.gateway."
                "tlsSecretName: the kubernetes.io/tls Secret (a DNS label) in "
                f"kubernetes.gatewayNamespace '{self.kubernetes.gateway_namespace}' with the "
                f"certificate of '{self.kubernetes.ingress_host}' that CloudFront's https-only "
                "origin connects to; or set kubernetes.gateway.install: false",
            )
        if self.kubernetes.gateway_namespace == self.kubernetes.namespace:
            raise KeyedError(
                "kubernetes.gatewayNamespace",
                self.kubernetes.gateway_namespace,
                f"kubernetes.gatewayNamespace must differ from kubernetes.namespace "
                f"'{self.kubernetes.namespace}' when the stack installs the Gateway: its proxies "
                "run there, outside the services' default-deny policies",
            )
        return self

    @property
    def installs_gateway(self) -> bool:
        """Whether the program installs the Gateway: `kubernetes.gateway.install`, else
        true on an aws stack that creates its EKS cluster."""
        if self.kubernetes is None or self.substrate is Substrate.LOCAL:
            return False
        if self.kubernetes.gateway.install is not None:
            return self.kubernetes.gateway.install
        return self.aws is not None and self.aws.cluster.created is not None

    def _broker_zones(self) -> int:
        """How many zones MSK spreads brokers over: the data tier's subnets, at most 3."""
        assert self.aws is not None
        adopted = self.aws.cluster.adopted
        subnets = len(adopted.subnet_ids) if adopted else len(self.aws.zones)
        return min(MSK_MAX_ZONES, subnets)

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
