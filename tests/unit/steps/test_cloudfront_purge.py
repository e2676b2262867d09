"""CloudFront invalidations, against moto's mock_aws: no real AWS can be reached here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runbooks.steps.base import StepContext
from runbooks.steps.edge_purge import CloudFrontPurge, EdgePurge
from stackspec.model import Color
from tests.cloudfront import make_distribution


@pytest.fixture
def cloudfront(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto CloudFront with one distribution (mocked: AWS is unreachable from here)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("cloudfront")


def _ctx(dist: str) -> StepContext:
    return StepContext(
        stack="staging",
        service="trading-api",
        version="1.1.0",
        old_color=Color.BLUE,
        new_color=Color.GREEN,
        # moto spells a done invalidation "COMPLETED", AWS "Completed": the waiter would
        # never see it done, so these tests do not wait (test_edge_cloudfront.py does).
        options={
            "edge_backend": "cloudfront",
            "cloudfront_distribution_id": dist,
            "edge_wait_seconds": 0,
        },
    )


def test_apply_and_undo_each_invalidate_everything(cloudfront: Any) -> None:
    """Mocked with moto (mock_aws)."""
    ctx = _ctx(make_distribution(cloudfront))

    applied = EdgePurge().apply(ctx)
    undone = EdgePurge().undo(ctx, applied)

    assert applied.ok and undone.ok, (applied.message, undone.message)
    assert applied.data["paths"] == ["/*"]
    listing = cloudfront.list_invalidations(DistributionId=applied.data["distribution_id"])
    assert listing["InvalidationList"]["Quantity"] == 2
    done = cloudfront.get_invalidation(
        DistributionId=applied.data["distribution_id"], Id=applied.data["invalidation_id"]
    )
    assert done["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    pending = CloudFrontPurge().verify(ctx)  # moto's "COMPLETED" is not AWS's "Completed"
    assert not pending.ok and applied.data["invalidation_id"] in pending.message


def test_unknown_distribution_is_a_failed_outcome(cloudfront: Any) -> None:
    """Mocked with moto (mock_aws)."""
    outcome = CloudFrontPurge().apply(_ctx("ENOSUCHDIST"))

    assert not outcome.ok and "ENOSUCHDIST" in outcome.message
