"""Watchlists compiled once into one word index; items matched against all of them at once.

A pre-filter over the raw folded text (`_Prefilter`) first rules out the watchlists that
cannot match, which is most of them for most items. For the rest, the exact pass looks
every word of an item up in a dict built from every alias of every watchlist (with
inflections and hyphen variants generated up front). Only a watchlist that got an exact
hit yet is still short of matching gets the fuzzy pass (rapidfuzz), and only for its
groups that have no hit. Every decision keeps its evidence.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import NamedTuple

from ahocorasick_rs import AhoCorasick, Implementation, MatchKind
from rapidfuzz import fuzz

from bot.core.models import Evidence, Item, Match, evidence_strings
from bot.matching.normalize import (
    fold,
    has_cjk,
    inflections,
    joined_hyphenations,
    nfkc,
    word_spans,
    words,
)
from bot.matching.watchlists import (
    Alias,
    AllOf,
    AnyOf,
    Group,
    GroupRef,
    Near,
    NoneOf,
    Rule,
    Watchlist,
    describe_rule,
)

MIN_FUZZY_LENGTH = 5  # shorter aliases never match fuzzily: "PLA" must not hit "plan"
_MAX_VARIANTS = 64
# Shorter Latin key parts ("c" of "B.C.", "8" of "P-8") would hit nearly every text and slow
# the pre-filter's automaton; their aliases are checked on the words instead.
_MIN_KEY_PART = 3
_MAX_GATE_GROUPS = 3  # a watchlist's gate: at most this many groups


@dataclass(frozen=True, slots=True)
class _Entry:
    watchlist: int
    group: str
    alias: Alias
    cased: frozenset[tuple[str, ...]] | None = None  # case-sensitive aliases: exact spellings


class _Spelling(NamedTuple):
    """One indexed spelling of an alias, filed under its first word."""

    tail: list[str]  # the words after the first
    size: int  # words in all
    watchlist: int
    group: str
    alias: str
    cased: frozenset[tuple[str, ...]] | None  # case-sensitive aliases: exact spellings


class _Spellings(NamedTuple):
    """The spellings filed under one first word, in the order they were added: the
    one-word ones, and by second word the ones a text with that second word may hit."""

    single: list[_Spelling]
    by_second: dict[str, list[_Spelling]]


class _View(NamedTuple):
    """The word index narrowed to some watchlists."""

    by_first: dict[str, _Spellings]
    first_words: frozenset[str]


class _Hit(NamedTuple):
    """An alias found in a field, by word positions (for `near`); quoted only when reported."""

    group: str
    alias: str
    field: int  # index into the item's fields: 0 title, 1 summary
    start: int
    end: int
    similarity: float = 100.0
    chars: tuple[int, int] | None = None  # exact character span, for substring hits


_END = attrgetter("end")
_POSITION = attrgetter("field", "start")


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


class _Field:
    """One field of an item as the matcher reads it: NFKC text (quoted in evidence), folded
    text, its words, and their character spans, computed on first use and then shared."""

    __slots__ = ("_hyphenations", "_spans", "folded", "name", "text", "words")

    def __init__(self, name: str, text: str, folded: str) -> None:
        self.name = name
        self.text = text
        self.folded = folded
        self.words = words(folded)
        self._spans: list[tuple[int, int]] | None = None
        self._hyphenations: list[tuple[int, str, int]] | None = None

    @property
    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of each of `words` in the text."""
        if self._spans is None:
            self._spans = word_spans(self.folded)
        return self._spans

    @property
    def hyphenations(self) -> list[tuple[int, str, int]]:
        """`joined_hyphenations` of the folded text."""
        if self._hyphenations is None:
            self._hyphenations = joined_hyphenations(self.folded) if "-" in self.folded else []
        return self._hyphenations

    def position(self, offset: int) -> int:
        """The index of the word at or after a character offset: how many start before it."""
        return bisect_left(self.spans, (offset, -1))


