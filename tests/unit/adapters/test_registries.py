"""The router and metric registries: the names the stack file allows, nothing else."""

from __future__ import annotations

from typing import get_args

import pytest

from runbooks.core.model import Color, Target, Weights
from runbooks.metrics.registry import METRICS
from runbooks.routers.registry import ROUTERS
from stackspec.errors import UnknownName
from stackspec.model import Metrics, Rollout


def test_router_names_are_those_the_settings_allow() -> None:
    """...and the partition router, which consumer services get by their kind (by_kind)."""
    names, _none = get_args(Rollout.model_fields["router"].annotation)  # Literal[...] | None
    assert set(ROUTERS.names()) == set(get_args(names)) | {"kafka-partitions"}


def test_metric_names_are_those_the_settings_allow() -> None:
    assert set(METRICS.names()) == set(get_args(Metrics.model_fields["provider"].annotation))


def test_unknown_names_are_rejected_with_the_valid_ones() -> None:
    with pytest.raises(UnknownName, match="unknown traffic router 'istio'") as caught:
        ROUTERS.create("istio")
    assert "aws-alb" in caught.value.hint
    with pytest.raises(UnknownName, match="unknown metric provider 'datadog'"):
        METRICS.create("datadog")


def test_nop_router_remembers_weights_per_service() -> None:
    router = ROUTERS.create("nop", initial=Color.GREEN)
    router.set_weights("a", Weights(blue=70, green=30))
    assert router.get_weights("a") == Weights(blue=70, green=30)
    assert router.get_weights("b") == Weights(blue=0, green=100)


def test_nop_metrics_are_empty_never_a_fake_pass() -> None:
    sample = METRICS.create("nop", clock=lambda: 12.0).sample(Target("a", Color.GREEN), 30)
    assert (sample.requests, sample.errors, sample.error, sample.at) == (0, 0, None, 12.0)
    assert sample.error_rate is None


def test_backends_are_built_from_keyword_options() -> None:
    router = ROUTERS.create("haproxy", socket_path="/nonexistent/admin.sock")
    assert type(router).__name__ == "HaproxyRouter"
    probe = METRICS.create("http", url="http://127.0.0.1:1/{service}/{color}", probes=5)
    assert type(probe).__name__ == "HttpProbeMetrics"
