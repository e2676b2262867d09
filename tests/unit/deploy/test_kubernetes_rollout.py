"""The deployer's pure parts: when a rollout counts as available, and what it patches
(Deployments as the kubernetes client's `to_dict()` gives them)."""

from __future__ import annotations

from typing import Any

import pytest

from runbooks.deploy.kubernetes import Rollout, image_patch
from stackspec.errors import DriverError


def deployment(
    generation: int = 2,
    desired: int | None = 3,
    containers: tuple[str, ...] = ("api",),
    status: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"name": "api-green", "generation": generation, "labels": {"version": "1"}},
        "spec": {
            "replicas": desired,
            "template": {
                "metadata": {"labels": {"app": "api", "version": "1"}},
                "spec": {"containers": [{"name": c, "image": "img:1"} for c in containers]},
            },
        },
        "status": status or {},
    }


@pytest.mark.parametrize(
    ("given", "available"),
    [
        (
            {
                "observed_generation": 2,
                "replicas": 3,
                "updated_replicas": 3,
                "available_replicas": 3,
            },
            True,
        ),
        (
            {
                "observed_generation": 1,
                "replicas": 3,
                "updated_replicas": 3,
                "available_replicas": 3,
            },
            False,
        ),
        (
            {
                "observed_generation": 2,
                "replicas": 4,
                "updated_replicas": 3,
                "available_replicas": 3,
            },
            False,
        ),
        (
            {
                "observed_generation": 2,
                "replicas": 3,
                "updated_replicas": 3,
                "available_replicas": 2,
            },
            False,
        ),
        (
            {
                "observed_generation": 2,
                "replicas": 3,
                "updated_replicas": 2,
                "available_replicas": 3,
            },
            False,
        ),
        ({}, False),
    ],
    ids=["done", "not-observed", "old-pod-left", "new-pod-unready", "not-all-updated", "no-status"],
)
def test_a_rollout_is_available_only_as_kubectl_rollout_status_says(
    given: dict[str, int], available: bool
) -> None:
    assert Rollout.of(deployment(status=given)).available_now is available


def test_unset_replicas_mean_one_as_the_api_server_defaults() -> None:
    status = {
        "observed_generation": 2,
        "replicas": 1,
        "updated_replicas": 1,
        "available_replicas": 1,
    }
    assert Rollout.of(deployment(desired=None, status=status)).available_now


def test_the_patch_pins_the_container_and_sets_both_labels() -> None:
    ops = image_patch(deployment(containers=("sidecar", "api")), "api", "img:2", "2")

    assert ops == [
        {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "api"},
        {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "img:2"},
        {"op": "add", "path": "/metadata/labels/version", "value": "2"},
        {"op": "add", "path": "/spec/template/metadata/labels/version", "value": "2"},
    ]


def test_nothing_to_patch_when_image_and_labels_are_there() -> None:
    assert image_patch(deployment(), "api", "img:1", "1") == []


def test_no_container_to_choose_is_a_driver_error() -> None:
    with pytest.raises(DriverError, match=r"no container named api among \['a', 'b'\]"):
        image_patch(deployment(containers=("a", "b")), "api", "img:2", "2")