class _Prefilter:
    """The cheap exact pass before tokenising: which watchlists could match a text.

    Each alias contributes key parts (`_key_parts`), substrings that every text it can hit
    contains, folded and with hyphens and apostrophes removed. One Aho-Corasick automaton
    finds them all, so the groups found are a superset of the groups hit, and a watchlist
    whose rule cannot hold even with those cannot match. Before it a smaller automaton
    looks only for each watchlist's gate (`_gate`: a few groups with rare key parts
    without which its rule cannot hold) and rejects most texts at less cost. An alias
    with no part long enough to be selective ("B.C.", "Xi") is looked up in the words
    instead (`short_groups`), only when its group could make a rule hold.
    """

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        self._rules = [w.rule for w in watchlists]
        masks: dict[str, int] = defaultdict(int)
        self._group_bits: list[tuple[int, str, int]] = []  # (watchlist, group, bit)
        self._short: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        self._short_bits = 0
        gates: list[list[str] | None] = []
        for wi, watchlist in enumerate(watchlists):
            parts: dict[str, list[str] | None] = {}
            for group in watchlist.groups:
                bit = 1 << len(self._group_bits)
                self._group_bits.append((wi, group.name, bit))
                parts[group.name] = self._add_group(group, bit, masks)
            gates.append(_gate(watchlist.rule, parts))
        patterns = list(masks)
        self._automaton = AhoCorasick(
            patterns, matchkind=MatchKind.Standard, implementation=Implementation.DFA
        )
        self._masks = [masks[p] for p in patterns]
        self._gate = None  # without a gate for every watchlist, every text passes
        if gates and None not in gates:
            gate_parts = sorted({p for gate in gates for p in gate or ()})
            self._gate = AhoCorasick(gate_parts, implementation=Implementation.DFA)
        self._decisions: dict[int, tuple[frozenset[int], frozenset[int]]] = {}

    def _add_group(self, group: Group, bit: int, masks: dict[str, int]) -> list[str] | None:
        """File the key parts of a group's aliases under its bit; return them, or None
        when one of its aliases is too short to have any."""
        group_parts: list[str] | None = []
        for alias in group.aliases:
            parts = _key_parts(alias)
            if parts is None:
                self._add_short(alias, bit)
                group_parts = None
                continue
            for part in parts:
                masks[part] |= bit
            if group_parts is not None:
                group_parts.extend(parts)
        return group_parts

    def _add_short(self, alias: Alias, bit: int) -> None:
        """Index the lower-cased spellings of an alias whose key parts are too short."""
        folded = fold(nfkc(alias.text))
        self._short_bits |= bit
        for variant in _variants(words(folded), folded):
            self._short[variant[0]].append((variant[1:], bit))

    def groups(self, folded: str) -> int | None:
        """The groups whose key parts the folded text contains, as a bit mask; None when
        no watchlist's gate is there."""
        text = folded.replace("-", "").replace("'", "")
        if self._gate is not None and not self._gate.find_matches_as_indexes(text):
            return None
        found = 0
        masks = self._masks
        for index, _, _ in self._automaton.find_matches_as_indexes(text, overlapping=True):
            found |= masks[index]
        return found

    def decide(self, found: int) -> tuple[frozenset[int], frozenset[int]]:
        """The watchlists whose rule may hold with the groups in `found`: without, and with,
        the groups of the short aliases (which the automaton cannot see)."""
        decision = self._decisions.get(found)
        if decision is None:
            if len(self._decisions) > 100_000:
                self._decisions.clear()
            decision = self._decisions[found] = (
                self._possible(found),
                self._possible(found | self._short_bits),
            )
        return decision

    def _possible(self, found: int) -> frozenset[int]:
        """The watchlists whose rule may hold if the groups in `found` are hit."""
        groups: dict[int, set[str]] = defaultdict(set)
        for wi, name, bit in self._group_bits:
            if found & bit:
                groups[wi].add(name)
        return frozenset(
            wi for wi, names in groups.items() if _may_hold(self._rules[wi], names, exact=False)
        )

    def short_groups(self, fields: tuple[_Field, _Field]) -> int:
        """The groups of the short aliases whose words (lower-cased) appear in the fields."""
        found = 0
        short = self._short
        for f in fields:
            toks = f.words
            for i in [i for i, tok in enumerate(toks) if tok in short] if short else ():
                for tail, bit in short[toks[i]]:
                    if not tail or tuple(toks[i + 1 : i + 1 + len(tail)]) == tail:
                        found |= bit
            for _, joined, _ in f.hyphenations:
                for tail, bit in short.get(joined, ()):
                    found |= 0 if tail else bit
        return found


