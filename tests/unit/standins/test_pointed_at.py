"""`pointed_at`: every boto3 client made meanwhile reaches the stand-in, whatever endpoint
settings the operator's environment carries, and the environment is restored after."""

from __future__ import annotations

import os

import boto3
import pytest

from runbooks.standins.aws import pointed_at

STAND_IN = "http://127.0.0.1:9"


def test_clients_reach_the_stand_in_and_the_environment_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production-admin")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFRONT", "https://cloudfront.amazonaws.com")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = dict(os.environ)

    with pointed_at(STAND_IN):
        assert "AWS_PROFILE" not in os.environ
        for service in ("cloudfront", "elbv2", "rds", "cloudwatch"):
            client = boto3.client(service)  # type: ignore[call-overload]
            assert client.meta.endpoint_url == STAND_IN, service
            assert client.meta.region_name == "us-east-1"

    assert dict(os.environ) == before
