"""Entry point Pulumi runs (`main: infra/`): read the stack's settings, declare the stack."""

from infra.program import run

run()