class Matcher:
    """Matches items against a fixed set of watchlists. Build once; `match` is thread-safe."""

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        self.watchlists = tuple(watchlists)
        self._index: dict[str, list[_Spelling]] = defaultdict(list)
        self._substrings: dict[str, list[_Entry]] = defaultdict(list)
        self._fuzzy: dict[tuple[int, str], list[tuple[str, int, Alias]]] = defaultdict(list)
        for wi, watchlist in enumerate(self.watchlists):
            for group in watchlist.groups:
                for alias in group.aliases:
                    self._add(_Entry(wi, group.name, alias))
        self._index = dict(self._index)
        self._views: dict[frozenset[int] | None, _View] = {}
        self._prefilter = _Prefilter(self.watchlists)
        self._possible: dict[tuple[int, frozenset[str]], bool] = {}
        self._known_evidence: dict[tuple[str, str, str, str, float], Evidence] = {}
        self._ascii_substrings = any(s.isascii() for s in self._substrings)
        self._needles = list(self._substrings)
        self._substring_finder = (
            AhoCorasick(self._needles, matchkind=MatchKind.Standard) if self._needles else None
        )
        self._fuzzy_groups = {
            wi: frozenset(g for w, g in self._fuzzy if w == wi) for wi, _ in self._fuzzy
        }
        self._weights = [{g.name: g.weight for g in w.groups} for w in self.watchlists]
        self._near = frozenset(wi for wi, w in enumerate(self.watchlists) if _has_near(w.rule))

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
        for v in variants:
            spelling = _Spelling(
                list(v[1:]), len(v), entry.watchlist, entry.group, alias.text, entry.cased
            )
            self._index[v[0]].append(spelling)
        if alias.fuzzy and len(folded) >= MIN_FUZZY_LENGTH and not alias.case_sensitive:
            key = (entry.watchlist, entry.group)
            self._fuzzy[key].append((" ".join(tokens), len(tokens), alias))

    def match(self, title: str, summary: str = "") -> list[Match]:
        """The watchlists this text matches, each with score and evidence."""
        title, summary = nfkc(title or ""), nfkc(summary or "")
        both = f"{title}\n{summary}"
        # both fields folded at once; folding keeps lengths, so each is a slice
        both = both.lower() if both.isascii() else f"{fold(title)}\n{fold(summary)}"
        prefilter = self._prefilter
        found = prefilter.groups(both)
        if found is None:
            return []
        candidates, with_short = prefilter.decide(found)
        if not with_short:
            return []
        fields = (
            _Field("title", title, both[: len(title)]),
            _Field("summary", summary, both[len(title) + 1 :]),
        )
        if candidates != with_short:
            candidates = prefilter.decide(found | prefilter.short_groups(fields))[0]
            if not candidates:
                return []
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
            groups = frozenset(h.group for h in found)
            possible = self._may_hold(wi, groups)
            verdict = self._verdict(wi, found, fields, explain) if possible else None
            fuzzy_groups = self._fuzzy_groups.get(wi, frozenset()) - groups
            if (
                fuzzy_groups
                and (verdict is None or not verdict.matched)
                and self._may_hold(wi, groups | fuzzy_groups)
            ):
                extra = self._fuzzy_hits(wi, fuzzy_groups, fields)
                if extra:
                    found = found + extra
                    verdict = self._verdict(wi, found, fields, explain)
            if verdict is None and explain:
                verdict = self._verdict(wi, found, fields)
            if verdict is not None and (explain or verdict.matched):
                verdicts.append(verdict)
        return verdicts

    def _may_hold(self, wi: int, groups: frozenset[str]) -> bool:
        """`_may_hold` of a watchlist's rule, remembered per set of groups hit."""
        key = (wi, groups)
        known = self._possible.get(key)
        if known is None:
            if len(self._possible) > 100_000:
                self._possible.clear()
            known = self._possible[key] = _may_hold(self.watchlists[wi].rule, groups)
        return known

    def _verdict(
        self, wi: int, hits: list[_Hit], fields: tuple[_Field, ...], explain: bool = True
    ) -> Verdict:
        """Score the hits and check the rule; quote each distinct hit as evidence when the
        verdict is a match or an explanation is wanted (quoting is most of the cost)."""
        watchlist = self.watchlists[wi]
        title_weight = watchlist.title_weight
        best: dict[str, float] = {}  # by group, in the order of their first hit
        for h in hits:
            value = (title_weight if h.field == 0 else 1.0) * h.similarity / 100
            if value > best.get(h.group, -1.0):
                best[h.group] = value
        weights = self._weights[wi]
        score = 0.0
        for group, value in best.items():
            score += weights[group] * value
        rule_ok = self._rule_holds(wi, frozenset(best), hits)
        if not explain and not (rule_ok and score >= watchlist.threshold):
            return Verdict(watchlist, score, rule_ok, ())
        return Verdict(watchlist, score, rule_ok, self._evidence(hits, fields))

    def _evidence(self, hits: list[_Hit], fields: tuple[_Field, ...]) -> tuple[Evidence, ...]:
        """Each distinct hit (by group, field and first word) quoted, in reading order; at
        one position the longest hit wins.

        Equal evidence recurs across items and watchlists, so one immutable instance of
        each is kept and shared (a dict lookup costs less than building one).
        """
        known = self._known_evidence
        if len(known) > 10_000:
            known.clear()
        seen: set[tuple[str, int, int]] = set()
        evidence = []
        # reading order, the longest hit first at one position (two stable C-level sorts)
        for h in sorted(sorted(hits, key=_END, reverse=True), key=_POSITION):
            key = (h.group, h.field, h.start)
            if key not in seen:
                seen.add(key)
                f = fields[h.field]
                spec = (h.group, h.alias, f.name, _quote(f, h), h.similarity)
                shared = known.get(spec)
                if shared is None:
                    shared = known[spec] = Evidence(*spec)
                evidence.append(shared)
        return tuple(evidence)

    def _rule_holds(self, wi: int, groups: frozenset[str], hits: list[_Hit]) -> bool:
        """Whether the watchlist's rule holds; looked up by the groups hit unless the rule
        has a `near`, which needs the hits' positions."""
        if wi not in self._near:
            return self._may_hold(wi, groups)  # without `near` the same as `_holds`
        by_group: dict[str, list[_Hit]] = defaultdict(list)
        for hit in hits:
            by_group[hit.group].append(hit)
        return _holds(self.watchlists[wi].rule, by_group)

    def _view(self, only: frozenset[int] | None) -> _View:
        """The word index narrowed to the watchlists `only` (all for None), built on first
        use and kept (a few dozen at most)."""
        view = self._views.get(only)
        if view is None:
            if len(self._views) > 64:
                self._views.clear()
            index: dict[str, _Spellings] = {}
            for first, spellings in self._index.items():
                kept = [s for s in spellings if only is None or s.watchlist in only]
                if kept:
                    index[first] = _by_second_word(kept)
            view = self._views[only] = _View(index, frozenset(index))
        return view

    def _exact_hits(
        self, fi: int, f: _Field, hits: dict[int, list[_Hit]], only: frozenset[int] | None
    ) -> None:
        """Add the exact hits of one field to `hits`, by watchlist (`only` these, if given)."""
        toks = f.words
        index, first_words = self._view(only)
        present = first_words.intersection(toks)
        cased: list[str] | None = None
        last = len(toks) - 1
        for i in [i for i, tok in enumerate(toks) if tok in present] if present else ():
            single, by_second = index[toks[i]]
            candidates = by_second.get(toks[i + 1], single) if by_second and i < last else single
            for tail, size, wi, group, alias, spellings in candidates:
                end = i + size
                if tail and toks[i + 1 : end] != tail:
                    continue
                if spellings is not None:
                    cased = cased if cased is not None else words(fold(f.text, lower=False))
                    if tuple(cased[i:end]) not in spellings:
                        continue
                _add_hit(hits, wi, _Hit(group, alias, fi, i, end))
        for start, joined, size in f.hyphenations:
            filed = index.get(joined)
            for s in filed.single if filed is not None else ():
                if s.cased is None:
                    pos = f.position(start)
                    _add_hit(hits, s.watchlist, _Hit(s.group, s.alias, fi, pos, pos + size))
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
                position = f.position(start)
                hit = _Hit(entry.group, entry.alias.text, fi, position, position + 1, 100.0,
                           (start, end))  # fmt: skip
                _add_hit(hits, entry.watchlist, hit)

    def _fuzzy_hits(
        self, wi: int, groups: frozenset[str], fields: tuple[_Field, ...]
    ) -> list[_Hit]:
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


