"""Presets: ready-to-run configs that ship inside the package (``rnnkit/presets/*.yaml``).

A preset is found by name (``forecast-airline``) from an installed wheel as from a source
checkout; :func:`load_source` takes a name or a path to your own YAML file. Each preset opens
with comment lines: the first says what it trains, the rest how its settings were chosen.

    rnnkit presets                               # the list, one line each
    rnnkit train forecast-airline                # by name
    rnnkit train my-config.yaml                  # or your file
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rnnkit.config.core import ConfigError, load_yaml

SUFFIX = ".yaml"


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    description: str  # the first comment line


def folder() -> Path:
    """Where the presets are installed (package data of ``rnnkit``)."""
    return Path(str(resources.files("rnnkit") / "presets"))


def _description(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def list_presets() -> list[Preset]:
    """Every preset, sorted by name."""
    return [Preset(p.stem, p, _description(p)) for p in sorted(folder().glob(f"*{SUFFIX}"))]


def preset_path(name: str) -> Path:
    """The file of the preset called ``name``; an unknown name lists the known ones."""
    path = folder() / f"{name}{SUFFIX}"
    if not path.is_file():
        known = ", ".join(p.name for p in list_presets())
        raise ConfigError(f"{name!r}: no such preset or config file; expected a path to a YAML file or one of: "
                          f"{known} (rnnkit presets lists them)")
    return path


def resolve_source(source: str | Path) -> Path:
    """A config file: ``source`` itself when it names a file (or looks like a path), else the preset of that name."""
    path = Path(source)
    if path.exists() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path  # load_yaml says what is wrong with it: missing, a folder, a device, too large
    return preset_path(str(source))


def load_source(source: str | Path) -> dict[str, Any]:
    """The plain config data of a preset name or a YAML file (see :func:`resolve_source`)."""
    return load_yaml(resolve_source(source))
