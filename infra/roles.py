"""IAM roles that an AWS service assumes: the trust policy, and a role with its managed
policies attached (the EKS cluster and node roles, RDS Enhanced Monitoring)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

MANAGED_POLICY = "arn:aws:iam::aws:policy/"


def service_trust(service: str) -> str:
    """The assume-role policy (JSON) that lets the AWS service `service` (e.g.
    `eks.amazonaws.com`) assume a role, and nothing else."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def role_with(
    name: str,
    service: str,
    attachments: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    description: str | None = None,
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """A role named `name` that `service` assumes, with one RolePolicyAttachment per entry of
    `attachments` (its logical name -> the policy ARN), all under `opts`.

    The attachments' logical names are given, not derived from the ARNs: renaming one on a
    deployed stack would attach the new one, then detach the policy by deleting the old.
    """
    role = aws.iam.Role(
        name, description=description, assume_role_policy=service_trust(service), opts=opts
    )
    attached = [
        aws.iam.RolePolicyAttachment(attachment, role=role.name, policy_arn=arn, opts=opts)
        for attachment, arn in attachments.items()
    ]
    return role, attached
