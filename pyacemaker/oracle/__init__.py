"""Oracles: plugins that label structures. Each plugin module (EMT, Quantum ESPRESSO, VASP here) defines its
settings model (the config's ``oracle:`` section) and its Oracle class, registered in ``pyacemaker.plugins.ORACLES``."""

from pyacemaker.oracle.base import Oracle, OracleFailure, label, make_oracle
from pyacemaker.oracle.calculator import OracleCalculator

__all__ = ["Oracle", "OracleCalculator", "OracleFailure", "label", "make_oracle"]
