"""The traffic router that routes nothing: it remembers the weights it was given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbooks.core.model import Color, Weights

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


class NopRouter:
    """Keeps each service's weights in memory; a service never set is all on `initial`."""

    def __init__(self, initial: Color = Color.BLUE) -> None:
        self._initial = Weights.all_on(Color(initial))
        self._weights: dict[str, Weights] = {}

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> NopRouter:
        """A nop router (nothing of the stack is needed)."""
        return cls()

    def set_weights(self, service: str, weights: Weights) -> None:
        """Remember `weights` for `service`."""
        self._weights[service] = weights

    def get_weights(self, service: str) -> Weights:
        """The weights last set for `service`, else all on the initial color."""
        return self._weights.get(service, self._initial)