def _key_parts(alias: Alias) -> list[str] | None:
    """Substrings found (folded, hyphens and apostrophes removed) in every text the alias
    can hit; None for an alias whose parts would be too short to be selective.

    Exact: its longest word, less a final y or e that inflection may change ("duty" is
    in "duties", "impos" in "imposing"). Fuzzy, several words: each word of three letters
    or more, since a hit within the threshold (at most two edits) leaves one of them
    intact. Fuzzy, one word: its first and its last three letters, since one typo cannot
    spoil both. The one case given up is a typo in every longer word of a several-word
    alias. Chinese and Japanese aliases and substrings: the alias itself.
    """
    folded = fold(nfkc(alias.text))
    if has_cjk(folded) or not alias.whole_word:
        part = folded.replace("-", "").replace("'", "")
        return [part] if part else []
    tokens = words(folded)
    if not tokens:
        return []
    if alias.fuzzy and not alias.case_sensitive and len(folded) >= MIN_FUZZY_LENGTH:
        if len(tokens) == 1:
            return [tokens[0][:3], tokens[0][-3:]]
        return [_stem(t) for t in tokens if len(t) >= _MIN_KEY_PART] or tokens
    longest = _stem(max(reversed(tokens), key=len))
    return [longest] if len(longest) >= _MIN_KEY_PART else None


