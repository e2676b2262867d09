"""The config step without servers: bad options fail cleanly, and the Kubernetes target
against a fake AppsV1Api (no Kubernetes API server can run here)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from runbooks.config.targets import CONFIG_ANNOTATION, KubernetesTarget
from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.config_step import ConfigStep
from runbooks.steps.registry import STEPS
from stackspec.model import Color


def context(**options: object) -> StepContext:
    return StepContext("local", "trading-api", "1.1.0", Color.BLUE, Color.GREEN, options)


def test_registered_as_config() -> None:
    assert isinstance(STEPS.create("config"), ConfigStep)


def test_without_a_state_dir_apply_fails_and_changes_nothing() -> None:
    outcome = ConfigStep().apply(context())
    assert not outcome.ok
    assert "nothing changed: option local_state_dir is not set" in outcome.message


def test_an_unknown_version_fails_before_acting(tmp_path: Path) -> None:
    outcome = ConfigStep().apply(context(local_state_dir=str(tmp_path), config_version=9))
    assert not outcome.ok
    assert "existing files: ['v1.yaml', 'v2.yaml']" in outcome.message
    assert not (tmp_path / "config").exists()


def test_a_service_without_configuration_fails_clearly(tmp_path: Path) -> None:
    ctx = StepContext("local", "nosuch", "1", Color.BLUE, Color.GREEN, {"local_state_dir": "x"})
    outcome = ConfigStep().apply(ctx)
    assert not outcome.ok
    assert "has no versioned configuration" in outcome.message


def test_contract_has_nothing_to_do() -> None:
    assert ConfigStep().contract(context()) == StepOutcome.success("config", "nothing to contract")


class FakeApps:
    """AppsV1Api's two calls, over Deployments held as data; rollouts complete at once."""

    def __init__(self, versions: dict[str, int]) -> None:
        self.versions = dict(versions)
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def read_namespaced_deployment(self, name: str, namespace: str) -> Any:
        meta = SimpleNamespace(annotations={CONFIG_ANNOTATION: str(self.versions[name])})
        return SimpleNamespace(
            metadata=SimpleNamespace(generation=2),
            spec=SimpleNamespace(replicas=2, template=SimpleNamespace(metadata=meta)),
            status=SimpleNamespace(
                observed_generation=2, updated_replicas=2, available_replicas=2, replicas=2
            ),
        )

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> None:
        self.patches.append((name, body))
        template = body["spec"]["template"]
        self.versions[name] = int(template["metadata"]["annotations"][CONFIG_ANNOTATION])


def test_kubernetes_target_points_the_color_at_the_versions_config_map() -> None:
    apps = FakeApps({"trading-api-blue": 1, "trading-api-green": 1})
    target = KubernetesTarget("trading", "trading-api", timeout=1, apps_api=apps)
    message = target.give(Color.GREEN, 2)
    name, body = apps.patches[0]
    assert name == "trading-api-green"
    volume = body["spec"]["template"]["spec"]["volumes"][0]
    assert volume == {"name": "config", "configMap": {"name": "trading-api-config-v2"}}
    assert target.running(Color.GREEN) == 2 and target.running(Color.BLUE) == 1
    assert "ConfigMap trading-api-config-v2" in message


def test_kubernetes_apply_then_undo_twice() -> None:
    apps = FakeApps({"trading-api-blue": 1, "trading-api-green": 1})
    step = ConfigStep(lambda ctx: KubernetesTarget("trading", ctx.service, 1, apps))
    applied = step.apply(context(config_backend="kubernetes", config_version=2))
    assert applied.ok, applied.message
    assert applied.data["restore_version"] == 1
    assert apps.versions["trading-api-green"] == 2
    first, second = step.undo(context(), applied), step.undo(context(), applied)
    assert first.ok and second.ok
    assert apps.versions == {"trading-api-blue": 1, "trading-api-green": 1}
    assert "already runs v1" in second.message
    assert len(apps.patches) == 2  # apply and the first undo; the second changed nothing
