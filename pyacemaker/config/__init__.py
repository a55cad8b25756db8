"""Campaign configuration: the schema (:mod:`.schema`), reading YAML with readable errors (:mod:`.load`), and
every value a user leaves out derived from the elements with its origin (:mod:`.resolve`)."""

from pyacemaker.config.load import load_config, parse_config
from pyacemaker.config.resolve import derived_basis_size, dump_resolved, resolve
from pyacemaker.config.schema import CampaignConfig, ConfigError

__all__ = ["CampaignConfig", "ConfigError", "derived_basis_size", "dump_resolved", "load_config", "parse_config",
           "resolve"]  # fmt: skip
