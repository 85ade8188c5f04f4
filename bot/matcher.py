"""Watchlists compiled once into one word index; items matched against all of them at once.

The exact pass looks every word of an item up in a dict built from every alias of every
watchlist (with inflections and hyphen variants generated up front). Only a watchlist
that got an exact hit yet is still short of matching gets the fuzzy pass (rapidfuzz),
and only for its groups that have no hit. Every decision keeps its evidence.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.models import Evidence, Item, Match
from bot.normalize import fold, has_cjk, inflections, joined_hyphenations, nfkc, word_spans, words
from bot.watchlists import Alias, AllOf, AnyOf, GroupRef, Near, NoneOf, Rule, Watchlist

MIN_FUZZY_LENGTH = 5  # shorter aliases never match fuzzily: "PLA" must not hit "plan"
_MAX_VARIANTS = 64


@dataclass(frozen=True, slots=True)
class _Entry:
    watchlist: int
    group: str
    alias: Alias


@dataclass(frozen=True, slots=True)
class _Hit:
    watchlist: int
    group: str
    alias: str
    field: str
    start: int  # word positions in the field, for `near`
    end: int
    text: str
    similarity: float = 100.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one watchlist judged one item, matched or not: the basis of `why` and `eval`."""

    watchlist: Watchlist
    score: float
    rule_ok: bool
    evidence: tuple[Evidence, ...]

    @property
    def matched(self) -> bool:
        """The rule holds and the score reaches the threshold."""
        return self.rule_ok and self.score >= self.watchlist.threshold

    @property
    def alert(self) -> bool:
        """Matched, and strong enough for an instant alert."""
        return self.matched and self.score >= self.watchlist.alert_threshold

    def to_match(self) -> Match:
        """The stored form of a matched verdict."""
        return Match(self.watchlist.id, round(self.score, 3), self.alert, self.evidence)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    text: str  # NFKC text, quoted in evidence
    folded: str
    words: list[str]


class Matcher:
    """Matches items against a fixed set of watchlists. Build once; `match` is thread-safe."""

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        self.watchlists = tuple(watchlists)
        self._index: dict[str, list[tuple[tuple[str, ...], _Entry]]] = defaultdict(list)
        self._index_cs: dict[str, list[tuple[tuple[str, ...], _Entry]]] = defaultdict(list)
        self._substrings: list[tuple[str, _Entry]] = []
        self._fuzzy: dict[tuple[int, str], list[tuple[str, int, Alias]]] = defaultdict(list)
        for wi, watchlist in enumerate(self.watchlists):
            for group in watchlist.groups:
                for alias in group.aliases:
                    self._add(_Entry(wi, group.name, alias))
        self._index = dict(self._index)
        self._index_cs = dict(self._index_cs)
        self._ascii_substrings = any(s.isascii() for s, _ in self._substrings)
        self._fuzzy_groups: dict[int, set[str]] = defaultdict(set)
        for wi, group_name in self._fuzzy:
            self._fuzzy_groups[wi].add(group_name)

    def _add(self, entry: _Entry) -> None:
        alias = entry.alias
        folded = fold(nfkc(alias.text), lower=not alias.case_sensitive)
        if has_cjk(folded) or not alias.whole_word:
            self._substrings.append((folded, entry))
            return
        tokens = words(folded)
        if not tokens:
            return
        index = self._index_cs if alias.case_sensitive else self._index
        for variant in _variants(tokens, folded):
            index[variant[0]].append((variant[1:], entry))
        if alias.fuzzy and len(folded) >= MIN_FUZZY_LENGTH and not alias.case_sensitive:
            key = (entry.watchlist, entry.group)
            self._fuzzy[key].append((" ".join(tokens), len(tokens), alias))

    def match(self, title: str, summary: str = "") -> list[Match]:
        """The watchlists this text matches, each with score and evidence."""
        return [v.to_match() for v in self.judge(title, summary) if v.matched]

    def match_item(self, item: Item) -> list[Match]:
        """`match` on an item's title and summary."""
        return self.match(item.title, item.summary)

    def judge(self, title: str, summary: str = "") -> list[Verdict]:
        """A verdict for every watchlist that got at least one hit, matched or not."""
        fields = [_field("title", title), _field("summary", summary)]
        hits: dict[int, list[_Hit]] = defaultdict(list)
        for f in fields:
            for hit in self._exact_hits(f):
                hits[hit.watchlist].append(hit)
        verdicts = []
        for wi, found in hits.items():
            watchlist = self.watchlists[wi]
            verdict = _verdict(watchlist, found)
            if not verdict.matched and self._could_match_fuzzily(wi, found):
                extra = self._fuzzy_hits(wi, {h.group for h in found}, fields)
                if extra:
                    verdict = _verdict(watchlist, found + extra)
            verdicts.append(verdict)
        return verdicts

    def _could_match_fuzzily(self, wi: int, found: list[_Hit]) -> bool:
        """Whether fuzzy hits in the groups without a hit could make the rule hold."""
        fuzzy_groups = self._fuzzy_groups.get(wi)
        if not fuzzy_groups:
            return False
        optimistic: dict[str, list[_Hit]] = {h.group: [h] for h in found}
        for group in fuzzy_groups - optimistic.keys():
            optimistic[group] = []
        return _holds(self.watchlists[wi].rule, optimistic, optimistic=True)

    def _exact_hits(self, f: _Field) -> Iterable[_Hit]:
        if not f.text:
            return
        found: list[tuple[_Entry, int, int]] = []
        toks = f.words
        for i, tok in enumerate(toks):
            for tail, entry in self._index.get(tok, ()):
                if not tail or tuple(toks[i + 1 : i + 1 + len(tail)]) == tail:
                    found.append((entry, i, i + 1 + len(tail)))
        if self._index_cs:
            cased = words(fold(f.text, lower=False))
            for i, tok in enumerate(cased):
                for tail, entry in self._index_cs.get(tok, ()):
                    if not tail or tuple(cased[i + 1 : i + 1 + len(tail)]) == tail:
                        found.append((entry, i, i + 1 + len(tail)))
        if "-" in f.folded:
            for pos, joined in joined_hyphenations(f.folded):
                for tail, entry in self._index.get(joined, ()):
                    if not tail:
                        found.append((entry, pos, pos + 1 + joined.count("-")))
        if found:
            spans = word_spans(f.folded)
            for entry, start, end in found:
                end = max(end, start + 1)
                text = f.text[spans[start][0] : spans[min(end, len(spans)) - 1][1]]
                yield _Hit(entry.watchlist, entry.group, entry.alias.text, f.name, start, end, text)
        if self._substrings and (self._ascii_substrings or not f.folded.isascii()):
            yield from self._substring_hits(f)

    def _substring_hits(self, f: _Field) -> Iterable[_Hit]:
        spans: list[tuple[int, int]] | None = None
        for needle, entry in self._substrings:
            haystack = f.folded if not entry.alias.case_sensitive else fold(f.text, lower=False)
            at = haystack.find(needle)
            if at < 0:
                continue
            if spans is None:
                spans = word_spans(f.folded)
            position = sum(1 for s, _ in spans if s < at)
            yield _Hit(
                entry.watchlist,
                entry.group,
                entry.alias.text,
                f.name,
                position,
                position + 1,
                f.text[at : at + len(needle)],
            )

    def _fuzzy_hits(self, wi: int, hit_groups: set[str], fields: list[_Field]) -> list[_Hit]:
        extra: list[_Hit] = []
        for group in self.watchlists[wi].groups:
            if group.name in hit_groups:
                continue
            candidates = self._fuzzy.get((wi, group.name))
            if not candidates:
                continue
            for f in fields:
                for target, size, alias in candidates:
                    best = _best_fuzzy(target, size, alias.fuzzy_threshold, f.words)
                    if best is None:
                        continue
                    start, score = best
                    spans = word_spans(f.folded)
                    text = f.text[spans[start][0] : spans[start + size - 1][1]]
                    extra.append(
                        _Hit(
                            wi,
                            group.name,
                            alias.text,
                            f.name,
                            start,
                            start + size,
                            text,
                            round(score, 1),
                        )
                    )
        return extra


