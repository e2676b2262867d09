"""The cluster (created or adopted), the explicit providers and production's protection.

The Pulumi engine is mocked with pulumi.runtime.set_mocks throughout (no CLI or cluster can
run here): the real stack files are loaded, edited where a test says so, and given to the
program as engine config, as `pulumi up` would.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import MockResourceArgs

from infra.offline import PlannedResource, RecordingMocks, engine_config
from infra.program import run
from stackspec.stackfile import PROJECT, StackFileError, load_stack_file, stack_path
from tests.infra.conftest import Plan, of_type, only

ADOPTED = {
    "name": "platform-prod",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": [f"subnet-{i}a1b2c3d4e5f60718" for i in range(3)],
    "securityGroupId": "sg-0a1b2c3d4e5f60718",
    "oidcProviderArn": (
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"
    ),
    "oidcIssuerUrl": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123",
    "vpcCidr": "172.20.0.0/16",
}
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ADDON = "aws:eks/addon:Addon"


@dataclass(frozen=True)
class Declared:
    """A resource as the engine saw it: with its provider reference and `protect`."""

    resource: PlannedResource
    provider: str | None
    protect: bool


class ProviderMocks(RecordingMocks):
    """RecordingMocks that also keep each resource's provider reference."""

    def __init__(self) -> None:
        super().__init__()
        self.providers: dict[tuple[str, str], str | None] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.providers[(args.typ, args.name)] = args.provider
        return super().new_resource(args)


def declare(
    stack: str, edit: Callable[[dict[str, Any]], None] | None = None, key: str = "aws"
) -> list[Declared]:
    """The program run under set_mocks on `stack`'s file, after `edit` of its `key` section."""
    config = engine_config(stack)
    if edit is not None:
        section = json.loads(config[f"{PROJECT}:{key}"])
        edit(section)
        config[f"{PROJECT}:{key}"] = json.dumps(section)
    mocks = ProviderMocks()
    protected: dict[tuple[str, str], bool] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        protected[(args.type_, args.name)] = bool(args.opts.protect)

    def program() -> None:
        pulumi.runtime.register_stack_transformation(record)  # type: ignore[arg-type]
        run()

    def go() -> None:
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config(config)
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]

    contextvars.Context().run(go)
    return [
        Declared(r, mocks.providers.get((r.type, r.name)), protected.get((r.type, r.name), False))
        for r in mocks.resources
    ]


def plan_of(declared: list[Declared]) -> Plan:
    """The plain plan of `declared` resources."""
    return [d.resource for d in declared]


def adopt(section: dict[str, Any]) -> None:
    """Edit: the production cluster adopted instead of created."""
    section["cluster"] = {"adopted": ADOPTED}


def test_production_creates_a_private_encrypted_logged_cluster(
    plans: Callable[[str], Plan],
) -> None:
    """Engine mocked with set_mocks: EKS with a private endpoint only, secrets encrypted
    with the stack's key, every control-plane log type, IRSA's OIDC provider."""
    plan = plans("production")
    eks = only(plan, "aws:eks/cluster:Cluster", "cluster-eks").props
    vpc = eks["vpcConfig"]
    assert (vpc["endpointPrivateAccess"], vpc["endpointPublicAccess"]) == (True, False)
    assert len(vpc["subnetIds"]) == 3
    encryption = eks["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"].endswith("key/cluster-secrets-key")
    assert sorted(eks["enabledClusterLogTypes"]) == sorted(
        ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    )
    oidc = only(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "cluster-oidc")
    assert oidc.props["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.props["url"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")


