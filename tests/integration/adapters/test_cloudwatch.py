"""The cloudwatch metric provider against moto in SERVER mode (no AWS here: moto emulates
the CloudWatch and elbv2 APIs over HTTP). Datapoints are put with put_metric_data, as the
ALB would publish them, then read back through GetMetricData. Moto computes no
percentiles, so p95 is checked by the unit test of the answer's parsing instead."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runbooks.core.model import Color, Target
from runbooks.metrics.cloudwatch import CloudWatchMetrics
from tests.integration.adapters.conftest import aws_client

pytestmark = pytest.mark.integration

LB = "app/trading/0123456789abcdef"


def publish(cloudwatch: Any, group_arn: str, metric: str, values: list[float]) -> None:
    """Datapoints of `metric` for the group, 20 s ago, as the ALB publishes them."""
    group = group_arn.split(":", 5)[5]
    at = datetime.now(UTC) - timedelta(seconds=20)
    cloudwatch.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": LB},
                    {"Name": "TargetGroup", "Value": group},
                ],
                "Timestamp": at,
                "Value": value,
            }
            for value in values
        ],
    )


def make_group(elbv2: Any, ec2: Any, name: str) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc)
    return str(group["TargetGroups"][0]["TargetGroupArn"])


def test_sample_reads_what_the_alb_published(moto_endpoint: str) -> None:
    service = f"cw{uuid.uuid4().hex[:8]}"
    cloudwatch, elbv2 = aws_client("cloudwatch", moto_endpoint), aws_client("elbv2", moto_endpoint)
    green = make_group(elbv2, aws_client("ec2", moto_endpoint), f"{service}-green")
    publish(cloudwatch, green, "RequestCount", [60, 40])
    publish(cloudwatch, green, "HTTPCode_Target_5XX_Count", [7])
    publish(cloudwatch, green, "TargetConnectionErrorCount", [2, 1])

    metrics = CloudWatchMetrics(LB, cloudwatch=cloudwatch, elbv2=elbv2)
    sample = metrics.sample(Target(service, Color.GREEN), 120)

    assert (sample.error, sample.requests, sample.errors) == (None, 100, 7)
    assert (sample.edge_errors, sample.has_series, sample.total_requests) == (3, True, 103)


def test_window_excludes_older_datapoints(moto_endpoint: str) -> None:
    service = f"cw{uuid.uuid4().hex[:8]}"
    cloudwatch, elbv2 = aws_client("cloudwatch", moto_endpoint), aws_client("elbv2", moto_endpoint)
    green = make_group(elbv2, aws_client("ec2", moto_endpoint), f"{service}-green")
    publish(cloudwatch, green, "RequestCount", [50])

    later = time.time() + 600
    metrics = CloudWatchMetrics(LB, cloudwatch=cloudwatch, elbv2=elbv2, clock=lambda: later)
    sample = metrics.sample(Target(service, Color.GREEN), 60)

    assert (sample.error, sample.requests, sample.has_series) == (None, 0, False)


def test_missing_target_group_gives_failed_sample(moto_endpoint: str) -> None:
    metrics = CloudWatchMetrics(
        LB,
        cloudwatch=aws_client("cloudwatch", moto_endpoint),
        elbv2=aws_client("elbv2", moto_endpoint),
    )
    sample = metrics.sample(Target("absent", Color.BLUE), 60)
    assert sample.error is not None and "absent-blue" in sample.error
