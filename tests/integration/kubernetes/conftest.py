"""The Kubernetes API stand-in (runbooks/standins/kube_api.py) and the real `kubernetes` client
pointed at it: no Kubernetes API server can run here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from runbooks.standins.kube_api import KubeApiStandIn

NAMESPACE = "trading"
SERVICE = "trading-api"
IMAGE = "ghcr.io/acme/trading-api"
ROUTES = ("gateway.networking.k8s.io", "v1", NAMESPACE, "httproutes")


@pytest.fixture
def kube() -> Iterator[KubeApiStandIn]:
    with KubeApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def api_client(kube: KubeApiStandIn) -> Iterator[Any]:
    with client.ApiClient(kube.configuration()) as api:
        yield api
