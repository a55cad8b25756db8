"""What every config section shares: strict models (unknown keys are errors) and plugin-name checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pyacemaker.plugins import Registry


class ConfigError(ValueError):
    """A configuration problem, phrased for the user (the CLI prints it and exits with code 2)."""


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def one_of(value: str, choices: list[str]) -> str:
    """``value`` if it is one of ``choices``; else pydantic's own message for a literal ("Input should be ...")."""
    if value not in choices:
        quoted = [repr(c) for c in choices]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise ValueError(f"Input should be {listed}")
    return value


def plugin_name(value: str, registry: Registry) -> str:
    """A plugin name checked against its registry (whose modules are imported only for a name not yet known);
    the choices are listed in registration order, built-ins first."""
    return value if value in registry else one_of(value, registry.names())
