"""Every backend of every area, built from every stack file: it builds, or a BadInput names
the setting or output it misses.

The stacks' outputs are read through their drivers: the local stack's from an isolated copy
of it (`LocalDriver.read_outputs`), the Pulumi stacks' from a recorded shape of what
infra/outputs.py exports (tests/unit/recorded/outputs.<stack>.json, the program run under
set_mocks; tests/infra/test_recorded_outputs.py keeps them in step with the program) served
by a fake Automation API stack, as no Pulumi CLI can run here. The kubernetes router reads a
kubeconfig this test writes (its server is never contacted), never the machine's own.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import ConfigValue, OutputValue

from runbooks.drivers.local import LocalDriver
from runbooks.drivers.pulumi_automation import PulumiDriver, StackFactory
from runbooks.drivers.registry import DRIVERS, open_driver
from runbooks.local.isolated import isolated_stack
from runbooks.metrics.registry import METRICS
from runbooks.notifiers.registry import NOTIFIERS
from runbooks.notifiers.webhook import WebhookNotifier
from runbooks.outputs import StackOutputs
from runbooks.registry import Registry
from runbooks.routers.registry import ROUTERS
from runbooks.steps.registry import STEPS
from runbooks.steps.stack_options import Configured
from stackspec.errors import BadInput
from stackspec.model import StackSettings
from stackspec.stackfile import PROJECT_ROOT, load_stack

RECORDED = Path(__file__).parent / "recorded"
STACKS = sorted(p.name.split(".")[1] for p in (PROJECT_ROOT / "stacks").glob("Pulumi.*.yaml"))
CLOUD = {"dev", "staging", "production"}
AREAS: dict[str, Registry[Any]] = {
    "router": ROUTERS,
    "metrics": METRICS,
    "notifier": NOTIFIERS,
    "step": STEPS,
}
# Environment the steps and notifiers read: unset, so only the stack file and outputs count.
OPERATOR_ENV = (
    "RUNBOOK_DATABASE_DSN",
    "RUNBOOK_REDIS_URL",
    "RUNBOOK_KAFKA_BOOTSTRAP",
    "TRADING_WEBHOOK_URL",
    "KUBERNETES_SERVICE_HOST",
)

# (area, backend) -> the stacks it cannot be built on, and what its BadInput must name.
# Every other (stack, area, backend) must build.
MISSING: dict[tuple[str, str], tuple[set[str], str]] = {
    ("router", "aws-alb"): (set(STACKS), "rollout.alb.listenerArns"),
    ("router", "haproxy"): (CLOUD, "local.adminSocket"),
    ("router", "kubernetes"): ({"local"}, "`kubernetes` section"),
    ("router", "kafka-partitions"): (CLOUD, "RUNBOOK_REDIS_URL"),
    ("metrics", "cloudwatch"): (set(STACKS), "rollout.metrics.loadBalancer"),
    ("metrics", "haproxy"): (CLOUD, "local.adminSocket"),
    ("metrics", "http"): (set(STACKS), "rollout.metrics.url"),
    ("metrics", "prometheus"): (CLOUD, "rollout.metrics.url"),
    ("step", "cache-bump"): (CLOUD, "RUNBOOK_REDIS_URL"),
    ("step", "db-migration"): (CLOUD, "RUNBOOK_DATABASE_DSN"),
    ("step", "edge-purge"): ({"dev"}, "cloudfront_distribution_id"),
}


class RecordedStack:
    """The part of an Automation API stack the driver reads, answering recorded outputs."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self._outputs = outputs

    def get_config(self, key: str, *, path: bool = False) -> ConfigValue:
        raise AssertionError(f"building backends read config {key}")

    def set_all_config(
        self, config: MutableMapping[str, ConfigValue], *, path: bool = False
    ) -> None:
        raise AssertionError("building backends wrote config")

    def outputs(self) -> MutableMapping[str, Any]:
        return {key: OutputValue(value, secret=False) for key, value in self._outputs.items()}


def recorded_outputs(stack: str) -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads((RECORDED / f"outputs.{stack}.json").read_text())
    return recorded


def recorded_stack(stack: str) -> StackFactory:
    recorded = RecordedStack(recorded_outputs(stack))
    return lambda name, work_dir: recorded


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[StackSettings, Any]]:
    """Each stack's settings and outputs, as its own driver reads them."""
    built: dict[str, tuple[StackSettings, Any]] = {}
    for stack in STACKS:
        if stack == "local":
            settings = isolated_stack(tmp_path_factory.mktemp("local"))
            driver = open_driver(stack, settings)
        else:
            settings = load_stack(stack)
            driver = DRIVERS.create(
                "pulumi", stack=stack, settings=settings, stack_factory=recorded_stack(stack)
            )
        built[stack] = (settings, driver.read_outputs(stack))
    return built


