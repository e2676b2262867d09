"""Rules of the S3 buckets a stack creates (the edge's access-log bucket)."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import Severity

from infra.policies.base import Config, StackResource, StackRule

BUCKETS = ("aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket")
ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def public_access_blocked(resources: Sequence[StackResource], _c: Config) -> list[str]:
    """S3.8: every bucket has a public access block with all four settings on."""
    blocks = [r for r in resources if r.type == ACCESS_BLOCK]
    problems = []
    for bucket in (r for r in resources if r.type in BUCKETS):
        mine = [b for b in blocks if b.points_at("bucket", bucket)]
        if not mine:
            problems.append(f"bucket {bucket.name} has no BucketPublicAccessBlock")
        for block in mine:
            off = [f for f in BLOCK_FLAGS if block.props.get(f) is not True]
            if off:
                problems.append(f"bucket {bucket.name}: public access block lacks {off}")
    return problems


STACK_RULES: tuple[StackRule, ...] = (
    StackRule("s3-public-access-blocked", "S3 buckets block public access", Severity.HIGH,
              "Declare aws.s3.BucketPublicAccessBlock(bucket=bucket.id) with all four "
              "settings True for every bucket.", public_access_blocked, "S3.8"),
)  # fmt: skip
