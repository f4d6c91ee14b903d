"""Typed configuration: dataclasses in, dataclasses out, unknown keys rejected.

Each component owns its defaults in a dataclass; configs compose by nesting dataclasses.
:func:`from_dict` builds one from plain data (a YAML file, a dict) and checks every key and
value against the field types; :func:`apply_overrides` changes values by dotted path
(``--set train.optimizer.lr=3e-4``); :func:`to_dict` gives plain data back, to save as the
resolved config of a run.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union

import yaml

from rnnkit.files import InputError, read_text, write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key or value that does not fit its schema."""


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    if origin in (list, tuple):
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _convert(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
        item = typing.get_args(tp)[0]
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # no setting means "infinite": that is what null is for
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{where}: no rule for type {tp!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; every key must be a field, every value must fit.

    A section given in part starts from its owner's default for it: with
    ``train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000))``,
    ``{"train": {"batch_size": 8}}`` keeps ``steps=2000`` (and every other default of that
    owner), not ``TrainConfig``'s own.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key; expected one of {sorted(fields)}")
    values = {}
    for name, value in data.items():
        default = _default_of(fields[name])
        if isinstance(value, Mapping) and dataclasses.is_dataclass(default):
            value = _merged(to_dict(default), value)
        values[name] = _convert(value, hints[name], f"{where}.{name}" if where else name)
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {error}") from error


def _default_of(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def _merged(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` laid over ``base``, section by section (a key of ``update`` not in ``base`` is kept,
    so that :func:`from_dict` can reject it by name)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
            else value
    return out


def check_one_source(section: str, name: Any, path: Any) -> None:
    """A data section names either a bundled data set or the user's own file, never both or neither."""
    if (name is None) == (path is None):
        raise ValueError(f"{section}: expected exactly one of name and path, got name={name!r}, path={path!r}")


def to_dict(config: Any) -> dict[str, Any]:
    """Plain data (dicts, lists, scalars) for a dataclass config; tuples become lists."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> (["a", "b"], value parsed as YAML: 3e-4, true, [1, 2], null, text)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.optimizer.lr=3e-4")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if not all(path):
        raise ConfigError(f"--set {text!r}: expected a dotted key such as train.steps")
    try:
        value = parse_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key.strip()}: the value is not valid YAML: {error}") from None
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads "3e-4" as a string; it is a number here
    return path, value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def apply_overrides(cls: type, data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each ``a.b=value`` in a copy of ``data``, checking the path against ``cls``'s fields."""
    data = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node, schema, where = data, cls, ""
        for depth, key in enumerate(path):
            hints = typing.get_type_hints(schema)
            fields = [f.name for f in dataclasses.fields(schema) if f.init]
            where = f"{where}.{key}" if where else key
            if key not in fields:
                raise ConfigError(f"--set {where}: unknown key; expected one of {sorted(fields)}")
            if depth == len(path) - 1:
                node[key] = value
                break
            schema = _dataclass_in(hints[key])
            if schema is None:
                raise ConfigError(f"--set {'.'.join(path)}: {where} is a value, not a section")
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {where}: expected a section, found {node!r}")
    return data


def _dataclass_in(tp: Any) -> type | None:
    if dataclasses.is_dataclass(tp):
        return tp
    for option in typing.get_args(tp):
        if dataclasses.is_dataclass(option):
            return option
    return None


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of settings; a larger file is a mistake (or an attack)
MAX_CONFIG_VALUES = 100_000  # values after aliases are expanded: an "alias bomb" of nested anchors is refused


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no Python objects), refusing a key given twice in one mapping (the
    later one would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, typing.Hashable) and key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (lines {first[key]} and {line}); expected each once",
                    key_node.start_mark)
            if isinstance(key, typing.Hashable):
                first[key] = line
        return super().construct_mapping(node, deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values ``node`` stands for once aliases are expanded (an alias is the same node
    object met again); an alias inside the node it names is a cycle, refused."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise yaml.composer.ComposerError(None, None, "an alias refers to a node that contains it (a cycle); "
                                          "expected plain values", node.start_mark)
    open_.add(key)
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes, open_) + _expanded_size(v, sizes, open_) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, sizes, open_) for v in node.value)
    else:
        size = 1
    open_.discard(key)
    sizes[key] = size = min(size, MAX_CONFIG_VALUES + 1)
    return size


def parse_yaml(text: str) -> Any:
    """YAML text -> plain data, safely: no Python objects, no key twice in a mapping, no alias
    cycle, at most :data:`MAX_CONFIG_VALUES` values with aliases expanded. Raises
    ``yaml.YAMLError`` (with the line) for anything else."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_CONFIG_VALUES:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {MAX_CONFIG_VALUES:,} values through its aliases (anchors "
                f"'&' used with '*'); expected a config of plain settings", node.start_mark)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a regular file of at most :data:`MAX_CONFIG_BYTES` (see
    :func:`parse_yaml`); anything else is a :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        text = read_text(path, "a config (YAML)", MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except InputError as error:
        raise ConfigError(str(error)) from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def dump_yaml(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``data`` as YAML through a temporary file and a rename."""
    return write_text(path, yaml.safe_dump(dict(data), sort_keys=False))
