"""One registry shape for every plug-in area: explicit names, unknown names rejected.

Each backend is registered as a factory: `create(name, **options)` calls it with explicit
options (tests, benchmarks); `from_stack(name, settings, outputs)` calls its `from_stack`
attribute, which builds it from the stack's settings and outputs (the engine's way).

A factory may be given as an import path, "package.module:attr": it is imported only when
that backend is built, so a registry (and the CLI that imports it) costs nothing of the
backends' libraries (pulumi, boto3, kubernetes, redis, ...) until one is used. Unknown names
are rejected without importing anything.
"""

from __future__ import annotations

import importlib
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


def resolve(path: str) -> Any:
    """The object at import path "package.module:attr"."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """Maps backend names to factories for one plug-in area (routers, metrics, ...).

    A factory given as an import path is resolved on first use and passed through `adapt`
    (name, resolved object) -> factory when one is given (steps wrap their class in a
    Factory); the result is kept.
    """

    def __init__(
        self,
        area: str,
        factories: Mapping[str, Callable[..., T] | str],
        adapt: Callable[[str, Any], Callable[..., T]] | None = None,
    ) -> None:
        self.area = area
        self._factories = dict(factories)
        self._adapt = adapt

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
            factory = self._factories[name]
        except KeyError:
            raise UnknownName(self.area, name, self.names()) from None
        if isinstance(factory, str):
            loaded = resolve(factory)
            factory = self._adapt(name, loaded) if self._adapt is not None else loaded
            self._factories[name] = factory
        return factory
