"""The created node group must hold both colours of every service plus a rolling update's
surge (stackspec.capacity). Settings only: no engine, so no set_mocks needed."""

from __future__ import annotations

from typing import Any

import pytest

from stackspec.capacity import ALLOCATABLE, PER_NODE, PLATFORM, cpu_millis, max_surge, mebibytes
from stackspec.model import StackSettings
from stackspec.stackfile import StackFileError, settings_from_config
from tests.infra.settings_helpers import PROJECT, section

NODE_GROUP = f"{PROJECT}:aws.cluster.created.nodeGroup"


def _with_nodes(stack: str, **node_group: Any) -> StackSettings:
    config = section(stack)
    created = config["aws"]["cluster"]["created"]
    created["nodeGroup"] = {**created["nodeGroup"], **node_group}
    return settings_from_config(config, path=f"stacks/Pulumi.{stack}.yaml")


def test_quantities_parse_as_kubernetes_reads_them() -> None:
    assert [cpu_millis(q) for q in ("1", "0.5", "250m", "2")] == [1000, 500, 250, 2000]
    assert [mebibytes(q) for q in ("256Mi", "1Gi", "1.5Gi", "1048576")] == [256, 1024, 1536, 1]
    assert [max_surge(n) for n in (1, 2, 4, 5, 8)] == [1, 1, 1, 2, 2]


def test_allocatable_matches_what_eks_nodes_report() -> None:
    """m6i.xlarge: EKS reports ~3920m and ~14.1-14.5Gi allocatable on AL2023 (58 pods)."""
    node = ALLOCATABLE["m6i.xlarge"]
    assert node.cpu_m == 3920
    assert 14_000 <= node.memory_mi <= 14_900
    assert ALLOCATABLE["m6i.large"].cpu_m == 1930
    assert ALLOCATABLE["c6i.xlarge"].memory_mi < ALLOCATABLE["m6i.xlarge"].memory_mi


def test_the_review_s_production_node_group_is_refused() -> None:
    """3 x m6i.xlarge (the review's finding): 20 pods of 1 CPU do not fit ~11.3 CPU."""
    with pytest.raises(StackFileError) as caught:
        _with_nodes("production", instanceTypes=["m6i.xlarge"], minSize=3, desiredSize=3)
    text = str(caught.value)
    assert f"{NODE_GROUP}.minSize" in text and "stacks/Pulumi.production.yaml" in text
    room = (ALLOCATABLE["m6i.xlarge"] - PER_NODE).times(3)
    assert f"leaves {room} for pods" in text
    assert "20 pods needing 20000m CPU, 20480Mi memory" in text
    assert str(PLATFORM) in text


def test_the_stacks_node_groups_fit_with_their_surge() -> None:
    for stack in ("staging", "production"):
        settings = _with_nodes(stack)
        assert settings.aws is not None and settings.aws.cluster.created is not None


def test_one_node_too_few_is_refused_at_the_boundary() -> None:
    """Production needs 21 CPU: 3 x m6i.2xlarge (~23.3) fits, 2 (~15.5) does not."""
    _with_nodes("production", minSize=3, desiredSize=3)
    with pytest.raises(StackFileError, match="minSize 2 x"):
        _with_nodes("production", minSize=2, desiredSize=2)


def test_memory_alone_can_refuse() -> None:
    """c6i.2xlarge has the CPU but 3 nodes leave ~41Gi; 20 pods of 2Gi need 40Gi + add-ons."""
    config = section("production")
    for svc in config["services"]:
        svc["resources"] = {"cpu": "250m", "memory": "2Gi"}
    config["aws"]["cluster"]["created"]["nodeGroup"].update(
        instanceTypes=["c6i.2xlarge"], minSize=3, desiredSize=3
    )
    with pytest.raises(StackFileError, match="43008Mi memory in all"):
        settings_from_config(config, path="stacks/Pulumi.production.yaml")


def test_an_unknown_instance_type_is_refused_with_the_known_ones() -> None:
    with pytest.raises(StackFileError) as caught:
        _with_nodes("production", instanceTypes=["t3.medium"])
    text = str(caught.value)
    assert f"{NODE_GROUP}.instanceTypes" in text and "t3.medium" in text
    assert "'m6i.2xlarge'" in text and "'r6i.4xlarge'" in text


def test_a_pod_larger_than_a_node_is_refused() -> None:
    config = section("staging")
    config["services"][0]["resources"] = {"cpu": "4", "memory": "1Gi"}
    with pytest.raises(StackFileError, match="one pod of 'trading-api' requests 4000m CPU"):
        settings_from_config(config, path="stacks/Pulumi.staging.yaml")


def test_an_adopted_cluster_is_not_checked() -> None:
    """An adopted cluster's nodes are sized where it is managed: huge pods are accepted."""
    config = section("production")
    config["aws"]["cluster"] = {
        "adopted": {
            "name": "platform-prod",
            "vpcId": "vpc-0a1b2c3d4e5f60718",
            "subnetIds": [f"subnet-{i}a1b2c3d4e5f60718" for i in range(3)],
            "securityGroupId": "sg-0a1b2c3d4e5f60718",
            "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/"
            "oidc.eks.us-east-1.amazonaws.com/id/ABC123",
            "oidcIssuerUrl": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123",
            "vpcCidr": "172.20.0.0/16",
        }
    }
    for svc in config["services"]:
        svc["resources"] = {"cpu": "8", "memory": "1Gi"}
    settings_from_config(config, path="stacks/Pulumi.production.yaml")
