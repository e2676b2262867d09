"""The in-cluster data tier of the kubernetes substrate (dev): pinned images that exist, the
`restricted` Pod Security Standard, sizes, probes, and the policy that admits only the
services. The Pulumi engine is mocked with set_mocks (`plans` runs the program under mocks);
`pinned_image` is pure and needs no engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.incluster import RUN_AS, SECRETS_MOUNT, pinned_image
from tests.infra.conftest import Plan, of_type, only

STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# Full Docker Hub releases (not floating tags), checked to exist when chosen: the dev stack's
# postgres 15 and redis 7.0 pinned, apache/kafka 3.9.1 as given (images start at 3.7.0;
# `redis:7.1` and `apache/kafka:3.6.0` were never published).
EXISTING_DEV_IMAGES = {"postgres:15.8", "redis:7.0.15", "apache/kafka:3.9.1"}
ADDED_CAPABILITIES_ALLOWED = {"NET_BIND_SERVICE"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What in pod spec `pod` (camelCase, as the mocks see it) breaks the `restricted` Pod
    Security Standard or our hardening (read-only root, no token, limits, probes)."""
    found = []
    pod_ctx = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        found.append("automountServiceAccountToken is not false")
    if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        found.append("pod seccompProfile is not RuntimeDefault")
    if pod_ctx.get("runAsNonRoot") is not True:
        found.append("pod runAsNonRoot is not true")
    if pod_ctx.get("runAsUser", 0) < 10000 or "fsGroup" not in pod_ctx:
        found.append("pod runAsUser below 10000 or no fsGroup")
    for c in pod.get("initContainers", []) + pod["containers"]:
        ctx, name = c.get("securityContext", {}), c["name"]
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if ctx.get("capabilities", {}).get("drop") != ["ALL"]:
            found.append(f"{name}: capabilities do not drop ALL")
        if set(ctx.get("capabilities", {}).get("add", [])) - ADDED_CAPABILITIES_ALLOWED:
            found.append(f"{name}: adds a capability restricted forbids")
        if ctx.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: root filesystem is writable")
        if ctx.get("privileged") is True:
            found.append(f"{name}: privileged")
        limits = c.get("resources", {}).get("limits", {})
        if not {"cpu", "memory"} <= limits.keys():
            found.append(f"{name}: no cpu and memory limits")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in c:
                found.append(f"{name}: no {probe}")
        if ":" not in c["image"].rsplit("/", 1)[-1] or c["image"].endswith(":latest"):
            found.append(f"{name}: image {c['image']} is not pinned to a tag")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if "/tmp" not in mounts:
            found.append(f"{name}: no writable /tmp under a read-only root")
    return found


