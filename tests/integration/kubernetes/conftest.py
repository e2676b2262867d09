"""The Kubernetes API stand-in (runbooks/standins/kube_api.py) and the real `kubernetes` client
pointed at it: no Kubernetes API server can run here."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
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


def kill_once(worker: subprocess.Popen[bytes], ready: Callable[[], bool], doing: str) -> None:
    """SIGKILL `worker` as soon as `ready()` holds (30 s at most); fail naming `doing` if it
    ends first or never gets there. The worker is always reaped."""
    try:
        deadline = time.monotonic() + 30
        while not ready():
            assert worker.poll() is None, f"the worker ended before it was killed ({doing})"
            assert time.monotonic() < deadline, f"the worker never got to {doing}"
            time.sleep(0.02)  # polling the stand-in's request log, not synchronising
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()  # an assertion above failed: do not leave it running
        worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
