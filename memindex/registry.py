"""Named registries of pluggable parts, filled from entry points the way third-party plugins are."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from memindex.errors import ConfigError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Factories by name. Built-ins and plugins both come from the entry-point ``group``, loaded lazily."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> None:
        """Add a factory at run time (tests, notebooks); entry points are the usual way."""
        self._factories[name] = factory

    def names(self) -> list[str]:
        found = {ep.name for ep in entry_points(group=self.group)}
        return sorted(found | set(self._factories))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Callable[..., T]:
        if name in self._factories:
            return self._factories[name]
        for ep in entry_points(group=self.group):
            if ep.name == name:
                factory: Callable[..., T] = ep.load()
                self._factories[name] = factory
                return factory
        valid = ", ".join(self.names()) or "none installed"
        raise ConfigError(f"unknown {self.kind} {name!r}; valid names: {valid}")

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        return self.get(name)(*args, **kwargs)
