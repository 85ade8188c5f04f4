"""Watchlists: YAML files of alias groups and a boolean rule, loaded and checked at startup.

The format is documented for users in `watchlists/README.md`. A broken watchlist stops
startup with every problem listed as `file:line: field: message`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from bot.core.config import Interval, OneLine, Settings
from bot.core.errors import ConfigError
from bot.core.models import FeedSpec
from bot.core.yaml_source import Loc, YamlDocument, load_yaml
from bot.matching.normalize import fold, nfkc, unspaced, variants, words

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "watchlists"


# --- the compiled form ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alias:
    """One way of naming a concept. `whole_word` off means substring matching; a final `*`
    matches any ending; `lang` picks the inflections generated; a hit also counts for the
    groups it `implies`, and not where it lies inside one of the `not_in` phrases."""

    text: str
    whole_word: bool = True
    fuzzy: bool = False
    fuzzy_threshold: float = 88.0
    case_sensitive: bool = False
    lang: str | None = None
    implies: tuple[str, ...] = ()
    not_in: tuple[str, ...] = ()

    @property
    def prefix(self) -> bool:
        """Whether the alias ends in `*`: a word beginning with the rest matches."""
        return self.text.endswith("*")


@dataclass(frozen=True, slots=True)
class Group:
    """A named concept (`canola`, `china`) and its aliases; a hit adds `weight` to the score."""

    name: str
    weight: float
    aliases: tuple[Alias, ...]


@dataclass(frozen=True, slots=True)
class GroupRef:
    """True when the group has a hit."""

    group: str


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every child is."""

    children: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when at least one child is."""

    children: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class NoneOf:
    """True when no child is."""

    children: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """True when a hit of group `a` and one of `b` lie within `within` words in one field."""

    a: str
    b: str
    within: int


Rule = Union[GroupRef, AllOf, AnyOf, NoneOf, Near]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True, slots=True)
class Watchlist:
    """A topic to watch: scored alias groups, a rule, thresholds, and its own extra feeds."""

    id: str
    title: str
    description: str
    groups: tuple[Group, ...]
    rule: Rule
    threshold: float
    alert_threshold: float
    title_weight: float
    sources: tuple[FeedSpec, ...]
    path: Path | None = None

    @property
    def summary(self) -> str:
        """The first sentence of the description: a one-line scope."""
        first = re.split(r"(?<=[.!?])\s", self.description.strip(), maxsplit=1)[0]
        return first.strip()


# --- the file format --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AliasModel(_Strict):
    text: str = Field(min_length=1)
    whole_word: bool = True
    fuzzy: bool | None = None
    fuzzy_threshold: float | None = Field(default=None, ge=60, le=100)
    case_sensitive: bool = False
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2,3}([-_][A-Za-z0-9]+)*$")
    implies: list[Annotated[str, Field(min_length=1)]] = []
    not_in: list[Annotated[str, Field(min_length=1)]] = []


class GroupModel(_Strict):
    weight: float = Field(default=1.0, ge=0, le=100)
    fuzzy: bool = False
    fuzzy_threshold: float = Field(default=88.0, ge=60, le=100)
    aliases: list[Annotated[str, Field(min_length=1)] | AliasModel] = Field(min_length=1)


class RuleModel(_Strict):
    all: list[Union[str, RuleModel]] | None = None  # noqa: UP007
    any: list[Union[str, RuleModel]] | None = None  # noqa: UP007
    none: list[Union[str, RuleModel]] | None = None  # noqa: UP007
    near: list[str] | None = Field(default=None, min_length=2, max_length=2)
    within: int = Field(default=10, ge=1, le=500)


class SourceModel(_Strict):
    url: OneLine = Field(pattern=r"^https?://\S+$")
    name: str | None = None
    interval: Interval | None = None


class WatchlistModel(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    threshold: float = Field(default=1.0, gt=0, le=10_000)
    alert_threshold: float | None = Field(default=None, gt=0, le=10_000)
    title_weight: float = Field(default=2.0, ge=1, le=10)
    groups: dict[str, GroupModel] = Field(min_length=1)
    rule: RuleModel
    sources: list[SourceModel] = []


def describe_rule(rule: Rule) -> str:
    """A rule as a reader would say it: `all of (canada, china, any of (trade, deal))`."""
    match rule:
        case GroupRef(group):
            return group
        case AllOf(children):
            return "all of (" + ", ".join(describe_rule(c) for c in children) + ")"
        case AnyOf(children):
            return "any of (" + ", ".join(describe_rule(c) for c in children) + ")"
        case NoneOf(children):
            return "none of (" + ", ".join(describe_rule(c) for c in children) + ")"
        case Near(a, b, within):
            return f"{a} within {within} words of {b}"
    raise TypeError(f"unknown rule {rule!r}")


def watchlist_files(directory: Path) -> list[Path]:
    """The watchlist files in a folder, in name order (README and examples are not)."""
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_watchlists(paths: Iterable[Path]) -> list[Watchlist]:
    """Load and check watchlist files; raises ConfigError naming every problem in every file."""
    problems: list[str] = []
    loaded: list[Watchlist] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            watchlist = load_watchlist(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if watchlist.id in seen:
            problems.append(
                f"{path}:1: id: {watchlist.id!r} is also the id of {seen[watchlist.id]}"
            )
            continue
        seen[watchlist.id] = path
        loaded.append(watchlist)
    if problems:
        raise ConfigError(problems)
    return loaded


def load_watchlist(path: Path) -> Watchlist:
    """Load one watchlist file."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        mapping = f"{path}:1: a watchlist file must be a mapping with id, groups, rule"
        raise ConfigError([*(text for _, text in doc.problems), mapping])
    model = doc.validate(WatchlistModel)
    problems: list[str] = []
    rule = _compile_rule(model.rule, set(model.groups), ("rule",), doc, problems)
    _check_aliases(model, doc, problems)
    if model.alert_threshold is not None and model.alert_threshold < model.threshold:
        line = doc.line_of(("alert_threshold",))
        problems.append(f"{path}:{line}: alert_threshold: must not be below threshold")
    if problems:
        raise ConfigError(problems)
    groups = tuple(_compile_group(name, g) for name, g in model.groups.items())
    sources = tuple(
        FeedSpec(
            url=s.url,
            name=s.name or f"{model.title} search",
            origin="watchlist",
            interval=s.interval,
            verified=False,
        )
        for s in model.sources
    )
    return Watchlist(
        id=model.id,
        title=model.title,
        description=" ".join(model.description.split()),
        groups=groups,
        rule=rule,
        threshold=model.threshold,
        alert_threshold=model.alert_threshold or model.threshold,
        title_weight=model.title_weight,
        sources=sources,
        path=path,
    )


