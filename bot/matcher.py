"""Watchlists compiled once into one word index; items matched against all of them at once.

The exact pass looks every word of an item up in a dict built from every alias of every
watchlist (with inflections and hyphen variants generated up front). Only a watchlist
that got an exact hit yet is still short of matching gets the fuzzy pass (rapidfuzz),
and only for its groups that have no hit. Every decision keeps its evidence.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from ahocorasick_rs import AhoCorasick, Implementation, MatchKind
from rapidfuzz import fuzz

from bot.messages import evidence_strings
from bot.models import Evidence, Item, Match
from bot.normalize import (
    WORD,
    fold,
    has_cjk,
    inflections,
    joined_hyphenations,
    nfkc,
    word_spans,
    words,
)
from bot.watchlists import (
    Alias,
    AllOf,
    AnyOf,
    GroupRef,
    Near,
    NoneOf,
    Rule,
    Watchlist,
    describe_rule,
)

MIN_FUZZY_LENGTH = 5  # shorter aliases never match fuzzily: "PLA" must not hit "plan"
_MAX_VARIANTS = 64


@dataclass(frozen=True, slots=True)
class _Entry:
    watchlist: int
    group: str
    alias: Alias
    cased: frozenset[tuple[str, ...]] | None = None  # case-sensitive aliases: exact spellings


class _Hit(NamedTuple):
    """An alias found in a field, by word positions (for `near`); quoted only when reported."""

    group: str
    alias: str
    field: int  # index into the item's fields: 0 title, 1 summary
    start: int
    end: int
    similarity: float = 100.0
    chars: tuple[int, int] | None = None  # exact character span, for substring hits


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

    def shortfall(self) -> str:
        """Why this verdict did not match: the rule, or the score below the threshold."""
        hits = "; ".join(evidence_strings(self.evidence)) or "none"
        if not self.rule_ok:
            return f"rule not satisfied ({describe_rule(self.watchlist.rule)}); hits: {hits}"
        short = self.watchlist.threshold - self.score
        return (
            f"score {self.score:g} below threshold {self.watchlist.threshold:g} "
            f"(short by {short:.3g}); hits: {hits}"
        )


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
        self._substrings: dict[str, list[_Entry]] = defaultdict(list)
        self._fuzzy: dict[tuple[int, str], list[tuple[str, int, Alias]]] = defaultdict(list)
        for wi, watchlist in enumerate(self.watchlists):
            for group in watchlist.groups:
                for alias in group.aliases:
                    self._add(_Entry(wi, group.name, alias))
        self._index = dict(self._index)
        self._first_words = frozenset(self._index)
        self._build_prefilter()
        self._possible: dict[tuple[int, frozenset[str], bool], bool] = {}
        self._ascii_substrings = any(s.isascii() for s in self._substrings)
        self._needles = list(self._substrings)
        self._substring_finder = (
            AhoCorasick(self._needles, matchkind=MatchKind.Standard) if self._needles else None
        )
        self._fuzzy_groups: dict[int, set[str]] = defaultdict(set)
        for wi, group_name in self._fuzzy:
            self._fuzzy_groups[wi].add(group_name)

    def _add(self, entry: _Entry) -> None:
        alias = entry.alias
        folded = fold(nfkc(alias.text), lower=not alias.case_sensitive)
        if has_cjk(folded) or not alias.whole_word:
            self._substrings[folded.lower()].append(entry)
            return
        tokens = words(folded)
        if not tokens:
            return
        variants = _variants(tokens, folded)
        if alias.case_sensitive:  # indexed lower-cased; the spelling is checked on a hit
            lowered = {tuple(t.lower() for t in v) for v in variants}
            entry = replace(entry, cased=frozenset(variants))
            variants = lowered
        for variant in variants:
            self._index[variant[0]].append((variant[1:], entry))
        if alias.fuzzy and len(folded) >= MIN_FUZZY_LENGTH and not alias.case_sensitive:
            key = (entry.watchlist, entry.group)
            self._fuzzy[key].append((" ".join(tokens), len(tokens), alias))

    def _build_prefilter(self) -> None:
        """One Aho-Corasick automaton over a key part of every alias, for `_candidates`.

        Each alias contributes substrings that every text it can hit contains (see
        `_key_parts`), so the groups found are a superset of the groups hit, and a
        watchlist whose rule cannot hold even with those cannot match.
        """
        masks: dict[str, int] = defaultdict(int)
        self._group_bits: list[tuple[int, str, int]] = []  # (watchlist, group, bit)
        for wi, watchlist in enumerate(self.watchlists):
            for group in watchlist.groups:
                bit = 1 << len(self._group_bits)
                self._group_bits.append((wi, group.name, bit))
                for alias in group.aliases:
                    for part in _key_parts(alias):
                        masks[part] |= bit
        patterns = [p for p in masks if p]
        self._prefilter = AhoCorasick(
            patterns, matchkind=MatchKind.Standard, implementation=Implementation.DFA
        )
        self._key_masks = [masks[p] for p in patterns]
        self._decisions: dict[int, frozenset[int]] = {}

    def _candidates(self, folded_title: str, folded_summary: str) -> frozenset[int]:
        """The watchlists that could match: the cheap exact pre-filter before tokenising."""
        text = f"{folded_title}\n{folded_summary}".replace("-", "")
        found = 0
        masks = self._key_masks
        for index, _, _ in self._prefilter.find_matches_as_indexes(text, overlapping=True):
            found |= masks[index]
        candidates = self._decisions.get(found)
        if candidates is None:
            groups: dict[int, set[str]] = defaultdict(set)
            for wi, name, bit in self._group_bits:
                if found & bit:
                    groups[wi].add(name)
            candidates = frozenset(
                wi for wi, names in groups.items() if self._may_hold(wi, names, exact=False)
            )
            if len(self._decisions) > 100_000:
                self._decisions.clear()
            self._decisions[found] = candidates
        return candidates

    def match(self, title: str, summary: str = "") -> list[Match]:
        """The watchlists this text matches, each with score and evidence."""
        title, summary = nfkc(title or ""), nfkc(summary or "")
        folded = (fold(title), fold(summary))
        candidates = self._candidates(*folded)
        if not candidates:
            return []
        fields = (
            _Field("title", title, folded[0], words(folded[0])),
            _Field("summary", summary, folded[1], words(folded[1])),
        )
        return [v.to_match() for v in self._judge(fields, explain=False, only=candidates)]

    def match_item(self, item: Item) -> list[Match]:
        """`match` on an item's title and summary."""
        return self.match(item.title, item.summary)

    def judge(
        self,
        title: str,
        summary: str = "",
        *,
        explain: bool = True,
        only: frozenset[int] | None = None,
    ) -> list[Verdict]:
        """Verdicts for this text. With `explain`, one for every watchlist that got at least
        one hit, matched or not (for `why` and `eval`); without, only the matched ones.

        A watchlist whose rule cannot hold for the groups hit costs a set check, not a
        verdict; fuzzy matching runs only where fuzzy hits could make the rule hold.
        """
        return self._judge((_field("title", title), _field("summary", summary)), explain, only)

    def _judge(
        self, fields: tuple[_Field, _Field], explain: bool, only: frozenset[int] | None
    ) -> list[Verdict]:
        hits: dict[int, list[_Hit]] = {}
        for fi, f in enumerate(fields):
            if f.words:
                self._exact_hits(fi, f, hits, only)
        verdicts = []
        for wi, found in hits.items():
            if only is not None and wi not in only:
                continue
            watchlist = self.watchlists[wi]
            groups = {h.group for h in found}
            possible = self._may_hold(wi, groups)
            verdict = _verdict(watchlist, found, fields, explain) if possible else None
            fuzzy_groups = self._fuzzy_groups.get(wi, set()) - groups
            if (
                fuzzy_groups
                and (verdict is None or not verdict.matched)
                and self._may_hold(wi, groups | fuzzy_groups)
            ):
                extra = self._fuzzy_hits(wi, fuzzy_groups, fields)
                if extra:
                    found = found + extra
                    verdict = _verdict(watchlist, found, fields, explain)
            if verdict is None and explain:
                verdict = _verdict(watchlist, found, fields)
            if verdict is not None and (explain or verdict.matched):
                verdicts.append(verdict)
        return verdicts

    def _may_hold(self, wi: int, groups: set[str], exact: bool = True) -> bool:
        """`_may_hold` of a watchlist's rule, remembered per set of groups hit."""
        key = (wi, frozenset(groups), exact)
        known = self._possible.get(key)
        if known is None:
            if len(self._possible) > 100_000:
                self._possible.clear()
            rule = self.watchlists[wi].rule
            known = self._possible[key] = _may_hold(rule, groups, exact=exact)
        return known

    def _exact_hits(
        self, fi: int, f: _Field, hits: dict[int, list[_Hit]], only: frozenset[int] | None
    ) -> None:
        """Add the exact hits of one field to `hits`, by watchlist (`only` these, if given)."""
        toks = f.words
        index = self._index
        present = self._first_words.intersection(toks)
        cased: list[str] | None = None
        for i in [i for i, tok in enumerate(toks) if tok in present] if present else ():
            for tail, entry in index[toks[i]]:
                if only is not None and entry.watchlist not in only:
                    continue
                end = i + 1 + len(tail)
                if tail and tuple(toks[i + 1 : end]) != tail:
                    continue
                if entry.cased is not None:
                    cased = cased if cased is not None else words(fold(f.text, lower=False))
                    if tuple(cased[i:end]) not in entry.cased:
                        continue
                hit = _Hit(entry.group, entry.alias.text, fi, i, end)
                hits.setdefault(entry.watchlist, []).append(hit)
        if "-" in f.folded:
            for pos, joined, size in joined_hyphenations(f.folded):
                for tail, entry in index.get(joined, ()):
                    if not tail and entry.cased is None:
                        hit = _Hit(entry.group, entry.alias.text, fi, pos, pos + size)
                        hits.setdefault(entry.watchlist, []).append(hit)
        if self._substring_finder and (self._ascii_substrings or not f.folded.isascii()):
            self._substring_hits(fi, f, hits)

    def _substring_hits(self, fi: int, f: _Field, hits: dict[int, list[_Hit]]) -> None:
        """CJK and substring aliases, all found in one Aho-Corasick pass over the field."""
        assert self._substring_finder is not None
        cased: str | None = None
        found = self._substring_finder.find_matches_as_indexes(f.folded, overlapping=True)
        for index, start, end in found:
            for entry in self._substrings[self._needles[index]]:
                if entry.alias.case_sensitive:
                    cased = cased if cased is not None else fold(f.text, lower=False)
                    if cased[start:end] != fold(nfkc(entry.alias.text), lower=False):
                        continue
                position = len(WORD.findall(f.folded, 0, start))
                hit = _Hit(entry.group, entry.alias.text, fi, position, position + 1, 100.0,
                           (start, end))  # fmt: skip
                hits.setdefault(entry.watchlist, []).append(hit)

    def _fuzzy_hits(self, wi: int, groups: set[str], fields: tuple[_Field, ...]) -> list[_Hit]:
        """Fuzzy hits of the aliases of `groups` (which have no exact hit) in either field."""
        extra: list[_Hit] = []
        for group in groups:
            for fi, f in enumerate(fields):
                for target, size, alias in self._fuzzy.get((wi, group), ()):
                    best = _best_fuzzy(target, size, alias.fuzzy_threshold, f.words)
                    if best is not None:
                        start, score = best
                        hit = _Hit(group, alias.text, fi, start, start + size, round(score, 1))
                        extra.append(hit)
        return extra


