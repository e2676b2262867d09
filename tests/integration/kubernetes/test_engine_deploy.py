"""A release of the staging stack through the engine, deploying on the Kubernetes API
stand-in: no API server can run here (nor the Pulumi CLI), so the Session is built by hand.

Its settings are the staging stack file with a short policy; its driver is the real
PulumiDriver over a fake Automation API stack (FakeStack of the driver's unit tests, kept in
a JSON file so that a killed engine's process and the one resuming it share it) deploying
with the real KubernetesDeployer on the stand-in; its router is the real KubernetesRouter on
the stand-in; its metrics a scripted, healthy provider; its clock fake (bakes take no time).
What is asserted is what the stand-in stored: the Deployment's image and version label, the
HTTPRoute's weights, the stable Service's selector, and the config written back on promotion.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from pulumi.automation import ConfigValue

from runbooks.core.model import Color, Sample, Target
from runbooks.core.state import Outcome
from runbooks.deploy.kubernetes import KubernetesDeployer
from runbooks.drivers.pulumi_automation import SERVICES_KEY, PulumiDriver
from runbooks.engine import Clock
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.outputs import StackOutputs
from runbooks.performer import Backends
from runbooks.release import resume, rollout
from runbooks.routers.kubernetes_route import KubernetesRouter
from runbooks.session import Request, Session, holder
from runbooks.standins import kube_objects
from runbooks.standins.kube_api import KubeApiStandIn
from stackspec.stackfile import PROJECT, load_stack, stack_path
from tests.clock import FakeClock
from tests.integration.kubernetes.conftest import kill_once
from tests.unit.persistence.test_pulumi_driver import FakeStack

pytestmark = pytest.mark.integration

STACK, SERVICE, NAMESPACE = "staging", "trading-api", "trading"
GREEN = f"{SERVICE}-green"
VERSION = "1.5.0"
REPO = Path(__file__).parents[3]
SHORT_POLICY = {
    "steps": [{"weight": 50, "bakeSeconds": 2}, {"weight": 100, "bakeSeconds": 2}],
    "analysisIntervalSeconds": 1,
    "scaleDownDelaySeconds": 0,
}


class FileStack(FakeStack):
    """FakeStack whose config lives in a JSON file, rewritten after every write."""

    def __init__(self, path: Path) -> None:
        super().__init__(json.loads(path.read_text()), decrypted={})
        self.path = path

    def set_all_config(
        self, config: MutableMapping[str, ConfigValue], *, path: bool = False
    ) -> None:
        super().set_all_config(config, path=path)
        self.path.write_text(json.dumps(self.config))

    def outputs(self) -> MutableMapping[str, Any]:
        return {}


class Healthy:
    """Both colors answer every request, in 10 ms."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def sample(self, target: Target, window_seconds: float) -> Sample:
        return Sample(target.color, 1000, 0, 0.01, self.clock.t)


@dataclass(frozen=True)
class StandInSession(Session):
    """The staging Session with backends built by hand on the stand-in."""

    host: str = ""
    clock: FakeClock = field(default_factory=FakeClock)

    def backends(self, steps: tuple[str, ...]) -> Backends:
        api = client.ApiClient(client.Configuration(host=self.host))
        router = KubernetesRouter(NAMESPACE, client.CustomObjectsApi(api), client.CoreV1Api(api))
        return Backends(router, Healthy(self.clock), self.driver, NopNotifier())


def write_stack(base: Path) -> None:
    """The staging stack file with SHORT_POLICY under `base/stacks`, and its config as the
    fake Pulumi stack's (`base/config.json`)."""
    document = yaml.safe_load(stack_path(STACK).read_text(encoding="utf-8"))
    config = document["config"]
    config[f"{PROJECT}:rollout"] = {**config[f"{PROJECT}:rollout"], **SHORT_POLICY}
    (base / "stacks").mkdir(parents=True, exist_ok=True)
    (base / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document))
    (base / "config.json").write_text(json.dumps({SERVICES_KEY: config[SERVICES_KEY]}))


def session(base: Path, host: str, clock: FakeClock, deploy_timeout: float) -> StandInSession:
    settings = load_stack(STACK, base / "stacks")
    apps = client.AppsV1Api(client.ApiClient(client.Configuration(host=host)))
    driver = PulumiDriver(
        STACK,
        base,
        stack_factory=lambda name, work_dir: FileStack(base / "config.json"),
        deployer=lambda: KubernetesDeployer(NAMESPACE, apps, deploy_timeout, 0.02),
        images={s.name: s.image for s in settings.services},
    )
    outputs = StackOutputs.of(STACK, {}, "none: backends built by hand")
    return StandInSession(STACK, settings, driver, outputs, host, clock)


def run_release(base: str, host: str) -> None:
    """Roll VERSION out on staging (the killed process of the kill test runs this)."""
    clock = FakeClock()
    journal = SqliteJournal(Path(base) / "journal.sqlite3")
    rollout(
        Request(STACK, SERVICE, VERSION),
        session(Path(base), host, clock, deploy_timeout=60),
        journal,
        Clock(clock.now, clock.sleep),
    )


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeApiStandIn]:
    """The stand-in with staging's trading-api pair (blue 1.4.0 active, green 1.3.2)."""
    write_stack(tmp_path)
    service = load_stack(STACK, tmp_path / "stacks").service(SERVICE)
    with KubeApiStandIn() as stand_in:
        for color in Color:
            version = service.versions.of(color)
            stand_in.seed(kube_objects.deployment(SERVICE, color.value, version, service.image))
            stand_in.seed(kube_objects.service(f"{SERVICE}-{color.value}", SERVICE, color.value))
        stand_in.seed(kube_objects.service(SERVICE, SERVICE, "blue"))
        stand_in.seed(kube_objects.httproute(SERVICE, 100, 0))
        yield stand_in


