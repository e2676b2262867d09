"""The stack file is the one source of truth: valid files load, bad ones fail clearly.

Each malformed case starts from a real stack file, breaks one thing, and asserts that the
error names the file, the key path, the value found and what is allowed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackspec.model import Color, Substrate
from stackspec.stackfile import STACKS, StackFileError, load_stack, load_stack_file, stack_path

Doc = dict[str, Any]
NS = "trading-platform:"


def _cfg(doc: Doc) -> Doc:
    config: Doc = doc["config"]
    return config


def _base(stack: str = "local") -> Doc:
    loaded: Doc = yaml.safe_load(stack_path(stack).read_text())
    return loaded


def _write(tmp_path: Path, doc: Doc) -> Path:
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_file_loads(stack: str) -> None:
    settings = load_stack(stack)
    names = {s.name for s in settings.services}
    assert {"trading-api", "market-data"} <= names
    assert settings.rollout.steps[-1].weight == 100


def test_production_is_hardened_in_its_settings() -> None:
    prod = load_stack("production")
    assert prod.substrate is Substrate.AWS
    assert prod.database.multi_az and prod.database.deletion_protection
    assert prod.database.read_replicas == 2
    assert prod.database.backup_retention_days >= 14
    assert prod.cache.tls and prod.cache.replicas >= 1
    assert prod.streaming.brokers == 3 and prod.streaming.tls and prod.streaming.auth == "iam"
    assert prod.edge.https_only


def test_defaults_are_the_teams_targets() -> None:
    thresholds = load_stack("dev").rollout.thresholds
    assert thresholds.error_rate_increase_pp == 0.1
    assert thresholds.p95_latency_increase_percent == 10
    assert thresholds.availability_percent == 99.9


def test_split_defaults_to_the_active_color() -> None:
    svc = load_stack("local").service("trading-api")
    assert svc.active_color is Color.BLUE
    assert (svc.split.blue, svc.split.green) == (100, 0)


def _set(path: list[Any], value: Any, stack: str = "local") -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        node: Any = _cfg(doc)
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        node: Any = _cfg(doc)
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


S0 = [NS + "services", 0]

# (case id, mutation, key path in the error, fragment of the "allowed" text)
MALFORMED: list[tuple[str, Callable[[Doc], None], str, str]] = [
    ("port-wrong-type", _set([*S0, "port"], "eighty"), "services[0].port", "valid integer"),
    ("port-out-of-range", _set([*S0, "port"], 70000), "services[0].port", "<= 65535"),
    ("unknown-key-in-service", _set([*S0, "replica"], 3), "services[0].replica", "unknown key"),
    ("unknown-top-level-key", _set([NS + "databse"], {}), NS + "databse", "unknown key"),
    ("wrong-namespace", _set(["trading:substrate"], "local"), "trading:substrate", "keys must be"),
    ("bad-substrate", _set([NS + "substrate"], "gke"), "substrate", "'local', 'kubernetes'"),
    ("bad-color", _set([*S0, "activeColor"], "red"), "services[0].activeColor", "'blue'"),
    (
        "step-weight-over-100",
        _set([NS + "rollout", "steps", 0, "weight"], 150),
        "rollout.steps[0].weight",
        "<= 100",
    ),
    (
        "step-weight-negative",
        _set([NS + "rollout", "steps", 0, "weight"], -5),
        "rollout.steps[0].weight",
        ">= 0",
    ),
    (
        "steps-not-ending-at-100",
        _set([NS + "rollout", "steps"], [{"weight": 10}, {"weight": 60}]),
        "rollout.steps",
        "last step must have weight 100",
    ),
    (
        "steps-not-increasing",
        _set([NS + "rollout", "steps"], [{"weight": 50}, {"weight": 20}, {"weight": 100}]),
        "rollout.steps",
        "strictly increase",
    ),
    (
        "negative-threshold",
        _set([NS + "rollout", "thresholds", "errorRateIncreasePp"], -0.5),
        "rollout.thresholds.errorRateIncreasePp",
        ">= 0",
    ),
    (
        "availability-over-100",
        _set([NS + "rollout", "thresholds", "availabilityPercent"], 101),
        "rollout.thresholds.availabilityPercent",
        "<= 100",
    ),
    ("missing-services", _delete([NS + "services"]), NS + "services", "required key is missing"),
    ("empty-services", _set([NS + "services"], []), NS + "services", "at least 1"),
    (
        "plain-text-secret",
        _set([NS + "notifications", "webhookUrl"], "https://hooks.example/x"),
        "notifications.webhookUrl",
        "secret in plain text",
    ),
    ("service-name-not-dns", _set([*S0, "name"], "Trading_API"), "services[0].name", "matching"),
    (
        "unknown-consumed-topic",
        _set([NS + "services", 1, "consumes"], ["nope"]),
        "services[1].consumes",
        "unknown topic",
    ),
    (
        "split-not-100",
        _set([*S0, "weights"], {"blue": 70, "green": 20}),
        "services[0].weights",
        "must be 100",
    ),
    ("missing-substrate-section", _delete([NS + "local"]), NS + "local", "requires"),
    (
        "negative-failure-limit",
        _set([NS + "rollout", "failureLimit"], -1),
        "rollout.failureLimit",
        ">= 0",
    ),
    (
        "bool-as-string",
        _set([NS + "database", "multiAz"], "yes"),
        "database.multiAz",
        "valid boolean",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key", "allowed"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_stack_file_names_file_key_value_and_allowed(
    tmp_path: Path, mutate: Callable[[Doc], None], key: str, allowed: str
) -> None:
    # Given a real stack file with one thing broken
    doc = copy.deepcopy(_base())
    mutate(doc)
    path = _write(tmp_path, doc)
    # When it is loaded
    with pytest.raises(StackFileError) as caught:
        load_stack_file(path)
    # Then the error names the file, the key path and what is allowed
    message = str(caught.value)
    assert str(path) in message
    assert key in message, message
    assert allowed in message, message
    assert caught.value.exit_code == 2


def test_plain_text_secret_is_not_echoed(tmp_path: Path) -> None:
    doc = _base()
    _cfg(doc)[NS + "notifications"] = {"webhookUrl": "https://hooks.example/T0/SECRETTOKEN"}
    with pytest.raises(StackFileError) as caught:
        load_stack_file(_write(tmp_path, doc))
    assert "SECRETTOKEN" not in str(caught.value)


def test_missing_file_lists_the_known_stacks(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match="existing stack files"):
        load_stack("nope")


def test_unparsable_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config: [unclosed\n")
    with pytest.raises(StackFileError, match=r"\(yaml\)"):
        load_stack_file(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    doc = _base()
    _set([*S0, "port"], 0)(doc)
    _set([NS + "rollout", "failureLimit"], -2)(doc)
    with pytest.raises(StackFileError) as caught:
        load_stack_file(_write(tmp_path, doc))
    assert len(caught.value.problems) == 2
