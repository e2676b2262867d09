"""A release step that changes nothing, so the engine never branches on "is there a step?"."""

from __future__ import annotations

from runbooks.steps.base import NoContract, StepContext, StepOutcome


class NopStep(NoContract):
    """Does nothing and always succeeds."""

    name = "nop"

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Nothing to apply."""
        return StepOutcome.success(self.name, f"nothing to do for {ctx.service} {ctx.version}")

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Nothing to undo."""
        return StepOutcome.success(self.name, "nothing to undo")

    def verify(self, ctx: StepContext) -> StepOutcome:
        """Nothing to check."""
        return StepOutcome.success(self.name, "nothing to verify")
