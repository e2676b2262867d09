"""A real `pulumi preview/up` of a stack runs only with the policy pack and the stack's config.

Pulumi reads no local policy pack from `Pulumi.yaml` (pulumi/pulumi#5541): a bare
`pulumi up` would deploy production unchecked. `scripts/deploy` passes the pack and exports
`TRADING_POLICY_PACK_CONFIG` (the config file it passed); the program's entry point
(`infra/__main__.py`, which the offline plans never run) calls `require_policy_pack` and
refuses to declare anything without it. Setting the variable by hand is a deliberate
bypass, not something forgotten.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from stackspec.errors import BadInput
from stackspec.stackfile import PACK_CONFIG_DIR

ENV = "TRADING_POLICY_PACK_CONFIG"
LOCAL = "local"
CONFIG_DIR = PACK_CONFIG_DIR


class PolicyPackMissing(BadInput):
    """The stack is being deployed without its policy pack; says how to deploy instead."""


def require_policy_pack(stack: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise PolicyPackMissing unless this run was started with `stack`'s pack config."""
    if stack == LOCAL:
        return  # not deployed by Pulumi: the program refuses it with its own message
    env = os.environ if environ is None else environ
    expected = (CONFIG_DIR / f"{stack}.json").resolve()
    given = env.get(ENV)
    if given and Path(given).resolve() == expected:
        return
    found = f"{ENV}={given}" if given else f"{ENV} unset"
    raise PolicyPackMissing(
        f"stack {stack} deploys only with its policy pack ({found}; expected {expected}): "
        f"run `scripts/deploy {stack} [preview|up]` (or `make deploy STACK={stack}`), which "
        "passes --policy-pack policy and --policy-pack-config for the stack"
    )
