"""Shared fixtures of the infra tests: the Pulumi engine is mocked with set_mocks throughout.

pulumi_aws takes ~4 s to import: it is imported once here, at collection, for the session.
Each stack's plan is computed once per session (plans are pure: same file, same plan).
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws  # noqa: F401  (imported once per session, see the docstring)
import pytest

from infra.offline import PlannedResource, plan_stack

Plan = list[PlannedResource]


@pytest.fixture(scope="session")
def plans() -> Callable[[str], Plan]:
    """`plans(stack)`: the offline plan of the real stack file, cached per session."""
    cache: dict[str, Plan] = {}

    def get(stack: str) -> Plan:
        if stack not in cache:
            cache[stack] = plan_stack(stack)
        return cache[stack]

    return get


def only(plan: Plan, type_: str, name: str) -> PlannedResource:
    """The one resource of `type_` named `name` in `plan`."""
    found = [r for r in plan if r.type == type_ and r.name == name]
    assert len(found) == 1, f"expected one {type_} {name}; got {[r.name for r in found]}"
    return found[0]


def of_type(plan: Plan, type_: str) -> list[PlannedResource]:
    """Every resource of `type_` in `plan`."""
    return [r for r in plan if r.type == type_]
