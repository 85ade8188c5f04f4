"""Precision, recall and F1 of the watchlists on labelled examples (`wirewatch eval`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import ConfigError
from bot.matching.matcher import Matcher, Verdict


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled headline: the watchlists it belongs to, and where it was read."""

    title: str
    summary: str
    labels: frozenset[str]
    where: str


@dataclass(frozen=True, slots=True)
class Score:
    """One watchlist's counts on the examples."""

    watchlist: str
    true_positives: int
    false_positives: int
    false_negatives: int

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
    """A wrong decision: `kind` is "false positive" or "false negative"."""

    example: Example
    watchlist: str
    kind: str
    verdict: Verdict | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores per watchlist and every wrong decision with its verdict."""

    scores: tuple[Score, ...]
    misses: tuple[Miss, ...]
    examples: int


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
            if not isinstance(title, str) or not isinstance(summary, str):
                problems.append(f"{where}: title and summary must be strings")
                continue
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                problems.append(f"{where}: labels must be a list of watchlist ids")
                continue
            examples.append(Example(title, summary, frozenset(labels), where))
    if problems:
        raise ConfigError(problems)
    return examples


def evaluate(matcher: Matcher, examples: Sequence[Example]) -> Evaluation:
    """Judge every example with every watchlist and count the decisions."""
    ids = [w.id for w in matcher.watchlists]
    counts = {i: [0, 0, 0] for i in ids}
    misses: list[Miss] = []
    for example in examples:
        verdicts = {v.watchlist.id: v for v in matcher.judge(example.title, example.summary)}
        for watchlist in ids:
            verdict = verdicts.get(watchlist)
            matched = verdict is not None and verdict.matched
            wanted = watchlist in example.labels
            if matched and wanted:
                counts[watchlist][0] += 1
            elif matched:
                counts[watchlist][1] += 1
                misses.append(Miss(example, watchlist, "false positive", verdict))
            elif wanted:
                counts[watchlist][2] += 1
                misses.append(Miss(example, watchlist, "false negative", verdict))
    scores = tuple(Score(i, *counts[i]) for i in ids)
    return Evaluation(scores, tuple(misses), len(examples))
