"""AWS for the staging rehearsal without AWS: a moto server in this process, the staging
stack's AWS resources the engine touches created in it, and boto3 pointed at it.

moto (a dev dependency) emulates the AWS APIs over HTTP; the engine's own boto3 clients
reach it through `AWS_ENDPOINT_URL` (`pointed_at`), exactly as they would reach AWS, so
every backend is built by its stack factory, unchanged. Two behaviours of moto are brought
closer to AWS's while `MotoServer` runs (process-wide patches, undone on exit):

- CloudFront invalidations: moto answers "COMPLETED", AWS "InProgress" then "Completed" (the
  spelling boto3's `invalidation_completed` waiter matches); here they complete at once,
  spelled as AWS does.
- CloudWatch percentiles: moto computes none; here a `pNN` statistic is the nearest-rank
  percentile of the period's datapoints, as CloudWatch gives ALB `TargetResponseTime`.

What this does not prove: IAM permissions, AWS's real latencies (a snapshot takes minutes,
an invalidation up to fifteen), throttling, or CloudWatch's one-minute ALB resolution
(moto answers with the datapoints of the last seconds).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from stackspec.errors import BadInput

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "stand-in", "AWS_SECRET_ACCESS_KEY": "stand-in"}


class MotoServer:
    """A moto server on a free loopback port, with the two AWS behaviours above."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise BadInput(
                "the staging rehearsal needs moto (a dev dependency) for its AWS stand-in",
                hint="uv sync --group dev",
            ) from None
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._undo: list[tuple[Any, str, Any]] = []
        self.endpoint = ""

    def __enter__(self) -> MotoServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._patch_invalidations()
        self._patch_percentiles()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def _patch_invalidations(self) -> None:
        from moto.cloudfront import models

        original = models.Invalidation.__init__

        def init(invalidation: Any, *args: Any, **kwargs: Any) -> None:
            original(invalidation, *args, **kwargs)
            invalidation.status = "Completed"

        self._patch(models.Invalidation, "__init__", init)

    def _patch_percentiles(self) -> None:
        from moto.cloudwatch import models

        original = models.Statistics.get_statistics_for_type

        def statistic(stats: Any, stat: str) -> Any:
            if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
                return percentile(stats.metric_single_values_list, float(stat[1:]))
            return original(stats, stat)

        self._patch(models.Statistics, "get_statistics_for_type", statistic)


def percentile(values: list[float], rank: float) -> float | None:
    """The nearest-rank `rank` percentile of `values`; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


@contextmanager
def pointed_at(endpoint: str) -> Iterator[None]:
    """Every boto3 client made meanwhile talks to `endpoint` with dummy credentials; the
    environment is restored afterwards. Set aside meanwhile: the profile and session token,
    and whatever would send a client elsewhere (a service's own AWS_ENDPOINT_URL_<SERVICE>
    wins over AWS_ENDPOINT_URL; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS would ignore both)."""
    wanted = {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, **DUMMY_CREDENTIALS}
    hidden = [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        *(key for key in os.environ if key.startswith("AWS_ENDPOINT_URL_")),
    ]
    with environment(wanted, hidden):
        yield


@contextmanager
def environment(values: Mapping[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """`values` set and `unset` removed from the environment meanwhile, then restored."""
    removed = list(unset)
    saved = {key: os.environ.get(key) for key in (*values, *removed)}
    os.environ.update(values)
    for key in removed:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class StagingAws:
    """What the stand-in AWS holds for one service: its ALB (listener forwarding to a
    target group per color), the database writer and the CloudFront distribution."""

    load_balancer_arn: str
    listener_arn: str
    target_groups: dict[str, str]  # color -> target group ARN
    rds_instance_id: str
    distribution_id: str


def create_staging(stack: str, service: str, active_color: str, port: int) -> StagingAws:
    """Create the resources in the AWS `boto3` reaches now (inside `pointed_at`), all
    traffic forwarded to `active_color`, as the stack file records it."""
    ec2, elbv2 = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.41.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate((f"{REGION}a", f"{REGION}b"))
    ]
    alb = elbv2.create_load_balancer(Name=f"{stack}-{service}", Subnets=subnets)
    alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {
        color: elbv2.create_target_group(
            Name=f"{service}-{color}", Protocol="HTTP", Port=port, VpcId=vpc
        )["TargetGroups"][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    forward = [
        {"TargetGroupArn": arn, "Weight": 100 if color == active_color else 0}
        for color, arn in groups.items()
    ]
    action: Any = {"Type": "forward", "ForwardConfig": {"TargetGroups": forward}}
    listener = elbv2.create_listener(
        LoadBalancerArn=alb_arn, Protocol="HTTP", Port=80, DefaultActions=[action]
    )["Listeners"][0]["ListenerArn"]
    return StagingAws(
        alb_arn, listener, groups, _rds_writer(f"{stack}-trading-writer"), _distribution(stack)
    )


def _rds_writer(identifier: str) -> str:
    boto3.client("rds").create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="15.7",
        MasterUsername="trading",
        MasterUserPassword="stand-in-password",
        AllocatedStorage=50,
    )
    return identifier


def _distribution(stack: str) -> str:
    origin = {
        "Id": "origin",
        "DomainName": f"trading.{stack}.example.com",
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "https-only",
        },
    }
    config = {
        "CallerReference": f"{stack}-rehearsal-{time.time_ns()}",
        "Comment": f"{stack} rehearsal stand-in",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "origin",
            "ViewerProtocolPolicy": "https-only",
            "MinTTL": 0,
        },
    }
    made = boto3.client("cloudfront").create_distribution(DistributionConfig=config)
    return str(made["Distribution"]["Id"])
