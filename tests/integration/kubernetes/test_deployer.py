"""KubernetesDeployer against the Kubernetes API stand-in (no API server can run here): the
real `kubernetes` client patches the stand-in's Deployments and polls the status its
simulated controller writes; a deploy killed with SIGKILL after its patch is completed by
deploying again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from runbooks.core.model import Color
from runbooks.deploy.kubernetes import KubernetesDeployer
from runbooks.local.process import free_port
from runbooks.standins import kube_objects
from runbooks.standins.kube_api import JSON_PATCH, KubeApiStandIn
from stackspec.errors import DriverError
from tests.integration.kubernetes.conftest import IMAGE, NAMESPACE, SERVICE, kill_once

pytestmark = pytest.mark.integration

GREEN = f"{SERVICE}-green"
REPO = Path(__file__).parents[3]


def deployer(api_client: Any, timeout: float = 10.0) -> KubernetesDeployer:
    return KubernetesDeployer(
        NAMESPACE, client.AppsV1Api(api_client), timeout_seconds=timeout, poll_seconds=0.02
    )


def live(kube: KubeApiStandIn, name: str = GREEN) -> dict[str, Any]:
    return kube.get("apps/v1", NAMESPACE, "deployments", name)


def patches(kube: KubeApiStandIn) -> list[Any]:
    return [r for r in kube.requests if r.method == "PATCH"]


def reads_after_patch(kube: KubeApiStandIn) -> int:
    methods = [r.method for r in kube.requests]
    return methods[methods.index("PATCH") :].count("GET") if "PATCH" in methods else 0


def seed_pair(kube: KubeApiStandIn) -> None:
    kube.seed(kube_objects.deployment(SERVICE, "blue", "1.0.0", IMAGE))
    kube.seed(kube_objects.deployment(SERVICE, "green", "1.0.0", IMAGE))


def test_deploy_sets_image_and_version_label_and_waits_for_the_rollout(
    kube: KubeApiStandIn, api_client: Any
) -> None:
    # given both colors at 1.0.0, green's rollout available only at the 4th read
    seed_pair(kube)
    blue_before = live(kube, f"{SERVICE}-blue")
    kube.set_rollout(NAMESPACE, GREEN, 4)
    # when 1.1.0 is deployed to green
    deployer(api_client).deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)
    # then green runs 1.1.0, labelled so, and the deployer returned only once available
    green = live(kube)
    template = green["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == f"{IMAGE}:1.1.0"
    assert green["metadata"]["labels"]["version"] == "1.1.0"
    assert template["metadata"]["labels"]["version"] == "1.1.0"
    assert green["spec"]["selector"] == {"matchLabels": {"app": SERVICE, "color": "green"}}
    assert green["status"]["observedGeneration"] == green["metadata"]["generation"] == 2
    assert green["status"]["updatedReplicas"] == green["status"]["availableReplicas"] == 2
    assert reads_after_patch(kube) == 4
    [patch] = patches(kube)
    assert patch.content_type == JSON_PATCH
    assert live(kube, f"{SERVICE}-blue") == blue_before


def test_a_rollout_that_never_becomes_available_times_out_with_what_was_seen(
    kube: KubeApiStandIn, api_client: Any
) -> None:
    # given green's new pod never becomes ready (its old pods stay available)
    seed_pair(kube)
    kube.set_rollout(NAMESPACE, GREEN, "never")
    started = time.monotonic()
    # when 1.1.0 is deployed with a short deadline
    with pytest.raises(DriverError) as caught:
        deployer(api_client, timeout=0.5).deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)
    # then one line says which rollout, after how long, and what its status showed
    assert caught.value.message == (
        f"Deployment {NAMESPACE}/{GREEN} rollout of {IMAGE}:1.1.0 not available after 0.5s: "
        "generation 2 (observed 2), 2 desired, 1 updated, 2 available, 3 in total"
    )
    assert "rollout status" in caught.value.hint
    assert 0.5 <= time.monotonic() - started < 5


def test_a_missing_deployment_says_to_run_pulumi_up(kube: KubeApiStandIn, api_client: Any) -> None:
    kube.seed(kube_objects.deployment(SERVICE, "blue", "1.0.0", IMAGE))

    with pytest.raises(DriverError) as caught:
        deployer(api_client).deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)

    assert caught.value.message == f"Deployment {NAMESPACE}/{GREEN} is missing"
    assert "pulumi up" in caught.value.hint
    assert patches(kube) == []


def test_deploying_the_version_already_rolled_out_returns_at_once(
    kube: KubeApiStandIn, api_client: Any
) -> None:
    seed_pair(kube)
    before = live(kube)

    deployer(api_client).deploy(SERVICE, Color.GREEN, "1.0.0", IMAGE)

    assert patches(kube) == []
    assert [r.method for r in kube.requests] == ["GET", "GET"]  # read, then seen available
    assert live(kube) == before


def test_a_deploy_killed_after_its_patch_is_completed_by_deploying_again(
    kube: KubeApiStandIn, api_client: Any
) -> None:
    # given a deploy in another process, its rollout stuck, killed with SIGKILL mid-wait
    seed_pair(kube)
    kube.set_rollout(NAMESPACE, GREEN, "never")
    script = (
        "import sys\n"
        "from kubernetes import client\n"
        "from runbooks.core.model import Color\n"
        "from runbooks.deploy.kubernetes import KubernetesDeployer\n"
        "api = client.AppsV1Api(client.ApiClient(client.Configuration(host=sys.argv[1])))\n"
        "KubernetesDeployer('trading', api, 60, 0.05).deploy(\n"
        f"    {SERVICE!r}, Color.GREEN, '1.1.0', {IMAGE!r})\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script, kube.host], cwd=REPO)
    # the 2nd read after the patch sees the rollout in progress
    kill_once(worker, lambda: reads_after_patch(kube) >= 2, "the deployment's patch")
    killed = live(kube)
    assert killed["status"]["updatedReplicas"] == 1  # patched, never became available
    # when the deploy is run again, and this time the new pods become ready
    kube.set_rollout(NAMESPACE, GREEN, 2)
    deployer(api_client).deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)
    # then it completed the same rollout without patching again
    green = live(kube)
    assert len(patches(kube)) == 1
    assert green["metadata"]["generation"] == killed["metadata"]["generation"] == 2
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:1.1.0"
    assert green["status"]["updatedReplicas"] == green["status"]["availableReplicas"] == 2


def test_a_deployment_changed_while_waiting_is_a_driver_error(
    kube: KubeApiStandIn, api_client: Any
) -> None:
    # given green's rollout stuck, and someone else setting another image while we wait
    seed_pair(kube)
    kube.set_rollout(NAMESPACE, GREEN, "never")
    apps = client.AppsV1Api(api_client)
    real_read = apps.read_namespaced_deployment

    def read_then_overwrite(name: str, namespace: str) -> Any:
        found = real_read(name, namespace)
        if len(patches(kube)) == 1:
            image = [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/image",
                    "value": f"{IMAGE}:9.9.9",
                }
            ]
            apps.patch_namespaced_deployment(name, namespace, image)
        return found

    apps.read_namespaced_deployment = read_then_overwrite
    deploy = KubernetesDeployer(NAMESPACE, apps, timeout_seconds=10, poll_seconds=0.02)
    # when deploying 1.1.0, then the wait stops with a DriverError saying so
    with pytest.raises(DriverError, match=r"was changed while its rollout of .*:1\.1\.0"):
        deploy.deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)


def test_an_unreachable_api_is_one_line() -> None:
    nothing_listens = client.Configuration(host=f"http://127.0.0.1:{free_port()}")
    with client.ApiClient(nothing_listens) as api, pytest.raises(DriverError) as caught:
        deployer(api).deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)
    assert caught.value.message.startswith(f"cannot read Deployment {NAMESPACE}/{GREEN}: ")
    assert "is unreachable (" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("kubeconfig", [None, "clusters: [unclosed\n"])
def test_no_cluster_credentials_is_one_line_not_a_config_traceback(
    kubeconfig: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import kube_config

    path = tmp_path / "config"
    if kubeconfig is not None:
        path.write_text(kubeconfig)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(DriverError) as caught:
        KubernetesDeployer(NAMESPACE)

    assert caught.value.message.startswith("no Kubernetes cluster to deploy to: ")
    assert "\n" not in caught.value.message
    assert "KUBECONFIG" in caught.value.hint


def test_without_an_api_given_the_kubeconfig_is_used(
    kube: KubeApiStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import kube_config

    seed_pair(kube)
    path = kube.write_kubeconfig(tmp_path / "config")
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # loading a kubeconfig sets the client's process-wide default configuration
    monkeypatch.setattr(client.Configuration, "_default", None)

    KubernetesDeployer(NAMESPACE, poll_seconds=0.02).deploy(SERVICE, Color.GREEN, "1.1.0", IMAGE)

    assert live(kube)["metadata"]["labels"]["version"] == "1.1.0"
    assert kube.requests[0].method == "GET"
