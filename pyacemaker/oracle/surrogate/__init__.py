"""Surrogate oracles: machine-learned models that label whole batches at once and can be fine-tuned on another
oracle's labels (``workflow: distill``). Their labels carry their own settings identity (model, version, weights'
sha256), so they never mix with the oracle's in one training set unless a fit asks for both by name."""

from pyacemaker.oracle.surrogate.base import (
    FineTuned,
    SurrogateOracle,
    SurrogateSettings,
    label_in_chunks,
    surrogate_errors,
)

__all__ = ["FineTuned", "SurrogateOracle", "SurrogateSettings", "label_in_chunks", "surrogate_errors"]
