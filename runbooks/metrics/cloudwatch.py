"""Metric provider reading a color's ALB target-group metrics from CloudWatch.

Namespace `AWS/ApplicationELB`, dimensions `LoadBalancer` + `TargetGroup`, per color's
target group (the same `target_group` name-or-ARN template as the aws-alb router):
- requests    = Sum of `RequestCount`
- errors      = Sum of `HTTPCode_Target_5XX_Count` (no datapoints means 0)
- edge_errors = Sum of `TargetConnectionErrorCount`: connections the ALB could not open
  to the group's targets (the ALB answers those 502/503 itself; the target never saw them)
- p95         = the largest per-period `p95` of `TargetResponseTime` (None without data)
over the last `window_seconds`, in periods of whole minutes (CloudWatch's ALB resolution).
The counts are already whole-number sums of events per period, added over the periods:
no delta or extrapolation is needed. There is no latency histogram (`latency` is empty);
the p95 is CloudWatch's own. The ALB's `HTTPCode_ELB_5XX_Count` has no target-group
dimension, so ALB errors with no target (e.g. no healthy target) belong to no color.
`has_series` is False when CloudWatch returned no datapoint at all for the group.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from runbooks.core.model import Sample, Target
from stackspec.errors import BadInput

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings

_AWS_ERRORS = (BotoCoreError, ClientError, LookupError)
_QUERIES = {
    "requests": ("RequestCount", "Sum"),
    "errors": ("HTTPCode_Target_5XX_Count", "Sum"),
    "edge_errors": ("TargetConnectionErrorCount", "Sum"),
    "p95": ("TargetResponseTime", "p95"),
}


class TargetGroupNotFound(Exception):
    """A color's target group could not be resolved; becomes a failed Sample."""


class CloudWatchMetrics:
    """Samples one color's target group behind load balancer `load_balancer` (ARN or
    `app/<name>/<id>`)."""

    def __init__(
        self,
        load_balancer: str,
        target_group: str = "{service}-{color}",
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        cloudwatch: CloudWatchClient | None = None,
        elbv2: ElasticLoadBalancingv2Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load_balancer = dimension_of(load_balancer)
        self._target_group = target_group
        self._cloudwatch = cloudwatch or boto3.client(
            "cloudwatch", region_name=region, endpoint_url=endpoint_url
        )
        self._elbv2 = elbv2 or boto3.client("elbv2", region_name=region, endpoint_url=endpoint_url)
        self._clock = clock

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> CloudWatchMetrics:
        """ALB target-group metrics of `rollout.metrics.loadBalancer` in the stack's region."""
        metrics, alb = settings.rollout.metrics, settings.rollout.alb
        if metrics.load_balancer is None or settings.aws is None:
            raise BadInput(
                "the cloudwatch metric provider needs rollout.metrics.loadBalancer and aws.region",
                hint="set rollout.metrics.loadBalancer to the ALB's ARN (or app/<name>/<id>)",
            )
        group = alb.target_group if alb is not None else "{service}-{color}"
        return cls(metrics.load_balancer, group, settings.aws.region)

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """GetMetricData over the window; AWS failures become a failed sample."""
        at = self._clock()
        try:
            group = self._group_dimension(target)
            end = datetime.fromtimestamp(at, UTC)
            answer = self._cloudwatch.get_metric_data(
                MetricDataQueries=self._queries(group, period_seconds(window_seconds)),
                StartTime=end - timedelta(seconds=window_seconds),
                EndTime=end,
            )
        except (*_AWS_ERRORS, TargetGroupNotFound) as exc:
            return Sample.failed(target.color, at, f"cloudwatch: {exc}")
        values = {
            r["Id"]: [float(v) for v in r.get("Values", [])] for r in answer["MetricDataResults"]
        }
        return Sample(
            color=target.color,
            requests=sum(values.get("requests", [])),
            errors=sum(values.get("errors", [])),
            p95_seconds=max(values["p95"]) if values.get("p95") else None,
            at=at,
            has_series=any(values.values()),
            edge_errors=sum(values.get("edge_errors", [])),
        )

    def _queries(self, group: str, period: int) -> Any:
        dimensions = [
            {"Name": "LoadBalancer", "Value": self._load_balancer},
            {"Name": "TargetGroup", "Value": group},
        ]
        return [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": metric,
                        "Dimensions": dimensions,
                    },
                    "Period": period,
                    "Stat": stat,
                },
            }
            for query_id, (metric, stat) in _QUERIES.items()
        ]

    def _group_dimension(self, target: Target) -> str:
        name_or_arn = self._target_group.format(service=target.service, color=target.color.value)
        if not name_or_arn.startswith("arn:"):
            try:
                found = self._elbv2.describe_target_groups(Names=[name_or_arn])["TargetGroups"]
            except _AWS_ERRORS as exc:
                raise TargetGroupNotFound(f"target group {name_or_arn}: {exc}") from exc
            name_or_arn = found[0]["TargetGroupArn"]
        return dimension_of(name_or_arn)


def dimension_of(arn_or_value: str) -> str:
    """CloudWatch's dimension value from an ELB ARN: `...:loadbalancer/app/n/id` ->
    `app/n/id`, `...:targetgroup/n/id` -> `targetgroup/n/id`; other text as is."""
    if not arn_or_value.startswith("arn:"):
        return arn_or_value
    resource = arn_or_value.split(":", 5)[5]
    return resource.removeprefix("loadbalancer/")


def period_seconds(window_seconds: float) -> int:
    """The window in whole minutes, at least one: CloudWatch's periods for ALB metrics."""
    return max(60, 60 * math.ceil(window_seconds / 60))
