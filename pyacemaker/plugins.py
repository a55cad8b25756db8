"""Plugin registries: oracles, exploration drivers, selectors, validators, structure builders register by name.

A plugin is one module that registers itself with a decorator (``@DRIVERS.register("md-ase")``). The built-in
plugin modules are listed with their registry and imported the first time the registry is asked for a name, so
nothing here imports pyacemaker's higher layers at import time, and the config can check a plugin name it is
given (``oracle.type``, a condition's ``driver``, ``select.method``, ``validation.properties``) without knowing
the plugins. A third-party package adds plugins by importing the registry and decorating its own classes; its
module must be imported before the campaign runs (list it in ``PYACEMAKER_PLUGINS``, comma-separated).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Registry(dict[str, Any]):
    """A named set of plugins; ``@registry.register("name")`` adds one, ``registry.get_plugin`` finds it."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = ()):
        super().__init__()
        self.kind = kind
        self.builtins = builtins
        self._loaded = False

    def load(self) -> Registry:
        """Import the built-in plugin modules (and those named in ``PYACEMAKER_PLUGINS``) once."""
        if not self._loaded:
            self._loaded = True
            extra = [m.strip() for m in os.environ.get("PYACEMAKER_PLUGINS", "").split(",") if m.strip()]
            for module in (*self.builtins, *extra):
                importlib.import_module(module)
        return self

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self[name] = obj
            return obj

        return deco

    def get_plugin(self, name: str) -> Any:
        self.load()
        try:
            return self[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or 'none'}"
            ) from None

    def names(self) -> list[str]:
        """Registered names: the built-ins in the order their modules are listed, then the others as registered
        (stable, whichever module happened to be imported first)."""
        self.load()
        rank = {m: i for i, m in enumerate(self.builtins)}
        order = list(self)
        return sorted(self, key=lambda n: (rank.get(_module_of(self[n]), len(rank)), order.index(n)))


def _module_of(plugin: Any) -> str:
    """The module that defines a plugin (a class, a function, or an object holding the plugin's functions)."""
    if isinstance(plugin, type) or inspect.isfunction(plugin):
        return plugin.__module__
    for value in getattr(plugin, "__dict__", {}).values():
        if inspect.isfunction(value):
            return value.__module__
    return type(plugin).__module__


ORACLES = Registry(
    "oracle",
    ("pyacemaker.oracle.emt", "pyacemaker.oracle.espresso.oracle", "pyacemaker.oracle.vasp",
     "pyacemaker.oracle.surrogate.chgnet", "pyacemaker.oracle.surrogate.mace"),
)  # fmt: skip
"""Oracles: classes that label structures (:class:`pyacemaker.oracle.base.Oracle`)."""

DRIVERS = Registry(
    "exploration driver",
    ("pyacemaker.explore.md.ase_md", "pyacemaker.explore.md.lammps_md", "pyacemaker.explore.kmc.akmc",
     "pyacemaker.explore.kmc.eon"),
)  # fmt: skip
"""Exploration drivers: functions that run one condition and return an outcome (:mod:`pyacemaker.explore`)."""

SELECTORS = Registry("selector", ("pyacemaker.select.selectors",))
"""Selectors: functions that choose the structures to label from a candidate pool."""

VALIDATORS = Registry(
    "validated property",
    ("pyacemaker.validate.eos", "pyacemaker.validate.elastic", "pyacemaker.validate.phonons",
     "pyacemaker.validate.stability"),
)  # fmt: skip
"""Validators: properties the quality gate computes and compares with the oracle (:mod:`pyacemaker.validate`)."""

BUILDERS = Registry("structure builder", ("pyacemaker.structures.builders",))
TRANSFORMS = Registry("structure transform", ("pyacemaker.structures.builders",))
"""Structure builders (new cells) and transforms (cell -> cell) of :mod:`pyacemaker.structures.builders`."""
