"""Customer-managed KMS keys of the data tier, each with an explicit key policy.

The policy is the account-root statement AWS writes by default, made explicit: IAM policies
of the account decide who uses the key, and the services that encrypt with it (RDS,
Performance Insights, Secrets Manager, ElastiCache, MSK) act through grants created with
the caller's permissions. Declared rather than implied so that review (and checkov's
CKV2_AWS_64) sees it, and so that a later statement is a diff, not a surprise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.protection import stateful_opts


def account_root_policy(
    account_id: str, partition: str, extra: Sequence[dict[str, Any]] = ()
) -> str:
    """The key policy giving the account (through IAM) full use and administration, plus
    `extra` statements (a service principal that is not a caller of the account)."""
    account = {
        "Sid": "AccountThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [account, *extra]})


def data_key(
    name: str,
    purpose: str,
    parent: pulumi.Resource,
    extra: Sequence[dict[str, Any]] = (),
    opts: pulumi.ResourceOptions | None = None,
) -> aws.kms.Key:
    """A rotating customer-managed key `name` for `purpose`, child of `parent` (whose
    provider the account look-up uses, unless `opts` names one), protected in production."""
    invoke = pulumi.InvokeOptions(parent=parent, provider=opts.provider if opts else None)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition
    return aws.kms.Key(
        name,
        description=f"{name}: {purpose}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(account, partition).apply(
            lambda args: account_root_policy(args[0], args[1], extra)
        ),
        opts=stateful_opts(parent, opts),
    )
