"""Entry point Pulumi runs (`main: infra/`): read the stack's settings, declare the stack."""

import pulumi

from infra.deploygate import require_policy_pack
from infra.program import run

require_policy_pack(pulumi.get_stack())  # only via scripts/deploy: the pack always runs
run()
