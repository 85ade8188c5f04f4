"""YAML files read with the line of every value, so that validation errors can name them.

Config files and watchlists are untrusted input: a user must be told every mistake at
once, with the file, the line and the field, and never shown a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.core.errors import ConfigError

if TYPE_CHECKING:  # a type only: `wirewatch health` reads YAML without pydantic
    from pydantic import ValidationError

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed YAML file: its data and the 1-based line of each value by location."""

    path: Path
    data: Any
    lines: dict[Loc, int]

    def line_of(self, loc: Iterable[str | int]) -> int | None:
        """The line of the deepest known value on `loc` (an error's path into the data)."""
        parts = tuple(loc)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)

    def describe(self, error: ValidationError, within: Loc = ()) -> list[str]:
        """Each pydantic error as `file:line: field: message`, in line order (`within`: where
        in the file the validated value sits, when it is not the whole file).

        Pydantic names the union member in an error's location (`AliasModel`,
        `constrained-str`); those parts are dropped, and where one value failed several
        members, the "wrong type" errors give way to the member that fits its type.
        """
        by_loc: dict[Loc, list[tuple[str, str]]] = {}
        for err in error.errors():
            loc = self._data_loc((*within, *err["loc"]))
            by_loc.setdefault(loc, []).append((err["type"], err["msg"]))
        problems: list[tuple[int, str]] = []
        for loc, errors in by_loc.items():
            specific = [e for e in errors if e[0] not in _TYPE_MISMATCH] or errors
            deeper = any(other[: len(loc)] == loc and other != loc for other in by_loc)
            if deeper and all(kind in _TYPE_MISMATCH for kind, _ in specific):
                continue  # another union member got further into this value
            line = self.line_of(loc)
            where = f"{self.path}:{line}" if line else str(self.path)
            field = ".".join(str(p) for p in loc) or "(top level)"
            for kind, message in specific:
                problems.append((line or 0, f"{where}: {field}: {_friendly(kind, message)}"))
        return [text for _, text in sorted(problems, key=lambda p: p[0])]

    def _data_loc(self, loc: tuple[str | int, ...]) -> Loc:
        """The location in the data, without pydantic's union member names."""
        kept: list[str | int] = []
        for part in loc:
            candidate = (*kept, part)
            if isinstance(part, int) or candidate in self.lines or part not in _MEMBER_NAMES:
                kept.append(part)
        return tuple(kept)


_TYPE_MISMATCH = {"string_type", "model_type", "dict_type", "list_type", "int_type", "float_type"}
_MEMBER_NAMES = {
    "str",
    "int",
    "float",
    "constrained-str",
    "AliasModel",
    "RuleModel",
    "lax-or-strict",
}


def _friendly(kind: str, message: str) -> str:
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("model_type", "dict_type"):
        return "expected a mapping (key: value lines)"
    if kind == "value_error":  # our validators' own words, without pydantic's label
        return message.removeprefix("Value error, ")
    return message


def load_yaml(path: Path) -> YamlDocument:
    """Parse `path`; a syntax error becomes a ConfigError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from exc
    lines: dict[Loc, int] = {}
    try:
        data = _construct(loader, node, (), lines) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML value: {exc}"]) from exc
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, lines=lines)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    """Build plain Python data from a composed node, recording each value's line."""
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*loc, key if isinstance(key, (str, int)) else str(key))
            out[key] = _construct(loader, value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1  # errors point at the key's line
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, c, (*loc, i), lines) for i, c in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_config_file(path: Path) -> tuple[YamlDocument, dict[Any, Any]]:
    """The config file at `path` and its top-level mapping (empty for an empty file);
    ConfigError when it is missing, unreadable, not YAML or not a mapping."""
    if not path.exists():
        raise ConfigError([f"{path}: config file not found"])
    doc = load_yaml(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config file must be a mapping of settings"])
    return doc, data
