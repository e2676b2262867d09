"""One registry shape for every plug-in area: explicit names, unknown names rejected.

Each backend is registered as a factory: `create(name, **options)` calls it with explicit
options (tests, benchmarks); `from_stack(name, settings, outputs)` calls its `from_stack`
attribute, which builds it from the stack's settings and outputs (the engine's way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from stackspec.errors import UnknownName

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Factory(Generic[T]):
    """A backend registered as two functions instead of a class with `from_stack`."""

    create: Callable[..., T]
    from_stack: Callable[[StackSettings, StackOutputs], T]

    def __call__(self, **options: Any) -> T:
        return self.create(**options)


class Registry(Generic[T]):
    """Maps backend names to factories for one plug-in area (routers, metrics, ...)."""

    def __init__(self, area: str, factories: Mapping[str, Callable[..., T]]) -> None:
        self.area = area
        self._factories = dict(factories)

    def names(self) -> list[str]:
        """The backends this registry knows, sorted."""
        return sorted(self._factories)

    def create(self, name: str, **options: Any) -> T:
        """Build backend `name` from explicit options; raises UnknownName listing the names."""
        return self._factory(name)(**options)

    def from_stack(self, name: str, settings: StackSettings, outputs: StackOutputs) -> T:
        """Build backend `name` for a stack; BadInput names a missing setting or output."""
        build: Callable[[StackSettings, StackOutputs], T] = self._factory(name).from_stack  # type: ignore[attr-defined]
        return build(settings, outputs)

    def _factory(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownName(self.area, name, self.names()) from None
