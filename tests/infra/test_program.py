"""The program's entry path (engine config -> settings -> declare) and its outputs.

The Pulumi engine is mocked with pulumi.runtime.set_mocks; the real stack files are loaded
by the tests and given to the engine with pulumi.runtime.set_all_config.
"""

from __future__ import annotations

import contextvars
from typing import Any

import pulumi
import pytest

from infra.bluegreen import doubled
from infra.offline import RecordingMocks, engine_config
from infra.program import declare, read_settings
from stackspec.stackfile import PROJECT, StackFileError


def _in_engine(stack: str, config: dict[str, str], fn: Any) -> Any:
    def go() -> Any:
        pulumi.runtime.set_mocks(RecordingMocks(), project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config(config)
        return fn()

    return contextvars.Context().run(go)


def test_settings_come_from_engine_config() -> None:
    """Engine mocked with set_mocks: the stack file's keys, as engine config, validate."""
    settings = _in_engine("production", engine_config("production"), read_settings)
    assert settings.database.read_replicas == 2
    assert settings.substrate == "aws"


def test_bad_engine_config_names_file_and_key() -> None:
    """Engine mocked with set_mocks: a bad value gives the runbooks' StackFileError."""
    config = engine_config("staging")
    config[f"{PROJECT}:database"] = '{"instanceClass": "huge"}'
    expected = r"(?s)stacks/Pulumi.staging.yaml.*database.instanceClass"
    with pytest.raises(StackFileError, match=expected):
        _in_engine("staging", config, read_settings)


def test_stack_outputs_name_what_the_runbooks_address() -> None:
    """Engine mocked with set_mocks: exported names per service, and the database endpoint."""
    seen: dict[str, Any] = {}

    def program() -> None:
        settings = read_settings()

        def body() -> pulumi.Output[None]:
            declare(settings)
            stack = pulumi.runtime.get_root_resource()
            assert stack is not None
            outputs = stack.outputs  # type: ignore[attr-defined]
            return pulumi.Output.from_input(outputs).apply(seen.update)

        pulumi.runtime.test(body)()  # type: ignore[no-untyped-call]

    _in_engine("production", engine_config("production"), program)
    api = seen["services"]["trading-api"]
    assert api["deployments"] == {"blue": "trading-api-blue", "green": "trading-api-green"}
    assert (api["stable"], api["preview"], api["route"]) == (
        "trading-api",
        "trading-api-preview",
        "trading-api",
    )
    assert seen["services"]["market-data"]["route"] is None
    assert seen["database"]["writerEndpoint"] == "database-writer.mock.rds.amazonaws.com:5432"
    assert len(seen["database"]["readerEndpoints"]) == 2
    # The writer instance's identifier, which the db-migration step snapshots on aws stacks
    # (the mocks give an RDS instance its resource name as identifier: infra.offline).
    assert seen["database"]["writerIdentifier"] == "database-writer"
    assert seen["substrate"] == "aws"
    assert seen["streaming"]["bootstrapBrokers"].endswith(":9098")  # IAM listener


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("250m", "500m"),
        ("1", "2"),
        ("1Gi", "2Gi"),
        ("0.5", "1"),
        ("128Mi", "256Mi"),
    ],
)
def test_limits_are_twice_the_requests(given: str, expected: str) -> None:
    """Pure: no engine involved."""
    assert doubled(given) == expected
