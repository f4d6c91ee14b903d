"""Typed configuration: dataclasses in, dataclasses out, unknown keys rejected; and the presets.

See :mod:`rnnkit.config.core` (building, overriding and saving configs) and
:mod:`rnnkit.config.presets` (the configs that ship with rnnkit, found by name).
"""

from rnnkit.config.core import (
    ConfigError,
    apply_overrides,
    check_one_source,
    dump_yaml,
    from_dict,
    load_yaml,
    parse_override,
    to_dict,
)
from rnnkit.config.presets import Preset, list_presets, load_source, preset_path, resolve_source

__all__ = [
    "ConfigError",
    "Preset",
    "apply_overrides",
    "check_one_source",
    "dump_yaml",
    "from_dict",
    "list_presets",
    "load_source",
    "load_yaml",
    "parse_override",
    "preset_path",
    "resolve_source",
    "to_dict",
]
