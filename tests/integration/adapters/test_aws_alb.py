"""The aws-alb router against moto in SERVER mode (no AWS here: moto emulates the
elbv2 API over HTTP; boto3 talks to it through endpoint_url like to the real one)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from runbooks.core.model import Weights
from runbooks.routers.aws_alb import AwsAlbRouter
from stackspec.errors import RouterError
from tests.integration.adapters.conftest import aws_client

pytestmark = pytest.mark.integration


def make_listener(elbv2: Any, ec2: Any, service: str) -> str:
    """A load balancer with target groups `<service>-blue/green`; its listener's ARN."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
        for i, z in enumerate("ab")
    ]
    lb = elbv2.create_load_balancer(
        Name=f"{service}-lb", Subnets=[s["Subnet"]["SubnetId"] for s in subnets]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    groups = [
        elbv2.create_target_group(Name=f"{service}-{c}", Protocol="HTTP", Port=80, VpcId=vpc)[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for c in ("blue", "green")
    ]
    action = {"Type": "forward", "TargetGroupArn": groups[0]}
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[action]
    )
    return str(listener["Listeners"][0]["ListenerArn"])


@pytest.fixture
def alb(moto_endpoint: str) -> tuple[AwsAlbRouter, str]:
    """A router over a fresh listener (unique names: the moto server is shared)."""
    service = f"svc{uuid.uuid4().hex[:8]}"
    elbv2 = aws_client("elbv2", moto_endpoint)
    listener = make_listener(elbv2, aws_client("ec2", moto_endpoint), service)
    return AwsAlbRouter({service: listener}, client=elbv2), service


def test_weights_are_set_and_read_back(alb: tuple[AwsAlbRouter, str]) -> None:
    router, service = alb
    assert router.get_weights(service) == Weights(blue=100, green=0)

    router.set_weights(service, Weights(blue=80, green=20))
    assert router.get_weights(service) == Weights(blue=80, green=20)

    router.set_weights(service, Weights(blue=0, green=100))
    assert router.get_weights(service) == Weights(blue=0, green=100)


def test_missing_target_group_is_a_router_error(moto_endpoint: str) -> None:
    elbv2 = aws_client("elbv2", moto_endpoint)
    broken = AwsAlbRouter({"svc": "unused"}, target_group="nope-{color}", client=elbv2)
    with pytest.raises(RouterError, match="nope-blue"):
        broken.set_weights("svc", Weights(50, 50))


def test_unknown_service_is_a_router_error(alb: tuple[AwsAlbRouter, str]) -> None:
    router, _ = alb
    with pytest.raises(RouterError, match="no ALB listener configured for service other"):
        router.get_weights("other")


class _Dropping:
    """The moto client, but `modify_listener` answers without changing anything (as when
    another writer puts the listener back between our write and our read)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def modify_listener(self, **kwargs: Any) -> dict[str, Any]:
        return {"Listeners": []}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_change_that_is_not_live_is_a_router_error(moto_endpoint: str) -> None:
    service = f"svc{uuid.uuid4().hex[:8]}"
    elbv2 = aws_client("elbv2", moto_endpoint)
    listener = make_listener(elbv2, aws_client("ec2", moto_endpoint), service)
    router = AwsAlbRouter({service: listener}, client=_Dropping(elbv2))  # type: ignore[arg-type]

    with pytest.raises(RouterError, match=r"is at .*100.*asked .*60.*40") as raised:
        router.set_weights(service, Weights(blue=60, green=40))

    assert "set the weights again" in raised.value.hint
    assert router.get_weights(service) == Weights(blue=100, green=0)


def test_a_third_target_group_on_the_listener_is_a_router_error(
    alb: tuple[AwsAlbRouter, str], moto_endpoint: str
) -> None:
    router, service = alb
    elbv2 = aws_client("elbv2", moto_endpoint)
    listener = router._listener(service)
    vpc = elbv2.describe_target_groups(Names=[f"{service}-blue"])["TargetGroups"][0]["VpcId"]
    stray = elbv2.create_target_group(Name=f"{service}-stray", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    blue = elbv2.describe_target_groups(Names=[f"{service}-blue"])["TargetGroups"][0]
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": blue["TargetGroupArn"], "Weight": 50},
                {"TargetGroupArn": stray, "Weight": 50},
            ]
        },
    }

    class _AddsStray(_Dropping):
        def modify_listener(self, **kwargs: Any) -> dict[str, Any]:
            return dict(elbv2.modify_listener(ListenerArn=listener, DefaultActions=[forward]))

    checked = AwsAlbRouter({service: listener}, client=_AddsStray(elbv2))  # type: ignore[arg-type]
    with pytest.raises(RouterError, match=f"also forwards to {stray}"):
        checked.set_weights(service, Weights(blue=100, green=0))
