"""YAML files read with the line of every value, so that validation errors can name them.

Config files and watchlists are untrusted input: a user must be told every mistake at
once, with the file, the line and the field, and never shown a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

Loc = tuple[str | int, ...]


class SourceError(Exception):
    """One or more problems in a user-written file; `problems` are ready to print."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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

    def describe(self, error: ValidationError) -> list[str]:
        """Each pydantic error as `file:line: field: message`."""
        problems: list[tuple[int, str]] = []
        for err in error.errors():
            loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
            line = self.line_of(loc)
            where = f"{self.path}:{line}" if line else str(self.path)
            field = ".".join(str(p) for p in loc) or "(top level)"
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            elif err["type"] in ("model_type", "dict_type"):
                message = "expected a mapping (key: value lines)"
            problems.append((line or 0, f"{where}: {field}: {message}"))
        return [text for _, text in sorted(problems, key=lambda p: p[0])]


def _is_union_tag(part: str | int) -> bool:
    """Pydantic adds the union member's type name to a location; it is noise to a user."""
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float"})


def load_yaml(path: Path) -> YamlDocument:
    """Parse `path`; a syntax error becomes a SourceError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError([f"{path}: cannot read: {exc}"]) from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError([f"{where}: invalid YAML: {problem}"]) from exc
    lines: dict[Loc, int] = {}
    try:
        data = _construct(loader, node, (), lines) if node is not None else None
    except yaml.YAMLError as exc:
        raise SourceError([f"{path}: invalid YAML value: {exc}"]) from exc
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
