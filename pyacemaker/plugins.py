"""Plugin registries: oracles, builders, selectors and MD engines register by name with a decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Registry(dict[str, Any]):
    """A named set of plugins; ``@registry.register("name")`` adds one, ``registry.get_plugin`` finds it."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self[name] = obj
            return obj

        return deco

    def get_plugin(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self)) or 'none'}"
            ) from None


ORACLES = Registry("oracle")
