"""The recorded outputs the unit tests build backends from (tests/unit/recorded/) have the
keys the program exports: the program runs under set_mocks (the stand-in for the engine)
per Pulumi stack and its stack outputs are compared, as dotted keys, with the recording."""

from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.offline import RecordingMocks, engine_config
from infra.program import declare, read_settings
from runbooks.outputs import flatten
from stackspec.stackfile import PROJECT

RECORDED = Path(__file__).parents[1] / "unit" / "recorded"


def exported(stack: str) -> dict[str, Any]:
    """The stack outputs of `stack`'s program, run under set_mocks."""
    seen: dict[str, Any] = {}

    def body() -> pulumi.Output[None]:
        declare(read_settings())
        root = pulumi.runtime.get_root_resource()
        assert root is not None
        outputs = root.outputs  # type: ignore[attr-defined]
        return pulumi.Output.from_input(outputs).apply(seen.update)

    def go() -> None:
        pulumi.runtime.set_mocks(RecordingMocks(), project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config(engine_config(stack))
        pulumi.runtime.test(body)()  # type: ignore[no-untyped-call]

    contextvars.Context().run(go)
    return seen


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_the_recorded_outputs_have_the_keys_the_program_exports(stack: str) -> None:
    recorded = json.loads((RECORDED / f"outputs.{stack}.json").read_text())

    assert set(flatten(recorded)) == set(flatten(exported(stack)))