def _field(name: str, text: str) -> _Field:
    normal = nfkc(text or "")
    folded = fold(normal)
    return _Field(name, normal, folded, words(folded))


def _variants(tokens: list[str], folded: str) -> set[tuple[str, ...]]:
    """Every inflected spelling of an alias's words, plus its hyphen-joined spelling."""
    forms = [sorted(inflections(t)) if i == len(tokens) - 1 else [t] for i, t in enumerate(tokens)]
    if len(tokens) > 1:  # inflect earlier words too ("sail through" → "sailed through")
        forms[0] = sorted(inflections(tokens[0]))
    out = set(itertools.islice(itertools.product(*forms), _MAX_VARIANTS))
    if "-" in folded:
        joined = "".join(tokens)
        out |= {(form,) for form in inflections(joined)}
    return out


def _best_fuzzy(
    target: str, size: int, threshold: float, toks: list[str]
) -> tuple[int, float] | None:
    """The best window of `size` words within `threshold` of `target`, guarded against noise."""
    best: tuple[int, float] | None = None
    for i in range(len(toks) - size + 1):
        candidate = " ".join(toks[i : i + size])
        if candidate[0] != target[0] or abs(len(candidate) - len(target)) > 3:
            continue
        score = fuzz.ratio(target, candidate, score_cutoff=threshold)
        if score and (best is None or score > best[1]):
            best = (i, score)
    return best


def _verdict(watchlist: Watchlist, hits: list[_Hit]) -> Verdict:
    by_group: dict[str, list[_Hit]] = defaultdict(list)
    for hit in hits:
        by_group[hit.group].append(hit)
    weights = {g.name: g.weight for g in watchlist.groups}
    score = 0.0
    for group, group_hits in by_group.items():
        best = max(
            (watchlist.title_weight if h.field == "title" else 1.0) * h.similarity / 100
            for h in group_hits
        )
        score += weights[group] * best
    seen: set[tuple[str, str, int]] = set()
    evidence = []
    for h in sorted(hits, key=lambda h: (h.field != "title", h.start, -h.end)):
        key = (h.group, h.field, h.start)
        if key not in seen:
            seen.add(key)
            evidence.append(Evidence(h.group, h.alias, h.field, h.text, h.similarity))
    return Verdict(watchlist, score, _holds(watchlist.rule, by_group), tuple(evidence))


def _holds(rule: Rule, hits: dict[str, list[_Hit]], optimistic: bool = False) -> bool:
    """Whether `rule` holds for these hits by group. `optimistic`: a group present with no
    hits (a fuzzy candidate) counts as hit, and `near` as satisfied, for positive rules."""
    match rule:
        case AllOf(children):
            return all(_holds(c, hits, optimistic) for c in children)
        case AnyOf(children):
            return any(_holds(c, hits, optimistic) for c in children)
        case NoneOf(children):
            return not any(_holds(c, {g: h for g, h in hits.items() if h}) for c in children)
        case Near(a, b, within):
            if optimistic and a in hits and b in hits:
                return True
            return any(
                x.field == y.field and max(0, y.start - x.end, x.start - y.end) <= within
                for x in hits.get(a, ())
                for y in hits.get(b, ())
            )
        case GroupRef(group):
            return group in hits
    raise TypeError(f"unknown rule {rule!r}")
