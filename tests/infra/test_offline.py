"""What the offline plan masks: secret values only, never the settings and references that
merely have "token" or "secret" in their names. Plans run the program with the Pulumi
engine mocked by set_mocks."""

from __future__ import annotations

import json
from collections.abc import Callable

from infra.offline import SECRET_SIG, SECRET_SIG_VALUE, mask_inputs
from stackspec.stackfile import SECRET_MASK
from tests.infra.conftest import Plan, of_type, only


def test_secret_bearing_keys_are_masked_references_are_not() -> None:
    """No engine: exact secret keys are masked; look-alike settings and references are not."""
    inputs = {
        "masterPassword": "hunter2",
        "authToken": "t0k3n",
        "secretString": "s3cr3t",
        "spec": {"password": "p", "token": "t"},
        "metadataOptions": {"httpTokens": "required"},
        "volume": {"secret": {"secretName": "db-credentials"}},
        "envFrom": [{"secretRef": {"name": "api-data-credentials"}}],
        "secretId": "cache-auth-token-id",
        "authTokenUpdateStrategy": "ROTATE",
        "masterUserSecretKmsKeyId": "arn:aws:kms:us-east-1:000000000000:key/k",
        "other": {SECRET_SIG: SECRET_SIG_VALUE, "value": "anything"},
    }
    masked = mask_inputs("aws:any/resource:Resource", inputs)
    for key in ("masterPassword", "authToken", "secretString", "other"):
        assert masked[key] == SECRET_MASK, key
    assert masked["spec"] == {"password": SECRET_MASK, "token": SECRET_MASK}
    for key in ("metadataOptions", "volume", "envFrom", "secretId", "authTokenUpdateStrategy"):
        assert masked[key] == inputs[key], key
    assert masked["masterUserSecretKmsKeyId"] == inputs["masterUserSecretKmsKeyId"]


def test_kubernetes_secret_data_is_masked_whatever_its_keys() -> None:
    """No engine: a Kubernetes Secret's data and stringData values are all masked, in plain
    text too; the same keys elsewhere (a ConfigMap's data) are shown."""
    inputs = {
        "metadata": {"name": "creds"},
        "data": {"DSN": "cG9zdGdyZXM="},
        "stringData": {"x": "y"},
    }
    masked = mask_inputs("kubernetes:core/v1:Secret", inputs)
    assert masked == {
        "metadata": {"name": "creds"},
        "data": {"DSN": SECRET_MASK},
        "stringData": {"x": SECRET_MASK},
    }
    config = mask_inputs("kubernetes:core/v1:ConfigMap", {"data": {"config.yaml": "a: 1"}})
    assert config == {"data": {"config.yaml": "a: 1"}}


def test_plans_show_settings_and_hide_secrets(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: production's plan shows IMDSv2's httpTokens and the
    credentials Secret's name; no plan holds a generated password or the Redis token."""
    production = plans("production")
    template = only(production, "aws:ec2/launchTemplate:LaunchTemplate", "cluster-nodes")
    assert template.props["metadataOptions"]["httpTokens"] == "required"
    redis = of_type(production, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis and all(r.props["authToken"] == SECRET_MASK for r in redis)
    dev = plans("dev")
    statefulset = only(dev, "kubernetes:apps/v1:StatefulSet", "database-statefulset")
    volumes = statefulset.props["spec"]["template"]["spec"]["volumes"]
    assert {v["secret"]["secretName"] for v in volumes if "secret" in v} == {"database-credentials"}
    for stack_plan in (production, plans("staging"), dev):
        text = json.dumps([r.props for r in stack_plan], default=str)
        assert "mock-password" not in text