def _compile_group(name: str, model: GroupModel) -> Group:
    aliases = []
    for entry in model.aliases:
        spec = AliasModel(text=entry) if isinstance(entry, str) else entry
        aliases.append(
            Alias(
                text=spec.text,
                whole_word=spec.whole_word,
                fuzzy=(model.fuzzy if spec.fuzzy is None else spec.fuzzy)
                and not spec.text.endswith("*"),
                fuzzy_threshold=spec.fuzzy_threshold or model.fuzzy_threshold,
                case_sensitive=spec.case_sensitive,
                lang=spec.lang,
                implies=tuple(dict.fromkeys(g for g in spec.implies if g != name)),
                not_in=tuple(spec.not_in),
            )
        )
    return Group(name=name, weight=model.weight, aliases=tuple(aliases))


def _check_aliases(model: WatchlistModel, doc: YamlDocument, problems: list[str]) -> None:
    """Problems with aliases' `implies`, `not_in` and final `*` that the schema cannot see."""
    for name, group in model.groups.items():
        for i, entry in enumerate(group.aliases):
            spec = AliasModel(text=entry) if isinstance(entry, str) else entry
            loc = ("groups", name, "aliases", i)
            for j, implied in enumerate(spec.implies):
                _check_group(implied, set(model.groups), (*loc, "implies", j), doc, problems)
            for j, phrase in enumerate(spec.not_in):
                if not _contains(phrase, spec):
                    where = f"{doc.path}:{doc.line_of((*loc, 'not_in', j))}"
                    problems.append(
                        f"{where}: {_dotted(loc, 'not_in', j)}: {phrase!r} does not contain"
                        f" {spec.text!r} (not_in lists the longer phrases an alias is part of)"
                    )
            if "*" in spec.text:
                stem = spec.text[:-1]
                if (
                    not spec.text.endswith("*")
                    or "*" in stem
                    or len(words(fold(stem))) != 1
                    or len(stem.strip()) < 3
                    or unspaced(stem)
                    or not spec.whole_word
                    or spec.fuzzy
                    or spec.case_sensitive
                ):
                    where = f"{doc.path}:{doc.line_of((*loc,))}"
                    problems.append(
                        f"{where}: {_dotted(loc)}: {spec.text!r}: a * may only end a single"
                        " word of three letters or more, written with spaces, neither fuzzy"
                        " nor case-sensitive"
                    )


