"""Oracles: plugins that label structures (EMT here; DFT oracles register the same way)."""

from pyacemaker.oracle.base import Oracle, OracleFailure, label, make_oracle

__all__ = ["Oracle", "OracleFailure", "label", "make_oracle"]