def test_nodes_require_imdsv2_and_encrypted_disks(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: one managed node group across the private subnets,
    launched with IMDSv2 at one hop (pods cannot use the node's role) and encrypted gp3."""
    plan = plans("production")
    nodes = only(plan, "aws:eks/nodeGroup:NodeGroup", "cluster-nodes").props
    assert nodes["scalingConfig"] == {"minSize": 4.0, "desiredSize": 4.0, "maxSize": 9.0}
    assert nodes["instanceTypes"] == ["m6i.2xlarge"]
    assert len(nodes["subnetIds"]) == 3
    template = only(plan, "aws:ec2/launchTemplate:LaunchTemplate", "cluster-nodes").props
    meta = template["metadataOptions"]
    assert (meta["httpTokens"], meta["httpPutResponseHopLimit"]) == ("required", 1.0)
    assert template["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_kubernetes_provider_authenticates_with_eks_get_token(
    plans: Callable[[str], Plan],
) -> None:
    """Engine mocked with set_mocks: the provider's kubeconfig names the stack's cluster and
    gets short-lived tokens from `aws eks get-token` in the stack's region."""
    provider = only(plans("production"), "pulumi:providers:kubernetes", "cluster").props
    config = json.loads(provider["kubeconfig"])
    assert config["current-context"] == "trading-production"
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "trading-production",
        "--region",
        "us-east-1",
    ]


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_resource_uses_an_explicit_provider(stack: str) -> None:
    """Engine mocked with set_mocks: every Kubernetes (and, on aws stacks, AWS) resource is
    bound to the program's own provider, never a default one (disabled in the stack file)."""
    declared = declare(stack)
    kinds = ("kubernetes:", "aws:")
    bound = [d for d in declared if d.resource.type.startswith(kinds)]
    assert bound
    for d in bound:
        package = d.resource.type.split(":")[0]
        assert d.provider is not None, f"{d.resource.type} {d.resource.name} has no provider"
        assert f"pulumi:providers:{package}::" in d.provider
        provider_name = d.provider.split("::")[-2]
        assert not provider_name.startswith("default"), f"{d.resource.name}: {d.provider}"
    k8s_providers = {d.provider for d in bound if d.resource.type.startswith("kubernetes:")}
    assert len(k8s_providers) == 1 and k8s_providers.pop().endswith("::cluster::cluster-id")
    document = yaml.safe_load(stack_path(stack).read_text(encoding="utf-8"))
    assert "kubernetes" in document["config"]["pulumi:disable-default-providers"]


def test_dev_provider_uses_the_configured_context(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: dev's provider names kubernetes.context, no kubeconfig."""
    provider = only(plans("dev"), "pulumi:providers:kubernetes", "cluster").props
    assert provider["context"] == "dev"
    assert "kubeconfig" not in provider


def test_kubernetes_substrate_without_context_is_refused() -> None:
    """Engine mocked with set_mocks: dev without kubernetes.context would deploy to the
    operator's current context; the program refuses it, naming the file and key."""
    with pytest.raises(StackFileError, match=r"(?s)Pulumi\.dev\.yaml.*kubernetes\.context"):
        declare("dev", lambda section: section.pop("context"), key="kubernetes")


def test_aws_stack_refuses_a_kubeconfig_context() -> None:
    """Engine mocked with set_mocks: a context on an aws stack would be silently ignored
    (the provider uses the stack's cluster); the program refuses it instead."""

    def edit(section: dict[str, Any]) -> None:
        section["context"] = "someone-elses-cluster"

    expected = r"(?s)Pulumi\.staging\.yaml.*kubernetes\.context.*not allowed on aws stacks"
    with pytest.raises(StackFileError, match=expected):
        declare("staging", edit, key="kubernetes")


def test_adopted_cluster_is_used_not_created() -> None:
    """Engine mocked with set_mocks: with `adopted`, no VPC or EKS is created; the data tier
    joins the adopted VPC and subnets and admits the adopted security group only."""
    plan = plan_of(declare("production", adopt))
    assert of_type(plan, "aws:eks/cluster:Cluster") == []
    assert of_type(plan, "aws:ec2/vpc:Vpc") == []
    assert of_type(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    data = only(plan, "aws:ec2/securityGroup:SecurityGroup", "network-data").props
    assert data["vpcId"] == ADOPTED["vpcId"]
    assert {g for rule in data["ingress"] for g in rule["securityGroups"]} == {
        ADOPTED["securityGroupId"]
    }
    subnets = only(plan, "aws:rds/subnetGroup:SubnetGroup", "network-db").props
    assert subnets["subnetIds"] == ADOPTED["subnetIds"]
    kubeconfig = json.loads(
        only(plan, "pulumi:providers:kubernetes", "cluster").props["kubeconfig"]
    )
    assert kubeconfig["current-context"] == "platform-prod"
    role = only(plan, "aws:iam/role:Role", "irsa-trading-api").props
    assert ADOPTED["oidcProviderArn"] in role["assumeRolePolicy"]


def _with_cluster(cluster: dict[str, Any]) -> dict[str, Any]:
    document = yaml.safe_load(stack_path("production").read_text(encoding="utf-8"))
    document["config"][f"{PROJECT}:aws"]["cluster"] = cluster
    return document


@pytest.mark.parametrize(
    ("cluster", "got"),
    [
        ({}, "neither"),
        ({"created": {}, "adopted": ADOPTED}, "['created', 'adopted']"),
    ],
)
def test_cluster_must_be_created_or_adopted_not_both(
    tmp_path: Any, cluster: dict[str, Any], got: str
) -> None:
    """Settings only: both or neither of created/adopted is refused, naming file and key."""
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(yaml.safe_dump(_with_cluster(cluster)), encoding="utf-8")
    with pytest.raises(StackFileError) as err:
        load_stack_file(path)
    message = str(err.value)
    assert str(path) in message
    assert f"{PROJECT}:aws.cluster" in message
    assert "exactly one of `created`" in message and got in message


def test_adopted_cluster_ids_are_checked(tmp_path: Any) -> None:
    """Settings only: an adopted cluster's ids must look like AWS ids."""
    bad = {**ADOPTED, "securityGroupId": "default"}
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(yaml.safe_dump(_with_cluster({"adopted": bad})), encoding="utf-8")
    with pytest.raises(StackFileError, match=r"aws\.cluster\.adopted\.securityGroupId"):
        load_stack_file(path)


def test_production_protects_its_cluster_data_and_keys() -> None:
    """Engine mocked with set_mocks: in production, the EKS cluster, every KMS key and the
    data tier (RDS, ElastiCache, MSK) are declared with protect=True; staging's are not."""
    stateful = (
        "aws:eks/cluster:Cluster",
        "aws:kms/key:Key",
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:msk/cluster:Cluster",
    )
    production = [d for d in declare("production") if d.resource.type in stateful]
    assert {d.resource.type for d in production} == set(stateful)
    unprotected = [d.resource.name for d in production if not d.protect]
    assert unprotected == []
    staging = [d for d in declare("staging") if d.resource.type in stateful]
    assert not any(d.protect for d in staging)


def test_admin_roles_get_access_entries() -> None:
    """Engine mocked with set_mocks: each configured admin role gets an EKS access entry and
    the cluster-admin access policy, cluster-wide (CI can deploy to the private cluster)."""
    ci = "arn:aws:iam::123456789012:role/ci-deploy"

    def edit(section: dict[str, Any]) -> None:
        section["cluster"]["created"]["adminRoleArns"] = [ci]

    plan = plan_of(declare("production", edit))
    entry = only(plan, "aws:eks/accessEntry:AccessEntry", "cluster-admin-1").props
    assert (entry["clusterName"], entry["principalArn"]) == ("trading-production", ci)
    policy = only(
        plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "cluster-admin-1"
    ).props
    assert policy["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert policy["accessScope"] == {"type": "cluster"}

    staging = plan_of(declare("staging"))
    assert of_type(staging, "aws:eks/accessEntry:AccessEntry") == []


def test_created_cluster_enforces_network_policies(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: a created cluster runs the VPC CNI add-on with
    network policy enabled (else EKS enforces no NetworkPolicy), overwriting EKS's own."""
    for stack in ("staging", "production"):
        addon = only(plans(stack), ADDON, "cluster-vpc-cni").props
        assert addon["addonName"] == "vpc-cni"
        assert addon["clusterName"] == f"trading-{stack}"
        assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}
        assert addon["resolveConflictsOnCreate"] == "OVERWRITE"
        assert addon["resolveConflictsOnUpdate"] == "OVERWRITE"


def test_adopted_cluster_egress_goes_to_its_own_vpc() -> None:
    """Engine mocked with set_mocks: with `adopted`, the services' egress to the data tier
    is limited to the adopted VPC's CIDR, not the stack's unused `aws.network.vpcCidr`; no
    add-on is created in a cluster the stack does not own."""
    plan = plan_of(declare("production", adopt))
    assert of_type(plan, ADDON) == []
    cidrs = {
        peer["ipBlock"]["cidr"]
        for policy in of_type(plan, NETWORK_POLICY)
        for rule in policy.props["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer and peer["ipBlock"]["cidr"] != "0.0.0.0/0"
    }
    assert cidrs == {ADOPTED["vpcCidr"]}


def test_adopted_cluster_needs_its_vpc_cidr(tmp_path: Any) -> None:
    """Settings only: an adopted cluster without `vpcCidr` is refused, naming the key."""
    missing = {k: v for k, v in ADOPTED.items() if k != "vpcCidr"}
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(yaml.safe_dump(_with_cluster({"adopted": missing})), encoding="utf-8")
    with pytest.raises(StackFileError, match=r"aws\.cluster\.adopted\.vpcCidr"):
        load_stack_file(path)


def _recording(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, into: dict[str, Any]
) -> None:
    """Replace `module.name` (a resource class) by one that records each instance and its
    options in `into` under its resource name."""
    original = getattr(module, name)

    class Recording(original):  # type: ignore[misc, valid-type]
        def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
            super().__init__(resource_name, *args, **kwargs)
            into[resource_name] = (self, kwargs.get("opts"))

    monkeypatch.setattr(module, name, Recording)


def test_kubernetes_provider_waits_for_nodes_and_addons(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: on a created cluster the Kubernetes provider (so every in-cluster
    resource and Helm release using it) depends on the node group and the EKS add-ons;
    an active control plane alone schedules nothing."""
    import pulumi_aws as aws
    import pulumi_kubernetes as k8s

    seen: dict[str, Any] = {}
    for module, name in ((aws.eks, "NodeGroup"), (aws.eks, "Addon"), (k8s, "Provider")):
        _recording(monkeypatch, module, name, seen)
    declare("production")
    _, opts = seen["cluster"]
    depends = opts.depends_on
    assert seen["cluster-nodes"][0] in depends
    assert seen["cluster-vpc-cni"][0] in depends


def test_adopted_cluster_provider_waits_for_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: an adopted cluster's nodes exist; its provider has no dependency."""
    import pulumi_kubernetes as k8s

    seen: dict[str, Any] = {}
    _recording(monkeypatch, k8s, "Provider", seen)
    declare("production", adopt)
    _, opts = seen["cluster"]
    assert not opts.depends_on


def test_helm_releases_wait_ten_minutes(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: ESO and Envoy Gateway get `timeout` 600 s (nodes join, images pull)."""
    releases = of_type(plans("production"), "kubernetes:helm.sh/v3:Release")
    assert sorted(r.name for r in releases) == ["gateway-controller", "secret-delivery-operator"]
    assert all(r.props["timeout"] == 600 for r in releases)


def test_created_cluster_runs_metrics_server_after_its_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under set_mocks: the HPAs' CPU metrics come from EKS's metrics-server add-on, created
    after the node group its pods run on; an adopted cluster gets none (tested above)."""
    import pulumi_aws as aws

    seen: dict[str, Any] = {}
    _recording(monkeypatch, aws.eks, "NodeGroup", seen)
    _recording(monkeypatch, aws.eks, "Addon", seen)
    plan = plan_of(declare("production"))
    addon = only(plan, ADDON, "cluster-metrics-server").props
    assert (addon["addonName"], addon["clusterName"]) == ("metrics-server", "trading-production")
    assert seen["cluster-nodes"][0] in seen["cluster-metrics-server"][1].depends_on
    assert of_type(plan, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