def _key_parts(alias: Alias) -> list[str]:
    """Substrings found (folded, hyphens removed) in every text the alias can hit.

    Exact: its longest word, less a final y or e that inflection may change ("duty" is
    in "duties", "impos" in "imposing"). Fuzzy, several words: each word, since a hit
    within the threshold (at most two edits) leaves one of them intact. Fuzzy, one word:
    its first and its last three letters, since one typo cannot spoil both. The one
    case given up is a typo in every word of a several-word alias.
    """
    folded = fold(nfkc(alias.text))
    if has_cjk(folded) or not alias.whole_word:
        return [folded.replace("-", "")]
    tokens = words(folded)
    if not tokens:
        return []
    if alias.fuzzy and not alias.case_sensitive and len(folded) >= MIN_FUZZY_LENGTH:
        if len(tokens) == 1:
            return [tokens[0][:3], tokens[0][-3:]]
        return [t[:-1] if len(t) > 3 and t[-1] in "ye" else t for t in tokens]
    longest = max(reversed(tokens), key=len)
    return [longest[:-1] if len(longest) > 3 and longest[-1] in "ye" else longest]


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


def _verdict(
    watchlist: Watchlist, hits: list[_Hit], fields: tuple[_Field, ...], explain: bool = True
) -> Verdict:
    """Score the hits and check the rule; quote each distinct hit as evidence when the
    verdict is a match or an explanation is wanted (quoting is most of the cost)."""
    by_group: dict[str, list[_Hit]] = defaultdict(list)
    for hit in hits:
        by_group[hit.group].append(hit)
    weights = {g.name: g.weight for g in watchlist.groups}
    score = 0.0
    for group, group_hits in by_group.items():
        best = max(
            (watchlist.title_weight if h.field == 0 else 1.0) * h.similarity / 100
            for h in group_hits
        )
        score += weights[group] * best
    rule_ok = _holds(watchlist.rule, by_group)
    if not explain and not (rule_ok and score >= watchlist.threshold):
        return Verdict(watchlist, score, rule_ok, ())
    seen: set[tuple[str, int, int]] = set()
    evidence = []
    spans: dict[int, list[tuple[int, int]]] = {}
    for h in sorted(hits, key=lambda h: (h.field, h.start, -h.end)):
        key = (h.group, h.field, h.start)
        if key not in seen:
            seen.add(key)
            f = fields[h.field]
            if h.field not in spans:
                spans[h.field] = word_spans(f.folded)
            quote = _quote(f, h, spans[h.field])
            evidence.append(Evidence(h.group, h.alias, f.name, quote, h.similarity))
    return Verdict(watchlist, score, rule_ok, tuple(evidence))