@pytest.fixture(autouse=True)
def private_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubeconfig of this test's own, with every context a stack file names."""
    from kubernetes import client
    from kubernetes.config import kube_config

    contexts = {"standin"} | {
        s.kubernetes.context
        for s in map(load_stack, STACKS)
        if s.kubernetes and s.kubernetes.context
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "standin", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {"name": name, "context": {"cluster": "standin", "user": "standin"}}
            for name in sorted(contexts)
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    # loading a kubeconfig sets the client's process-wide default configuration
    monkeypatch.setattr(client.Configuration, "_default", None)
    for name in OPERATOR_ENV:
        monkeypatch.delenv(name, raising=False)


CASES = [
    (stack, area, name) for stack in STACKS for area, reg in AREAS.items() for name in reg.names()
]


@pytest.mark.parametrize(("stack", "area", "name"), CASES)
def test_each_backend_builds_or_names_what_it_misses(
    stack: str, area: str, name: str, stacks: dict[str, tuple[StackSettings, Any]]
) -> None:
    settings, outputs = stacks[stack]
    cannot, named = MISSING.get((area, name), (set(), ""))

    if stack in cannot:
        with pytest.raises(BadInput) as caught:
            AREAS[area].from_stack(name, settings, outputs)
        said = f"{caught.value.message} {caught.value.hint}"
        assert named in said
        assert "\n" not in caught.value.message
    else:
        assert AREAS[area].from_stack(name, settings, outputs) is not None


def test_the_table_covers_every_stack_file_and_backend() -> None:
    assert {"local", "dev", "staging", "production"} <= set(STACKS)
    for area, name in MISSING:
        assert name in AREAS[area].names(), f"{area} {name} is not registered"


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_gets_its_own_driver_reading_its_outputs(
    stack: str, stacks: dict[str, tuple[StackSettings, Any]]
) -> None:
    settings, outputs = stacks[stack]
    driver = open_driver(stack, settings)

    if stack == "local":
        assert isinstance(driver, LocalDriver)
        assert outputs.get("local.adminSocket").endswith("admin.sock")
        assert outputs.get("local.stateDir") == str(driver.state_dir)
    else:
        assert isinstance(driver, PulumiDriver)
        assert outputs.get("services.trading-api.deployments.green") == "trading-api-green"
        assert "Pulumi outputs" in outputs.source


def test_a_webhook_reference_that_resolves_builds_the_webhook(
    stacks: dict[str, tuple[StackSettings, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, outputs = stacks["local"]
    monkeypatch.setenv("TRADING_WEBHOOK_URL", "https://hooks.example.test/x")

    assert isinstance(NOTIFIERS.from_stack("webhook", settings, outputs), WebhookNotifier)


def step_options(
    stack: str, name: str, stacks: dict[str, tuple[StackSettings, Any]]
) -> dict[str, Any]:
    settings, outputs = stacks[stack]
    step = STEPS.from_stack(name, settings, outputs)
    assert isinstance(step, Configured)
    return step.options


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_aws_stacks_back_up_the_database_with_an_rds_snapshot_of_their_writer(
    stack: str, stacks: dict[str, tuple[StackSettings, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNBOOK_DATABASE_DSN", "postgresql://operator@db.example.test/trading")
    settings, _ = stacks[stack]
    writer = recorded_outputs(stack)["database"]["writerIdentifier"]

    options = step_options(stack, "db-migration", stacks)

    assert options["backup_backend"] == "rds-snapshot"
    assert options["rds_instance_id"] == writer
    assert settings.aws is not None
    assert options["aws_region"] == settings.aws.region


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_stacks_without_an_rds_writer_back_up_with_pg_dump(
    stack: str, stacks: dict[str, tuple[StackSettings, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNBOOK_DATABASE_DSN", "postgresql://operator@db.example.test/trading")

    options = step_options(stack, "db-migration", stacks)

    assert options["backup_backend"] == "pg_dump"
    assert "rds_instance_id" not in options


def test_an_rds_writer_on_a_stack_without_aws_settings_names_aws_region(
    stacks: dict[str, tuple[StackSettings, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNBOOK_DATABASE_DSN", "postgresql://operator@db.example.test/trading")
    settings, outputs = stacks["staging"]
    no_aws = settings.model_copy(update={"aws": None})

    with pytest.raises(BadInput) as caught:
        STEPS.from_stack("db-migration", no_aws, outputs)

    assert "database-writer" in caught.value.message
    assert "aws.region" in caught.value.hint


def test_cloudfront_is_purged_through_its_us_east_1_api(
    stacks: dict[str, tuple[StackSettings, Any]],
) -> None:
    options = step_options("staging", "edge-purge", stacks)

    assert options["edge_backend"] == "cloudfront"
    assert options["cloudfront_distribution_id"] == "edge-cdn-id"
    assert options["aws_region"] == "us-east-1"


def test_outputs_read_through_a_driver_are_dotted_keys() -> None:
    outputs = StackOutputs.of("staging", recorded_outputs("staging"), "recorded")

    assert outputs.require("database.writerIdentifier", "test") == "database-writer"
