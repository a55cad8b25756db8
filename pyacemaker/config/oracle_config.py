"""The ``oracle:`` section: a base settings model each oracle plugin subclasses, chosen by ``type``."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, SerializeAsAny

from pyacemaker.config.base import Strict
from pyacemaker.plugins import ORACLES


class OracleSettings(Strict):
    """Base of every oracle plugin's settings model (``oracle:`` in the config). A plugin module subclasses it
    with its own fields and ``type: Literal["name"]``, and registers it as its Oracle class's ``settings_model``
    (:data:`pyacemaker.plugins.ORACLES`); the config dispatches by ``type`` without knowing the plugins."""

    type: str
    supported_elements: ClassVar[tuple[str, ...] | None] = None
    """The elements the oracle can label (None: any)."""
    cost: ClassVar[Literal["cheap", "dft"]] = "dft"
    """What a label costs: DFT-sized defaults (small seed cells, no phonons in the gate) or cheap ones."""
    title: ClassVar[str | None] = None
    """The oracle's name in messages (default: its type)."""
    surrogate: ClassVar[bool] = False
    """A machine-learned model that labels in batches and can be fine-tuned (``surrogate.model`` may name it)."""

    def check_elements(self, elements: list[str]) -> None:
        """Raise ValueError naming the elements this oracle cannot label (before anything is labelled)."""
        if self.supported_elements is None:
            return
        bad = [e for e in elements if e not in self.supported_elements]
        if bad:
            name = self.title or self.type
            other = "a DFT oracle" if self.cost == "cheap" else "another oracle"
            raise ValueError(
                f"the {name} oracle has no parameters for {', '.join(bad)}; "
                f"{name} covers {' '.join(self.supported_elements)} (use {other} for other elements)"
            )

    def resolve(self, elements: list[str]) -> tuple[OracleSettings, dict[str, str]]:
        """These settings with every derived value filled for ``elements``, and a note per derived key (without
        the ``oracle.`` prefix). A ValueError raised here reaches the user as a config error."""
        return self.model_copy(deep=True), {}


def oracle_settings_model(type_name: Any) -> type[OracleSettings]:
    """The settings model of the oracle plugin registered as ``type_name`` (ValueError listing the known ones)."""
    if type_name is None:
        raise ValueError(f"give the oracle's type, one of: {', '.join(ORACLES.names())}")
    try:
        plugin = ORACLES.get_plugin(str(type_name))
    except KeyError:
        raise ValueError(f"unknown type {type_name!r}; known: {', '.join(ORACLES.names())}") from None
    return plugin.settings_model


def _oracle_settings(v: Any) -> Any:
    """A mapping becomes its plugin's settings model (errors keep their location, e.g. ``oracle.ecutwfc``)."""
    if isinstance(v, dict):
        return oracle_settings_model(v.get("type")).model_validate(v)
    return v


OracleConfig = Annotated[SerializeAsAny[OracleSettings], BeforeValidator(_oracle_settings)]
"""The ``oracle:`` section: validated by the settings model its ``type`` names, dumped with all of its fields."""