def green(kube: KubeApiStandIn) -> dict[str, Any]:
    return kube.get("apps/v1", NAMESPACE, "deployments", GREEN)


def weights(kube: KubeApiStandIn) -> list[tuple[str, int]]:
    route = kube.get("gateway.networking.k8s.io/v1", NAMESPACE, "httproutes", SERVICE)
    return [(r["name"], r["weight"]) for r in route["spec"]["rules"][0]["backendRefs"]]


def route_patches(kube: KubeApiStandIn) -> list[Any]:
    return [r for r in kube.requests if r.method == "PATCH" and "/httproutes/" in r.path]


def deployment_patches(kube: KubeApiStandIn) -> list[Any]:
    return [r for r in kube.requests if r.method == "PATCH" and "/deployments/" in r.path]


def reads_after_deploy_patch(kube: KubeApiStandIn) -> int:
    calls = [(r.method, "/deployments/" in r.path) for r in kube.requests]
    if ("PATCH", True) not in calls:
        return 0
    return calls[calls.index(("PATCH", True)) :].count(("GET", True))


def assert_promoted(kube: KubeApiStandIn, base: Path) -> None:
    """Green runs VERSION with all the traffic, and the stack's config says so."""
    deployment = green(kube)
    template = deployment["spec"]["template"]
    assert template["spec"]["containers"][0]["image"].endswith(f"/trading-api:{VERSION}")
    assert deployment["metadata"]["labels"]["version"] == VERSION
    assert template["metadata"]["labels"]["version"] == VERSION
    assert weights(kube) == [(f"{SERVICE}-blue", 0), (GREEN, 100)]
    stable = kube.get("v1", NAMESPACE, "services", SERVICE)
    assert stable["spec"]["selector"]["color"] == "green"
    services = {s["name"]: s for s in json.loads((base / "config.json").read_text())[SERVICES_KEY]}
    written = services[SERVICE]
    assert written["activeColor"] == "green"
    assert written["versions"] == {"blue": "1.4.0", "green": VERSION}
    assert written["weights"] == {"blue": 0, "green": 100}
    assert services["market-data"]["activeColor"] == "blue"  # another service: untouched


def test_a_release_deploys_green_moves_the_route_and_writes_the_config_back(
    kube: KubeApiStandIn, tmp_path: Path
) -> None:
    # given staging's trading-api on blue 1.4.0, green's rollout available at its 3rd read
    kube.set_rollout(NAMESPACE, GREEN, 3)
    clock = FakeClock()
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    # when 1.5.0 is rolled out through the engine
    _, outcome = rollout(
        Request(STACK, SERVICE, VERSION),
        session(tmp_path, kube.host, clock, deploy_timeout=10),
        journal,
        Clock(clock.now, clock.sleep),
    )
    # then it was deployed on green before any traffic moved, stepped 50 -> 100, promoted
    assert outcome is Outcome.PROMOTED
    assert len(deployment_patches(kube)) == 1
    first_route = kube.requests.index(route_patches(kube)[0])
    assert kube.requests.index(deployment_patches(kube)[0]) < first_route
    green_weights = [
        p.body["spec"]["rules"][0]["backendRefs"][1]["weight"] for p in route_patches(kube)
    ]
    assert green_weights == [50, 100]
    assert_promoted(kube, tmp_path)


def test_an_engine_killed_mid_deploy_is_resumed_and_completes(
    kube: KubeApiStandIn, tmp_path: Path
) -> None:
    # given a release in another process whose green rollout never becomes available,
    # killed with SIGKILL while its Deploy waits (patched, rollout seen in progress)
    kube.set_rollout(NAMESPACE, GREEN, "never")
    script = (
        "import sys\n"
        "from tests.integration.kubernetes.test_engine_deploy import run_release\n"
        "run_release(sys.argv[1], sys.argv[2])\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), kube.host], cwd=REPO)
    kill_once(worker, lambda: reads_after_deploy_patch(kube) >= 2, "the deploy")
    assert green(kube)["status"]["updatedReplicas"] == 1  # patched, never available
    assert route_patches(kube) == []  # no traffic moved before the deploy finished
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    record = journal.current(STACK, SERVICE)
    assert record is not None and not record.finished
    # when the new pods become ready and the release is resumed (the dead engine's lock
    # taken over, as `runbook resume --force` does)
    kube.set_rollout(NAMESPACE, GREEN, 2)
    clock = FakeClock()
    with journal.acquire(STACK, holder(), force=True) as lease:
        outcome = resume(
            record,
            session(tmp_path, kube.host, clock, deploy_timeout=10),
            journal,
            lease,
            Clock(clock.now, clock.sleep),
        )
    # then the pending Deploy finished the same rollout (no second patch) and it promoted
    assert outcome is Outcome.PROMOTED
    assert len(deployment_patches(kube)) == 1
    assert green(kube)["metadata"]["generation"] == 2
    assert_promoted(kube, tmp_path)
    assert journal.release(record.id).outcome == "promoted"
