"""YAML files read with the line of every value, so that validation errors can name them.

Config files and watchlists are untrusted input: a user must be told every mistake at
once, with the file, the line and the field, and never shown a traceback. Reading one
is bounded, whatever the file holds:

- a file is at most `MAX_FILE_BYTES` (1 MiB, three times a config file of five thousand
  feeds), which bounds the time the parser may take;
- values nest at most `MAX_DEPTH` levels deep (a mapping or a list is one level),
  aliases included, so that no reader recurses without end;
- aliases may repeat at most `ALIAS_BUDGET` values in all (a mapping, a list and a
  scalar each count one), so that a "billion laughs" file is refused, not expanded:
  what a file builds is at most its own values plus that budget;
- a key is a plain scalar, and appears once in its mapping (a second one is an error at
  its line, naming the first's); merge keys (`<<`) are not supported;
- a value YAML cannot build (`!!timestamp 2001-13-45`, an unknown tag, a number of
  more than `MAX_NUMBER_BITS` bits) is an error at its line, as is a character YAML
  does not allow (a NUL byte).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import yaml

from bot.core.errors import ConfigError

if TYPE_CHECKING:  # types only: `wirewatch health` reads YAML without pydantic
    from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
Model = TypeVar("Model", bound="BaseModel")

MAX_FILE_BYTES = 1024**2
MAX_DEPTH = 50
ALIAS_BUDGET = 10_000
MAX_NUMBER_BITS = 128  # about 38 digits: more than any setting or id needs
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"
_KINDS = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date or time",
    "tag:yaml.org,2002:binary": "base64 data",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:null": "null",
}


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed YAML file: its data, the 1-based line of each value by location, and the
    problems found while reading it (`(line, text)`; a value with a problem is None in
    `data` and its location is in `broken`)."""

    path: Path
    data: Any
    lines: dict[Loc, int]
    problems: tuple[tuple[int, str], ...] = ()
    broken: frozenset[Loc] = field(default=frozenset())
    values: int = 0  # how many values were built, aliases expanded

    def line_of(self, loc: Iterable[str | int]) -> int | None:
        """The line of the deepest known value on `loc` (an error's path into the data)."""
        parts = tuple(loc)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)

    def validate(self, model: type[Model], context: dict[str, Any] | None = None) -> Model:
        """`data` as a `model` (validators see `context`); raises ConfigError listing the
        file's own problems and every validation error together, in line order."""
        from pydantic import ValidationError

        problems = list(self.problems)
        try:
            result = model.model_validate(self.data, context=context)
        except ValidationError as exc:
            problems.extend(self._described(exc))
        if problems:
            raise ConfigError(_in_line_order(problems))
        return result

    def _described(self, error: ValidationError) -> list[tuple[int, str]]:
        """Each pydantic error as `(line, "file:line: field: message")`.

        Pydantic names the union member in an error's location (`AliasModel`,
        `constrained-str`); those parts are dropped, and where one value failed several
        members, the "wrong type" errors give way to the member that fits its type.
        Errors about a value the file already has a problem with are left out.
        """
        by_loc: dict[Loc, list[tuple[str, str]]] = {}
        for err in error.errors():
            loc = self._data_loc(err["loc"])
            if any(loc[:i] in self.broken for i in range(len(loc) + 1)):
                continue
            by_loc.setdefault(loc, []).append((err["type"], err["msg"]))
        above = {loc[:i] for loc in by_loc for i in range(len(loc))}  # locs with errors below
        problems: list[tuple[int, str]] = []
        for loc, errors in by_loc.items():
            specific = [e for e in errors if e[0] not in _TYPE_MISMATCH] or errors
            if loc in above and all(kind in _TYPE_MISMATCH for kind, _ in specific):
                continue  # another union member got further into this value
            line = self.line_of(loc)
            where = f"{self.path}:{line}" if line else str(self.path)
            name = _dotted(loc)
            for kind, message in specific:
                problems.append((line or 0, f"{where}: {name}: {_friendly(kind, message)}"))
        return problems

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
    "[key]",  # a mapping's key failed: the error is the key's, at its line
    "DefaultFeeds",
}


def _friendly(kind: str, message: str) -> str:
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("model_type", "dict_type"):
        return "expected a mapping (key: value lines)"
    if kind == "finite_number":
        return "expected a finite number (not .inf or .nan)"
    if kind == "value_error":  # our validators' own words, without pydantic's label
        return message.removeprefix("Value error, ")
    return message


def _in_line_order(problems: list[tuple[int, str]]) -> list[str]:
    """The problems' texts, sorted by their line."""
    return [text for _, text in sorted(problems, key=lambda p: p[0])]


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_yaml(path: Path) -> YamlDocument:
    """Parse `path` within the bounds above; a file that breaks them, or is not YAML,
    raises ConfigError naming the line. Problems with single values (a duplicate key, a
    value that cannot be built) are collected in the document instead."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            limit = f"{MAX_FILE_BYTES // 1024**2} MiB"
            raise ConfigError([f"{path}: larger than {limit}, more than any config or watchlist"])
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    try:
        yaml.reader.Reader(text)  # the characters YAML allows, checked over the whole text
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "a byte"
        problem = f"the character {character} is not allowed in YAML"
        raise ConfigError([f"{path}:{line}: invalid YAML: {problem}"]) from exc
    try:
        node = _compose(loader, path)
        builder = _Builder(loader, path)
        data = builder.build(node, (), 0) if node is not None else None
    finally:
        loader.dispose()
    return YamlDocument(
        path=path,
        data=data,
        lines=builder.lines,
        problems=tuple(builder.problems),
        broken=frozenset(builder.broken),
        values=builder.count,
    )


def _compose(loader: _BoundedLoader, path: Path) -> yaml.Node | None:
    """The file's node graph; a syntax error becomes a ConfigError naming the line."""
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in problem:  # libyaml's own bound, lower than some files'
            problem = f"values nested deeper than {MAX_DEPTH} levels"
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from exc
    except (ValueError, OverflowError) as exc:  # the scanner's: "\U99999999", "%YAML 9…9.1"
        where = f"{path}:{loader.node_line + 1}"
        problem = "an escape or a number out of range"
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from exc


