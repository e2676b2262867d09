"""Fixtures of the gate tests. Plans come from `infra.offline.plan_stack`, which runs the
program under `pulumi.runtime.set_mocks` (a stand-in for the engine); each stack is planned
once per session, and pulumi_aws (~4 s to import) is imported once, here.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws  # noqa: F401  (imported once per session, see the docstring)
import pytest

from infra.gates.run import cached_plan
from infra.offline import PlannedResource

Plan = list[PlannedResource]


@pytest.fixture(scope="session")
def plans() -> Callable[[str], Plan]:
    """`plans(stack)`: the offline plan (under set_mocks) of the real stack file."""
    return cached_plan


def resource(type_: str, logical: str, **props: object) -> PlannedResource:
    """A hand-made plan entry, as the mocks would record it (camelCase inputs)."""
    return PlannedResource(type_, logical, dict(props))
