"""One registry shape for every plug-in area: explicit names, unknown names rejected."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from runbooks.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps backend names to factories for one plug-in area (routers, metrics, ...)."""

    def __init__(self, area: str, factories: Mapping[str, Callable[..., T]]) -> None:
        self.area = area
        self._factories = dict(factories)

    def names(self) -> list[str]:
        """The backends this registry knows, sorted."""
        return sorted(self._factories)

    def create(self, name: str, **options: Any) -> T:
        """Build backend `name`; raises UnknownName listing the valid names."""
        try:
            factory = self._factories[name]
        except KeyError:
            raise UnknownName(self.area, name, self.names()) from None
        return factory(**options)