def _contains(phrase: str, alias: AliasModel) -> bool:
    """Whether a `not_in` phrase contains the alias in one of its spellings."""
    text = fold(nfkc(alias.text.removesuffix("*")))
    folded = fold(nfkc(phrase))
    if unspaced(text) or not alias.whole_word or alias.text.endswith("*"):
        return text in folded
    spellings = variants(words(text), text, alias.lang)
    phrase_words = words(folded)
    return any(
        tuple(phrase_words[i : i + len(v)]) == v
        for v in spellings
        for i in range(len(phrase_words) - len(v) + 1)
    )


def _compile_rule(
    model: RuleModel, groups: set[str], loc: Loc, doc: YamlDocument, problems: list[str]
) -> Rule:
    parts: list[Rule] = []
    kinds: tuple[tuple[Literal["all", "any", "none"], type[AllOf | AnyOf | NoneOf]], ...] = (
        ("all", AllOf),
        ("any", AnyOf),
        ("none", NoneOf),
    )
    for key, kind in kinds:
        children = getattr(model, key)
        if children is None:
            continue
        if not children:
            problems.append(
                f"{doc.path}:{doc.line_of((*loc, key))}: {_dotted(loc, key)}: empty list"
            )
        compiled: list[Rule] = []
        for i, child in enumerate(children):
            child_loc = (*loc, key, i)
            if isinstance(child, str):
                _check_group(child, groups, child_loc, doc, problems)
                compiled.append(GroupRef(child))
            else:
                compiled.append(_compile_rule(child, groups, child_loc, doc, problems))
        parts.append(kind(tuple(compiled)))
    if model.near is not None:
        for i, name in enumerate(model.near):
            _check_group(name, groups, (*loc, "near", i), doc, problems)
        parts.append(Near(model.near[0], model.near[1], model.within))
    if not parts:
        line = doc.line_of(loc)
        problems.append(f"{doc.path}:{line}: {_dotted(loc)}: needs all, any, none or near")
        return AllOf(())
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _check_group(
    name: str, groups: set[str], loc: Loc, doc: YamlDocument, problems: list[str]
) -> None:
    if name not in groups:
        known = ", ".join(sorted(groups))
        where = f"{doc.path}:{doc.line_of(loc)}: {_dotted(loc)}"
        problems.append(f"{where}: unknown group {name!r} (groups: {known})")


def _dotted(loc: Loc, *more: Any) -> str:
    return ".".join(str(p) for p in (*loc, *more))


def watchlist_folders(configured: Path | None, *, bundled: bool = True) -> list[Path]:
    """The folders whose watchlists are loaded, in rising precedence: the bundled folder
    (unless `bundled` is off), then the configured folder, else `./watchlists` when it
    holds watchlist files."""
    folders = [BUNDLED_DIR] if bundled else []
    local = configured
    if local is None and Path("watchlists").is_dir() and watchlist_files(Path("watchlists")):
        local = Path("watchlists")
    if local is not None and local.resolve() != BUNDLED_DIR:
        folders.append(local)
    return folders


def load_watchlist_folders(folders: Sequence[Path]) -> list[Watchlist]:
    """Every watchlist of `folders`; a later folder's watchlist replaces an earlier one with
    the same id. Raises ConfigError naming every problem in every file."""
    problems: list[str] = []
    chosen: dict[str, Watchlist] = {}
    for folder in folders:
        try:
            for watchlist in load_watchlists(watchlist_files(folder)):
                chosen[watchlist.id] = watchlist
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return list(chosen.values())


def all_sources(watchlists: Iterable[Watchlist]) -> list[FeedSpec]:
    """Every watchlist's extra feeds, de-duplicated by URL."""
    seen: dict[str, FeedSpec] = {}
    for watchlist in watchlists:
        for spec in watchlist.sources:
            seen.setdefault(spec.url, spec)
    return list(seen.values())


def load_configured_watchlists(settings: Settings) -> list[Watchlist]:
    """The watchlists the settings name: the bundled ones and the local folder's, a local
    one replacing a bundled one with the same id (raises ConfigError on any broken one)."""
    folders = watchlist_folders(settings.watchlists_dir, bundled=settings.bundled_watchlists)
    return load_watchlist_folders(folders)
