"""The trading platform's policy pack. `PolicyPack` serves and never returns: keep it here.

Every policy is mandatory unless the stack's pack config (policy/config/<stack>.json, passed
by scripts/deploy) relaxes it: forgetting the config can only make the pack stricter.
"""

import sys
from pathlib import Path

# The pack runs from policy/; the rules live in the project's `infra` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policies import policies

PolicyPack(
    name="trading-platform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
