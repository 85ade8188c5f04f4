"""Precision, recall and F1 of the watchlists on labelled examples (`wirewatch eval`), per
watchlist and per language, with what each wrong decision lacked; and the one split of the
public labelled headlines into a tuning part and a held-out part.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import ConfigError
from bot.matching.matcher import Matcher, Verdict
from bot.matching.watchlists import Watchlist

SPLITS = ("tuning", "held-out")
SPLIT_SEED = "wirewatch-19"
HELD_OUT_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled headline: the watchlists it belongs to, the ones for which either
    decision counts as right (`either`), its language, where it was read, and the batch of
    the labelled set it was gathered in."""

    title: str
    summary: str
    labels: frozenset[str]
    where: str
    lang: str = ""
    either: frozenset[str] = frozenset()
    batch: int = 1


@dataclass(frozen=True, slots=True)
class Score:
    """Counts of decisions on the examples (one watchlist's, or one language's)."""

    name: str
    true_positives: int
    false_positives: int
    false_negatives: int
    examples: int = 0

    @property
    def precision(self) -> float:
        """Share of matches that were labelled (1.0 when nothing matched)."""
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        """Share of labelled examples that matched (1.0 when none were labelled)."""
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Miss:
    """A wrong decision: `kind` is "false positive" or "false negative"; `needed` says in
    words what the watchlist lacked (or what made it match)."""

    example: Example
    watchlist: str
    kind: str
    verdict: Verdict | None
    needed: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores per watchlist and per language, and every wrong decision with its verdict."""

    scores: tuple[Score, ...]
    misses: tuple[Miss, ...]
    examples: int
    languages: tuple[Score, ...] = ()
    either: int = 0  # decisions that counted as right either way


def load_examples(paths: Iterable[Path]) -> list[Example]:
    """Read JSON-lines example files; raises ConfigError listing every bad line."""
    examples: list[Example] = []
    problems: list[str] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: invalid JSON: {exc.msg}")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{where}: expected an object")
                continue
            title, summary, labels = obj.get("title"), obj.get("summary", ""), obj.get("labels")
            lang, either, batch = obj.get("lang", ""), obj.get("either", []), obj.get("batch", 1)
            if not isinstance(title, str) or not isinstance(summary, str):
                problems.append(f"{where}: title and summary must be strings")
                continue
            if not isinstance(labels, list) or not _ids(labels) or not _ids(either):
                problems.append(f"{where}: labels and either must be lists of watchlist ids")
                continue
            if not isinstance(lang, str):
                problems.append(f"{where}: lang must be a language code")
                continue
            if type(batch) is not int or batch < 1:
                problems.append(f"{where}: batch must be a whole number from 1")
                continue
            examples.append(
                Example(title, summary, frozenset(labels), where, lang, frozenset(either), batch)
            )
    if problems:
        raise ConfigError(problems)
    return examples


def _ids(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def evaluate(matcher: Matcher, examples: Sequence[Example]) -> Evaluation:
    """Judge every example with every watchlist and count the decisions, by watchlist and
    by language; a watchlist in an example's `either` is not counted for it."""
    ids = [w.id for w in matcher.watchlists]
    by_id = {w.id: w for w in matcher.watchlists}
    counts = {i: [0, 0, 0] for i in ids}
    by_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    misses: list[Miss] = []
    either = 0
    for example in examples:
        verdicts = {v.watchlist.id: v for v in matcher.judge(example.title, example.summary)}
        lang = by_lang[example.lang or "?"]
        lang[3] += 1
        for watchlist in ids:
            if watchlist in example.either:
                either += 1
                continue
            verdict = verdicts.get(watchlist)
            matched = verdict is not None and verdict.matched
            wanted = watchlist in example.labels
            kind = 0 if matched and wanted else 1 if matched else 2 if wanted else -1
            if kind < 0:
                continue
            counts[watchlist][kind] += 1
            lang[kind] += 1
            if kind:
                name = "false positive" if kind == 1 else "false negative"
                needed = diagnose(by_id[watchlist], verdict)
                misses.append(Miss(example, watchlist, name, verdict, needed))
    scores = tuple(Score(i, *counts[i]) for i in ids)
    languages = tuple(
        Score(lang, c[0], c[1], c[2], c[3])
        for lang, c in sorted(by_lang.items(), key=lambda kv: (-kv[1][3], kv[0]))
    )
    return Evaluation(scores, tuple(misses), len(examples), languages, either)


def diagnose(watchlist: Watchlist, verdict: Verdict | None) -> str:
    """What a verdict lacked to match (`Verdict.shortfall`), or on a match the groups
    that made it."""
    if verdict is None:
        return "no alias of this watchlist appears"
    if verdict.matched:
        return "matched on " + ", ".join(sorted({e.group for e in verdict.evidence}))
    return verdict.shortfall()


def split_lines(
    lines: Iterable[str], seed: str = SPLIT_SEED, held_out_share: float = HELD_OUT_SHARE
) -> tuple[list[str], list[str]]:
    """Split labelled JSON lines into (tuning, held-out), each batch on its own and
    stratified by label set and language, the same way every time for the same lines and
    seed, whatever their order.

    A line's `batch` (1 when absent) is the gathering it came from: a later batch is split
    by itself, so adding one moves no line of an earlier batch between the parts. Within
    each stratum (one label set in one language of one batch) lines are ordered by a hash
    of the seed, URL and title, and the first ones go to the held-out part; how many is
    the stratum's share of a running total within the batch, so strata too small for a
    share of their own still add up to `held_out_share` of the batch. Batches come out in
    order.
    """
    batches: dict[int, dict[tuple[tuple[str, ...], str], list[tuple[str, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for line in lines:
        if not line.strip():
            continue
        obj = json.loads(line)
        key = (tuple(sorted(obj.get("labels", []))), str(obj.get("lang", "")))
        digest = hashlib.sha256(f"{seed}\n{obj.get('url', '')}\n{obj['title']}".encode())
        batches[int(obj.get("batch", 1))][key].append((digest.hexdigest(), line.rstrip("\n")))
    tuning: list[str] = []
    held_out: list[str] = []
    for batch in sorted(batches):
        strata, total = batches[batch], 0
        for key in sorted(strata):
            members = sorted(strata[key])
            before = round(total * held_out_share)
            total += len(members)
            take = round(total * held_out_share) - before
            held_out.extend(line for _, line in members[:take])
            tuning.extend(line for _, line in members[take:])
    return tuning, held_out
