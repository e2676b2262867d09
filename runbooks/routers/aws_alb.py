"""Traffic router for an AWS Application Load Balancer: weighted forward to two target groups.

Each service has a listener (ARN given per service) whose default action forwards to the
service's blue and green target groups with weights. `target_group` is a template with
`{service}` and `{color}` giving each color's target-group name (looked up) or ARN (used
as is). One `modify_listener` call changes both weights at once, so traffic never goes
to nothing; the ALB stops sending new requests to a 0-weight group and lets in-flight
ones finish. The split is read back with `describe_listeners` and verified: `set_weights`
raises RouterError when what is live differs from what was asked, or when the listener
also forwards to a target group of neither color.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from runbooks.core.model import Color, Weights
from stackspec.errors import BadInput, RouterError

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings

_AWS_ERRORS = (BotoCoreError, ClientError)


class AwsAlbRouter:
    """Sets and verifies the forward weights of each service's ALB listener."""

    def __init__(
        self,
        listener_arns: Mapping[str, str],
        target_group: str = "{service}-{color}",
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        client: ElasticLoadBalancingv2Client | None = None,
    ) -> None:
        self._listeners = dict(listener_arns)
        self._target_group = target_group
        self._client = client or boto3.client(
            "elbv2", region_name=region, endpoint_url=endpoint_url
        )
        self._arns: dict[tuple[str, Color], str] = {}

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> AwsAlbRouter:
        """The router of the listeners `rollout.alb` names, in the stack's region."""
        alb = settings.rollout.alb
        if alb is None or settings.aws is None:
            raise BadInput(
                "the aws-alb router needs rollout.alb.listenerArns and aws.region",
                hint="set rollout.alb.listenerArns: {<service>: <listener ARN>} in the stack file",
            )
        return cls(alb.listener_arns, alb.target_group, settings.aws.region)

    def set_weights(self, service: str, weights: Weights) -> None:
        """Forward `weights` percent to each color's target group, then verify."""
        groups = [
            {"TargetGroupArn": self._group_arn(service, c), "Weight": weights.of(c)} for c in Color
        ]
        action: Any = {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}
        try:
            self._client.modify_listener(
                ListenerArn=self._listener(service), DefaultActions=[action]
            )
        except _AWS_ERRORS as exc:
            raise RouterError(
                f"cannot set ALB weights of {service} to {weights}: {exc}",
                hint="check the listener ARN, the target groups and the IAM permissions",
            ) from exc
        self._verify(service, weights)

    def _verify(self, service: str, weights: Weights) -> None:
        """What the listener forwards now is exactly `weights` to the two colors."""
        mine = {self._group_arn(service, c) for c in Color}
        others = [arn for arn, w in self._forward_weights(service).items() if arn not in mine and w]
        if others:
            raise RouterError(
                f"ALB listener of {service} also forwards to {', '.join(sorted(others))}",
                hint="another writer changed the listener; check its default action",
            )
        live = self.get_weights(service)
        if live != weights:
            raise RouterError(
                f"ALB listener of {service} is at {live}, asked {weights}",
                hint="another writer changed the listener, or the change did not apply; "
                "read it with `aws elbv2 describe-listeners` and set the weights again",
            )

    def get_weights(self, service: str) -> Weights:
        """The live split, read from the listener's forward action."""
        by_arn = self._forward_weights(service)
        blue, green = (by_arn.get(self._group_arn(service, c), 0) for c in Color)
        if blue + green == 0:
            raise RouterError(
                f"ALB listener of {service} forwards to neither color's target group",
                hint="set weights again to send traffic to a color",
            )
        blue_percent = round(100 * blue / (blue + green))
        return Weights(blue=blue_percent, green=100 - blue_percent)

    def _forward_weights(self, service: str) -> dict[str, int]:
        listener = self._listener(service)
        try:
            found = self._client.describe_listeners(ListenerArns=[listener])["Listeners"]
        except _AWS_ERRORS as exc:
            raise RouterError(f"cannot read ALB listener {listener}: {exc}") from exc
        except (KeyError, TypeError) as exc:  # an answer that is not describe_listeners'
            raise RouterError(f"unexpected answer from ALB listener {listener}: {exc!r}") from None
        weights: dict[str, int] = {}
        try:
            for action in found[0].get("DefaultActions", []) if found else []:
                for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
                    weights[group["TargetGroupArn"]] = int(group.get("Weight", 1))
                if "TargetGroupArn" in action and "ForwardConfig" not in action:
                    weights[action["TargetGroupArn"]] = 1
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RouterError(f"ALB listener {listener} is malformed: {exc!r}"[:300]) from None
        return weights

    def _listener(self, service: str) -> str:
        try:
            return self._listeners[service]
        except KeyError:
            raise RouterError(
                f"no ALB listener configured for service {service}",
                hint=f"add {service} to the aws-alb router's listener_arns",
            ) from None

    def _group_arn(self, service: str, color: Color) -> str:
        key = (service, color)
        if key not in self._arns:
            self._arns[key] = self._lookup_group(
                self._target_group.format(service=service, color=color.value)
            )
        return self._arns[key]

    def _lookup_group(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        try:
            groups = self._client.describe_target_groups(Names=[name_or_arn])["TargetGroups"]
        except _AWS_ERRORS as exc:
            raise RouterError(
                f"cannot find ALB target group {name_or_arn}: {exc}",
                hint="check the aws-alb router's target_group template and the region",
            ) from exc
        return groups[0]["TargetGroupArn"]
