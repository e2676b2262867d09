"""The Pulumi program per real stack file. The Pulumi engine is mocked with set_mocks
(`infra.offline.plan_stack` feeds the stack file as engine config, then runs the program)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.offline import parity
from infra.program import LocalStackRefused
from stackspec.stackfile import SECRET_MASK, load_stack
from tests.infra.conftest import Plan, of_type, only

RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
MSK = "aws:msk/cluster:Cluster"
CDN = "aws:cloudfront/distribution:Distribution"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def test_production_database_is_hardened(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: RDS multi-AZ, KMS, managed password, private, 2 replicas."""
    plan = plans("production")
    writer = only(plan, RDS, "database-writer").props
    assert writer["multiAz"] is True
    assert writer["backupRetentionPeriod"] >= 14
    assert writer["deletionProtection"] is True
    assert writer["storageEncrypted"] is True and writer["kmsKeyId"].startswith("arn:aws:kms:")
    assert writer["manageMasterUserPassword"] is True
    assert writer["publiclyAccessible"] is False
    assert writer["skipFinalSnapshot"] is False
    replicas = [r for r in of_type(plan, RDS) if r.props.get("replicateSourceDb")]
    assert len(replicas) == 2
    assert all(r.props["publiclyAccessible"] is False for r in replicas)
    params = only(plan, "aws:rds/parameterGroup:ParameterGroup", "database-params").props
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "pending-reboot"} in params[
        "parameters"
    ]


def test_production_cache_broker_and_edge_are_hardened(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: ElastiCache failover/TLS/auth, MSK TLS+IAM, CloudFront."""
    plan = plans("production")
    redis = only(plan, REDIS, "cache-redis").props
    assert redis["automaticFailoverEnabled"] is True and redis["multiAzEnabled"] is True
    assert redis["transitEncryptionEnabled"] is True and redis["atRestEncryptionEnabled"] is True
    assert redis["authToken"] == SECRET_MASK  # set, and masked in the plan
    assert redis["numCacheClusters"] == 3
    kafka = only(plan, MSK, "streaming-kafka").props
    assert kafka["numberOfBrokerNodes"] == 3
    assert kafka["encryptionInfo"]["encryptionInTransit"] == {
        "clientBroker": "TLS",
        "inCluster": True,
    }
    assert kafka["clientAuthentication"]["sasl"]["iam"] is True
    cdn = only(plan, CDN, "edge-cdn").props
    assert cdn["defaultCacheBehavior"]["viewerProtocolPolicy"] == "https-only"
    assert cdn["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert cdn["origins"][0]["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]


def test_data_tier_is_reachable_only_from_the_services(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the data SG admits only the services' SG (the EKS
    cluster security group the nodes carry), on data ports, and opens nothing outward."""
    data = only(plans("production"), "aws:ec2/securityGroup:SecurityGroup", "network-data")
    ingress = data.props["ingress"]
    # MSK auth is IAM on aws stacks: its port only (9094 TLS and 9096 SCRAM stay closed).
    assert sorted(rule["fromPort"] for rule in ingress) == [5432, 6379, 9098]
    assert all(rule["securityGroups"] == ["sg-mock-cluster-eks"] for rule in ingress)
    assert data.props["egress"] == []
    assert all("cidrBlocks" not in rule for rule in ingress)


def test_staging_has_production_shape(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: staging and production differ only in size."""
    assert parity(plans("staging"), plans("production"), ("staging", "production")) == []


def test_parity_sees_shape_not_size(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: a flipped flag is a difference; sizes are not."""
    prod = plans("production")
    changed = [
        type(r)(r.type, r.name, {**r.props, "multiAz": False}) if r.name == "database-writer" else r
        for r in prod
    ]
    diffs = parity(changed, prod)
    assert [(d.name, "multiAz" in d.detail) for d in diffs] == [("database-writer", True)]


def test_dev_runs_everything_in_cluster(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: dev declares no AWS resource, and three StatefulSets."""
    plan = plans("dev")
    assert [r for r in plan if r.type.startswith("aws:")] == []
    sets = of_type(plan, "kubernetes:apps/v1:StatefulSet")
    assert sorted(s.name for s in sets) == [
        "cache-statefulset",
        "database-statefulset",
        "streaming-statefulset",
    ]
    assert all(s.props["spec"]["volumeClaimTemplates"] for s in sets)


def test_local_stack_is_refused(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the local stack is not Pulumi's, and says what to run."""
    with pytest.raises(LocalStackRefused, match=r"scripts/local-stack up.*make rehearse"):
        plans("local")


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_routes_carry_the_stack_split(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: HTTPRoute weights equal the split; consumers get none."""
    settings = load_stack(stack)
    routes = {r.props["metadata"]["name"]: r.props for r in of_type(plans(stack), ROUTE)}
    http = [s for s in settings.services if s.kind == "http"]
    assert sorted(routes) == sorted(s.name for s in http)
    for svc in http:
        backends = routes[svc.name]["spec"]["rules"][0]["backendRefs"]
        weights = {b["name"]: b["weight"] for b in backends}
        assert weights == {f"{svc.name}-blue": svc.split.blue, f"{svc.name}-green": svc.split.green}


def test_each_color_runs_its_own_version(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: Deployment image/labels per color; limits are 2x requests."""
    settings = load_stack("production")
    svc = settings.service("trading-api")
    for color in ("blue", "green"):
        deployment = only(
            plans("production"), "kubernetes:apps/v1:Deployment", f"trading-api-{color}"
        ).props
        version = getattr(svc.versions, color)
        assert deployment["metadata"]["labels"] == {
            "app": "trading-api",
            "color": color,
            "version": version,
        }
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"{svc.image}:{version}"
        assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
        assert container["readinessProbe"]["httpGet"]["path"] == svc.health_path