# libyaml's parser where PyYAML was built with it (six times faster than PyYAML's own
# on the bundled watchlists), PyYAML's otherwise; composed in Python either way, so that
# the depth bound below holds
class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's parser in Python, taking its text as libyaml's does."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_Parser: type = getattr(getattr(yaml, "cyaml", None), "CParser", _PyParser)


class _BoundedLoader(
    _Parser,  # type: ignore[misc]  # a C class where libyaml is present
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    yaml.resolver.Resolver,
):
    """PyYAML's safe loading, refusing to compose values nested deeper than MAX_DEPTH
    (the composer recurses once per level); `node_line` is the last node's, from 0."""

    get_single_node = yaml.composer.Composer.get_single_node
    compose_document = yaml.composer.Composer.compose_document

    def __init__(self, text: str) -> None:
        super().__init__(text)  # type: ignore[call-arg]  # the parser, first in line
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.depth = 0
        self.node_line = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """One node, with the nesting depth counted."""
        event = self.peek_event()
        self.node_line = event.start_mark.line
        if isinstance(event, yaml.AliasEvent):
            return yaml.composer.Composer.compose_node(self, parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"values nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1


class _Refused(Exception):
    """The file breaks a bound: reading it stops here."""


class _Builder:
    """Builds plain Python data from a composed node graph, recording each value's line,
    within the depth and alias bounds."""

    def __init__(self, loader: _BoundedLoader, path: Path) -> None:
        self.loader = loader
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.problems: list[tuple[int, str]] = []
        self.broken: set[Loc] = set()
        self.built: set[int] = set()  # ids of the nodes built once (the graph outlives us)
        self.repeated = 0  # values built again, through an alias
        self.count = 0  # values built in all

    def build(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        """The value of `node` at `loc`; raises ConfigError when a bound is broken."""
        try:
            return self._value(node, loc, depth)
        except _Refused as exc:
            raise ConfigError(_in_line_order([*self.problems, exc.args[0]])) from None

    def _value(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self._count(node, loc)
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            value = self._scalar(node, loc)
            if value is _UNBUILT:
                self.broken.add(loc)
                return None
            return value
        if node.tag not in self.loader.yaml_constructors:
            self._problem(node.start_mark.line + 1, loc, f"unsupported tag {node.tag!r}")
            self.broken.add(loc)
            return None
        if depth >= MAX_DEPTH:  # deeper than the composer allows: only through aliases
            self._refuse(node, loc, f"values nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.SequenceNode):
            return [self._value(c, (*loc, i), depth + 1) for i, c in enumerate(node.value)]
        return self._mapping(node, loc, depth)

    def _count(self, node: yaml.Node, loc: Loc) -> None:
        self.count += 1
        if id(node) in self.built:
            self.repeated += 1
            if self.repeated > ALIAS_BUDGET:
                self._refuse(
                    node,
                    loc,
                    f"aliases repeat more than {ALIAS_BUDGET:,} values in all "
                    "(the limit); write the values out or use fewer aliases",
                )
        self.built.add(id(node))

    def _mapping(self, node: yaml.Node, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            self._count(key_node, loc)
            if key_node.tag == _MERGE_TAG:
                self._problem(line, loc, "merge keys (<<) are not supported; write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(line, loc, "a key must be a name or a number, not a list or mapping")
                continue
            key = self._scalar(key_node, loc)
            if key is _UNBUILT:
                continue
            child = (*loc, key if isinstance(key, str | int) else str(key))
            if key in first_line:
                self._problem(line, child, f"duplicate key (first at line {first_line[key]})")
                continue
            first_line[key] = line
            out[key] = self._value(value_node, child, depth + 1)
            self.lines[child] = line  # errors point at the key's line
        return out

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        """The scalar's value, or _UNBUILT (with the problem noted)."""
        line = node.start_mark.line + 1
        try:
            value = self.loader.construct_object(node, deep=True)
        except Exception:  # PyYAML's constructors, given `!!int ` or `!!timestamp x`,
            # fail with IndexError, AttributeError, ValueError…
            self._problem(line, loc, self._unbuildable(node))
            return _UNBUILT
        if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:  # 0x…, 0o…
            self._problem(line, loc, "a number this large is not a setting")
            return _UNBUILT
        return value

    def _unbuildable(self, node: yaml.ScalarNode) -> str:
        if node.tag not in self.loader.yaml_constructors:
            return f"unsupported tag {node.tag!r}"
        if node.tag == _INT_TAG and re.fullmatch(r"[-+]?[0-9_]+", node.value):
            return "a number this large is not a setting"  # past Python's 4,300 digits
        text = node.value if len(node.value) <= 40 else node.value[:40] + "…"
        return f"{text!r} is not {_KINDS.get(node.tag, 'a value YAML can read')}"

    def _problem(self, line: int, loc: Loc, message: str) -> None:
        self.problems.append((line, f"{self.path}:{line}: {_dotted(loc)}: {message}"))

    def _refuse(self, node: yaml.Node, loc: Loc, message: str) -> NoReturn:
        line = node.start_mark.line + 1
        raise _Refused((line, f"{self.path}:{line}: {_dotted(loc)}: {message}"))


_UNBUILT = object()
