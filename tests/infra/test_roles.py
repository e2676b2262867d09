"""Service roles (infra.roles): the trust policy, and each role's managed policies.

Plans come from `infra.offline.plan_stack`, which runs the program under set_mocks (a
stand-in for the engine: no Pulumi CLI here).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from infra.roles import MANAGED_POLICY, service_trust
from tests.infra.conftest import Plan, of_type, only

ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def test_trust_lets_only_the_named_service_assume_the_role() -> None:
    """Pure: one statement, the service as the only principal, sts:AssumeRole only."""
    (statement,) = json.loads(service_trust("eks.amazonaws.com"))["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "eks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


def test_each_service_role_has_its_trust_and_exactly_its_managed_policies(
    plans: Callable[[str], Plan],
) -> None:
    """Engine mocked with set_mocks: on production the cluster, node and RDS monitoring
    roles trust their service and carry exactly the managed policies they need, under the
    attachment names existing stacks already have."""
    plan = plans("production")
    expected = {
        "cluster-role": ("eks.amazonaws.com", {"cluster-role-cluster": "AmazonEKSClusterPolicy"}),
        "cluster-nodes": (
            "ec2.amazonaws.com",
            {
                f"cluster-nodes-{p}": p
                for p in (
                    "AmazonEKSWorkerNodePolicy",
                    "AmazonEKS_CNI_Policy",
                    "AmazonEC2ContainerRegistryReadOnly",
                )
            },
        ),
        "database-monitoring": (
            "monitoring.rds.amazonaws.com",
            {"database-monitoring": "service-role/AmazonRDSEnhancedMonitoringRole"},
        ),
    }
    for role, (service, policies) in expected.items():
        trust = json.loads(only(plan, ROLE, role).props["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": service}, role
        attached = {
            a.name: a.props["policyArn"]
            for a in of_type(plan, ATTACHMENT)
            if a.props.get("role") == role
        }
        assert attached == {n: MANAGED_POLICY + p for n, p in policies.items()}, role
