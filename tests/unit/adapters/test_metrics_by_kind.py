"""Which provider measures a consumer: the stack's when it can, `rollout.metrics.consumers`
when set, else a BadInput naming that key (never numbers a provider cannot have)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from runbooks.core.model import Sample, Target
from runbooks.core.plan import build_plan
from runbooks.metrics.base import MetricProvider
from runbooks.metrics.by_kind import ByKind
from runbooks.metrics.prometheus import PrometheusMetrics
from runbooks.metrics.registry import METRICS
from runbooks.outputs import StackOutputs
from runbooks.preflight import preflight
from stackspec.errors import BadInput
from stackspec.model import Color, StackSettings
from stackspec.stackfile import config_section, settings_from_config, stack_path

NS = "trading-platform:"
LOCAL_OUTPUTS = StackOutputs.of("local", {"local": {"prometheusUrl": "http://prom:9090"}}, "test")
CLOUD_OUTPUTS = StackOutputs.of("staging", {}, "test")
ALB = "app/trading/0123456789abcdef"


def settings(stack: str, metrics: dict[str, Any]) -> StackSettings:
    """The shipped stack file with `rollout.metrics` replaced."""
    path = stack_path(stack)
    document = copy.deepcopy(yaml.safe_load(path.read_text(encoding="utf-8")))
    document["config"].setdefault(NS + "rollout", {})["metrics"] = metrics
    return settings_from_config(config_section(path, document), path)


def consumer_of(stack: StackSettings) -> str:
    return next(s.name for s in stack.services if s.kind == "consumer")


def http_of(stack: StackSettings) -> str:
    return next(s.name for s in stack.services if s.kind == "http")


def test_prometheus_measures_the_stacks_consumers_itself() -> None:
    local = settings("local", {"provider": "prometheus"})

    provider = METRICS.from_stack("prometheus", local, LOCAL_OUTPUTS)

    assert isinstance(provider, PrometheusMetrics)
    assert provider._consumers == {consumer_of(local)}


def test_nop_marks_consumers_samples_as_consumers() -> None:
    local = settings("local", {"provider": "nop"})
    provider = METRICS.from_stack("nop", local, LOCAL_OUTPUTS)

    consumer = provider.sample(Target(consumer_of(local), Color.BLUE), 5)
    http = provider.sample(Target(http_of(local), Color.BLUE), 5)

    assert (consumer.kind, consumer.lag, http.kind) == ("consumer", None, "http")


@pytest.mark.parametrize(
    ("stack", "metrics", "outputs", "provider"),
    [
        (
            "staging",
            {"provider": "cloudwatch", "loadBalancer": ALB},
            CLOUD_OUTPUTS,
            "cloudwatch",
        ),
        ("local", {"provider": "http", "url": "http://x/{service}/{color}"}, LOCAL_OUTPUTS, "http"),
        ("local", {"provider": "haproxy"}, LOCAL_OUTPUTS, "haproxy"),
    ],
)
def test_a_consumer_judged_by_a_provider_that_cannot_measure_it_is_refused_naming_the_key(
    stack: str, metrics: dict[str, Any], outputs: StackOutputs, provider: str
) -> None:
    chosen = settings(stack, metrics)
    if provider == "haproxy":  # the admin socket is an output of the local stack
        outputs = StackOutputs.of("local", {"local": {"adminSocket": "/nonexistent"}}, "test")

    built = METRICS.from_stack(provider, chosen, outputs)  # HTTP releases are unaffected
    with pytest.raises(BadInput) as refused:
        built.sample(Target(consumer_of(chosen), Color.BLUE, "1.0.0"), 5)

    assert f"the {provider} metric provider cannot measure the consumers" in refused.value.message
    assert "rollout.metrics.consumers.provider" in (refused.value.hint or "")


def test_cloudwatch_stack_with_consumers_on_prometheus_reads_them_there() -> None:
    chosen = settings(
        "staging",
        {
            "provider": "cloudwatch",
            "loadBalancer": ALB,
            "consumers": {"provider": "prometheus", "url": "http://prometheus.monitoring:9090"},
        },
    )

    built = METRICS.from_stack("cloudwatch", chosen, CLOUD_OUTPUTS)

    assert isinstance(built, ByKind)
    consumers = built._build()
    assert isinstance(consumers, PrometheusMetrics)
    assert consumers._api == "http://prometheus.monitoring:9090/api/v1"


def test_consumers_on_prometheus_without_any_url_name_the_consumers_url() -> None:
    chosen = settings(
        "staging",
        {"provider": "cloudwatch", "loadBalancer": ALB, "consumers": {"provider": "prometheus"}},
    )
    built = METRICS.from_stack("cloudwatch", chosen, CLOUD_OUTPUTS)

    with pytest.raises(BadInput, match=r"rollout\.metrics\.consumers\.url"):
        built.sample(Target(consumer_of(chosen), Color.GREEN), 5)


class Recorder:
    """A provider that says which targets it was asked about."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked: list[str] = []

    def sample(self, target: Target, window_seconds: float) -> Sample:
        self.asked.append(target.service)
        return Sample(target.color, 0, 0, None, at=1.0)


def test_by_kind_sends_each_service_to_its_kinds_provider_building_the_consumers_once() -> None:
    http, consumers, built = Recorder("http"), Recorder("consumers"), []

    def build() -> MetricProvider:
        built.append(1)
        return consumers

    provider = ByKind(http, frozenset({"market-data"}), build)
    for service in ("trading-api", "market-data", "market-data", "web"):
        provider.sample(Target(service, Color.BLUE), 5)

    assert (http.asked, consumers.asked, len(built)) == (
        ["trading-api", "web"],
        ["market-data", "market-data"],
        1,
    )


def test_a_stack_without_consumers_gets_its_provider_unwrapped() -> None:
    probing = settings("local", {"provider": "http", "url": "http://x/{service}/{color}"})
    only_http = probing.model_copy(
        update={"services": tuple(s for s in probing.services if s.kind == "http")}
    )

    assert isinstance(METRICS.from_stack("http", probing, LOCAL_OUTPUTS), ByKind)
    assert type(METRICS.from_stack("http", only_http, LOCAL_OUTPUTS)).__name__ == "HttpProbeMetrics"


def test_a_consumer_release_on_such_a_stack_is_refused_by_its_preflight_before_any_record() -> None:
    probing = settings("local", {"provider": "http", "url": "http://x/{service}/{color}"})
    service = consumer_of(probing)
    plan = build_plan(probing, service, "9.9.9")
    backends = SimpleNamespace(metrics=METRICS.from_stack("http", probing, LOCAL_OUTPUTS))

    with pytest.raises(BadInput, match="cannot measure the consumers"):
        preflight(backends, probing, plan, poll_seconds=0.01, patience_seconds=0.05)  # type: ignore[arg-type]
