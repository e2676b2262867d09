"""CloudFrontPurge against moto in SERVER mode (no AWS here: moto emulates CloudFront over
HTTP and the step's own boto3 client reaches it through the `aws_endpoint_url` option).

moto marks an invalidation "COMPLETED" at once, while AWS answers "InProgress" for minutes
and then "Completed" (the spelling boto3's `invalidation_completed` waiter matches). The
`invalidations` fixture makes the in-process moto server behave like AWS: each new
invalidation starts InProgress and completes after `complete_after` seconds (None: never).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.cloudfront import models as cloudfront_models

from runbooks.steps.base import StepContext
from runbooks.steps.edge_purge import CloudFrontPurge, EdgePurge
from stackspec.model import Color
from tests.cloudfront import make_distribution
from tests.integration.adapters.conftest import aws_client

pytestmark = pytest.mark.integration


class Invalidations:
    """How long moto's invalidations take to complete, and the timers completing them."""

    def __init__(self) -> None:
        self.complete_after: float | None = 1.0
        self.timers: list[threading.Timer] = []

    def started(self, invalidation: Any) -> None:
        invalidation.status = "InProgress"
        if self.complete_after is not None:
            timer = threading.Timer(
                self.complete_after, setattr, (invalidation, "status", "Completed")
            )
            timer.start()
            self.timers.append(timer)


@pytest.fixture
def invalidations(monkeypatch: pytest.MonkeyPatch) -> Iterator[Invalidations]:
    """moto's invalidations made to progress as AWS's do (see the module docstring)."""
    control = Invalidations()
    original = cloudfront_models.Invalidation.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        control.started(self)

    monkeypatch.setattr(cloudfront_models.Invalidation, "__init__", init)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield control
    for timer in control.timers:
        timer.cancel()


def _ctx(dist: str, endpoint: str, **options: object) -> StepContext:
    return StepContext(
        stack="staging",
        service="trading-api",
        version="1.1.0",
        old_color=Color.BLUE,
        new_color=Color.GREEN,
        options={
            "edge_backend": "cloudfront",
            "cloudfront_distribution_id": dist,
            "aws_endpoint_url": endpoint,
            "edge_poll_seconds": 1,
            **options,
        },
    )


def test_apply_returns_once_the_invalidation_completed(
    moto_endpoint: str, invalidations: Invalidations
) -> None:
    cf = aws_client("cloudfront", moto_endpoint)
    ctx = _ctx(make_distribution(cf), moto_endpoint)
    invalidations.complete_after = 1.5

    started = time.monotonic()
    applied = EdgePurge().apply(ctx)
    took = time.monotonic() - started

    assert applied.ok, applied.message
    assert "completed" in applied.message
    assert took >= 1.5  # it waited for AWS to say Completed, not for a fixed time
    done = cf.get_invalidation(
        DistributionId=applied.data["distribution_id"], Id=applied.data["invalidation_id"]
    )
    assert done["Invalidation"]["Status"] == "Completed"
    assert EdgePurge().verify(ctx).ok


def test_an_invalidation_still_in_progress_fails_after_the_bound(
    moto_endpoint: str, invalidations: Invalidations
) -> None:
    cf = aws_client("cloudfront", moto_endpoint)
    dist = make_distribution(cf)
    invalidations.complete_after = None

    started = time.monotonic()
    outcome = EdgePurge().apply(_ctx(dist, moto_endpoint, edge_wait_seconds=2))
    took = time.monotonic() - started

    assert not outcome.ok
    assert 1.5 <= took < 10
    inval = outcome.data["invalidation_id"]
    assert f"invalidation {inval} of {dist} not completed within 2 s" in outcome.message
    assert "last status InProgress" in outcome.message and "\n" not in outcome.message
    pending = CloudFrontPurge().verify(_ctx(dist, moto_endpoint))
    assert not pending.ok and inval in pending.message


def test_undo_invalidates_again_and_waits(moto_endpoint: str, invalidations: Invalidations) -> None:
    cf = aws_client("cloudfront", moto_endpoint)
    ctx = _ctx(make_distribution(cf), moto_endpoint)
    invalidations.complete_after = 0.2

    applied = EdgePurge().apply(ctx)
    undone = EdgePurge().undo(ctx, applied)

    assert applied.ok and undone.ok, (applied.message, undone.message)
    assert undone.data["invalidation_id"] != applied.data["invalidation_id"]
    listing = cf.list_invalidations(DistributionId=applied.data["distribution_id"])
    assert {i["Status"] for i in listing["InvalidationList"]["Items"]} == {"Completed"}


def test_an_unknown_distribution_is_one_clear_line(
    moto_endpoint: str, invalidations: Invalidations
) -> None:
    outcome = EdgePurge().apply(_ctx("ENOSUCHDIST", moto_endpoint))

    assert not outcome.ok
    assert outcome.message.startswith("invalidation of ENOSUCHDIST failed: NoSuchDistribution")
    assert "\n" not in outcome.message