def test_dev_images_are_tags_that_exist(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the dev data tier runs exactly the checked tags."""
    images = {
        c["image"]
        for s in of_type(plans("dev"), STATEFUL_SET)
        for c in s.props["spec"]["template"]["spec"]["containers"]
    }
    assert images == EXISTING_DEV_IMAGES


@pytest.mark.parametrize(
    ("requested", "pinned"),
    [
        ("redis:7.0", "redis:7.0.15"),
        ("redis:7.2", "redis:7.2.5"),
        ("apache/kafka:3.8", "apache/kafka:3.8.1"),
        ("apache/kafka:3.7.1", "apache/kafka:3.7.1"),  # a full release stays as chosen
        ("postgres:15", "postgres:15.8"),
        ("registry.example.com/other:1.0", "registry.example.com/other:1.0"),
    ],
)
def test_floating_tags_are_pinned_to_full_releases(requested: str, pinned: str) -> None:
    """No engine needed (a pure function): floating tags -> full releases."""
    assert pinned_image(requested) == pinned


def test_data_pods_meet_restricted_and_hardening(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: every dev StatefulSet's pod passes the restricted checks."""
    sets = of_type(plans("dev"), STATEFUL_SET)
    assert len(sets) == 3
    for s in sets:
        pod = s.props["spec"]["template"]["spec"]
        assert restricted_violations(pod) == [], s.name
        assert pod["securityContext"]["runAsUser"] == RUN_AS
        assert pod["serviceAccountName"] == s.props["metadata"]["name"]


def test_image_write_paths_are_emptydirs(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: where each image writes outside its volume is an emptyDir."""
    expected = {
        "database": {"/tmp", "/var/run/postgresql", "/var/lib/postgresql/data", SECRETS_MOUNT},
        "cache": {"/tmp", "/data"},
        "streaming": {"/tmp", "/opt/kafka/config", "/opt/kafka/logs", "/var/lib/kafka/data"},
    }
    for app, paths in expected.items():
        pod = only(plans("dev"), STATEFUL_SET, f"{app}-statefulset").props["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert {m["mountPath"] for m in container["volumeMounts"]} == paths
        empty = {v["name"] for v in pod["spec"]["volumes"] if "emptyDir" in v}
        scratch = {m["name"] for m in container["volumeMounts"]} - {"data", "secrets"}
        assert scratch == empty


def test_database_password_is_a_file_not_an_env_value(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the Secret is mounted read-only and POSTGRES_PASSWORD_FILE
    names its key; no env var carries a secret value (checkov CKV_K8S_35)."""
    pod = only(plans("dev"), STATEFUL_SET, "database-statefulset").props["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert "POSTGRES_PASSWORD" not in env
    assert env["POSTGRES_PASSWORD_FILE"] == {
        "name": "POSTGRES_PASSWORD_FILE",
        "value": f"{SECRETS_MOUNT}/password",
    }
    assert not any("valueFrom" in e for e in container["env"])
    (secret,) = [v["secret"] for v in pod["spec"]["volumes"] if "secret" in v]
    # A Secret's name is a reference, not a secret: the plan shows it.
    assert secret == {"secretName": "database-credentials", "defaultMode": 0o440}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secrets"]
    assert mount == {"name": "secrets", "mountPath": SECRETS_MOUNT, "readOnly": True}


def test_kafka_logs_sit_below_the_volume_root(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the broker's log directory is a child of its volume, so
    an ext4 volume's lost+found never stops it starting."""
    pod = only(plans("dev"), STATEFUL_SET, "streaming-statefulset").props["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    (data,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == "data"]
    assert env["KAFKA_LOG_DIRS"] == f"{data}/logs"


def test_kafka_memory_limit_holds_its_heap(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the broker's limit is above the image's 1 GiB heap."""
    pod = only(plans("dev"), STATEFUL_SET, "streaming-statefulset").props["spec"]["template"]
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "2Gi"


def test_data_pods_admit_only_the_services(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: each data server's policy admits services (and itself)."""
    for app, port in (("database", 5432), ("cache", 6379), ("streaming", 9092)):
        spec = only(plans("dev"), NETWORK_POLICY, f"{app}-ingress").props["spec"]
        assert spec["podSelector"] == {"matchLabels": {"app": app}}
        assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"trading/tier": "service"}}},
            {"podSelector": {"matchLabels": {"app": app}}},
        ]


def test_the_restricted_check_catches_each_violation() -> None:
    """No engine needed (plain data): the checker the workload tests rely on flags a pod
    that breaks each rule, so a passing workload test means something."""
    bare = {"containers": [{"name": "app", "image": "app"}]}
    found = restricted_violations(bare)
    for expected in (
        "automountServiceAccountToken is not false",
        "pod seccompProfile is not RuntimeDefault",
        "pod runAsNonRoot is not true",
        "app: allowPrivilegeEscalation is not false",
        "app: capabilities do not drop ALL",
        "app: root filesystem is writable",
        "app: no cpu and memory limits",
        "app: no startupProbe",
        "app: image app is not pinned to a tag",
        "app: no writable /tmp under a read-only root",
    ):
        assert expected in found
    latest = {"containers": [{"name": "app", "image": "registry:5000/app:latest"}]}
    assert "app: image registry:5000/app:latest is not pinned to a tag" in (
        restricted_violations(latest)
    )
