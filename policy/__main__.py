"""The trading platform's policy pack. `PolicyPack` serves and never returns: keep it here."""

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policies import resource_policies

PolicyPack(
    name="trading-platform",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=resource_policies(),
)