def _gate(rule: Rule, parts: dict[str, list[str] | None]) -> list[str] | None:
    """Key parts of a few groups without which the rule cannot hold, the ones least likely
    to occur by chance (longest parts); None when no few groups with only key parts do.

    `parts` holds each group's key parts, None for a group with a too-short alias.
    """
    eligible = [name for name, p in parts.items() if p]
    best: tuple[float, list[str]] | None = None
    for size in range(1, _MAX_GATE_GROUPS + 1):
        for gate in itertools.combinations(eligible, size):
            if _may_hold(rule, set(parts) - set(gate), exact=False):
                continue
            gate_parts = [p for name in gate for p in parts[name] or ()]
            chance = sum(_chance(p) for p in gate_parts)
            if best is None or chance < best[0]:
                best = (chance, gate_parts)
    return best[1] if best is not None else None


def _chance(part: str) -> float:
    """A rough likelihood that a key part occurs in a text: falls with its length in bytes
    (a Chinese character counts three)."""
    return 26.0 ** -len(part.encode())


def _stem(token: str) -> str:
    """A word less a final y or e that inflection may change."""
    return token[:-1] if len(token) > 3 and token[-1] in "ye" else token


def _field(name: str, text: str) -> _Field:
    normal = nfkc(text or "")
    return _Field(name, normal, fold(normal))


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


def _by_second_word(spellings: list[_Spelling]) -> _Spellings:
    """File the spellings under one first word by their second word, keeping their order."""
    single = [s for s in spellings if not s.tail]
    seconds = {s.tail[0] for s in spellings if s.tail}
    by_second = {w: [s for s in spellings if not s.tail or s.tail[0] == w] for w in sorted(seconds)}
    return _Spellings(single, by_second)


def _add_hit(hits: dict[int, list[_Hit]], watchlist: int, hit: _Hit) -> None:
    """Append a hit to its watchlist's list (watchlists in the order of their first hit)."""
    found = hits.get(watchlist)
    if found is None:
        hits[watchlist] = [hit]
    else:
        found.append(hit)


def _quote(f: _Field, hit: _Hit) -> str:
    """The words of the field that the hit covers, as the article wrote them (NFKC)."""
    if hit.chars is not None:
        return f.text[hit.chars[0] : hit.chars[1]]
    spans = f.spans
    n = len(spans)
    if not n:
        return f.text
    first = spans[hit.start if hit.start < n else n - 1]
    last = spans[(hit.end if hit.end < n else n) - 1]
    return f.text[first[0] : max(last[1], first[1])]


def _may_hold(
    rule: Rule, groups: AbstractSet[str], optimistic: bool = True, exact: bool = True
) -> bool:
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


def _has_near(rule: Rule) -> bool:
    """Whether a `near` appears anywhere in the rule."""
    if isinstance(rule, Near):
        return True
    return isinstance(rule, AllOf | AnyOf | NoneOf) and any(_has_near(c) for c in rule.children)


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