def _quote(f: _Field, hit: _Hit, spans: list[tuple[int, int]]) -> str:
    """The words of the field that the hit covers, as the article wrote them (NFKC)."""
    if hit.chars is not None:
        return f.text[hit.chars[0] : hit.chars[1]]
    if not spans:
        return f.text
    first = spans[min(hit.start, len(spans) - 1)]
    last = spans[min(hit.end, len(spans)) - 1]
    return f.text[first[0] : max(last[1], first[1])]


def _may_hold(rule: Rule, groups: set[str], optimistic: bool = True, exact: bool = True) -> bool:
    """Whether the rule can hold (`optimistic`: `near` assumed close) or surely holds (not:
    `near` assumed far) with hits in these groups; `none` swaps the two.

    With `exact` off, `groups` is only a superset of the groups hit (the pre-filter's
    view), so no group is surely present and `none` never rules a watchlist out.
    """
    match rule:
        case AllOf(children):
            return all(_may_hold(c, groups, optimistic, exact) for c in children)
        case AnyOf(children):
            return any(_may_hold(c, groups, optimistic, exact) for c in children)
        case NoneOf(children):
            return not any(_may_hold(c, groups, not optimistic, exact) for c in children)
        case Near(a, b, _):
            return optimistic and a in groups and b in groups
        case GroupRef(group):
            return group in groups and (optimistic or exact)
    raise TypeError(f"unknown rule {rule!r}")


def _holds(rule: Rule, hits: dict[str, list[_Hit]]) -> bool:
    """Whether `rule` holds for these hits by group, positions included."""
    match rule:
        case AllOf(children):
            return all(_holds(c, hits) for c in children)
        case AnyOf(children):
            return any(_holds(c, hits) for c in children)
        case NoneOf(children):
            return not any(_holds(c, hits) for c in children)
        case Near(a, b, within):
            return any(
                x.field == y.field and max(0, y.start - x.end, x.start - y.end) <= within
                for x in hits.get(a, ())
                for y in hits.get(b, ())
            )
        case GroupRef(group):
            return group in hits
    raise TypeError(f"unknown rule {rule!r}")
