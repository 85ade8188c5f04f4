"""Watchlists compiled once into one word index; items matched against all of them at once.

The pre-filter (`bot.matching.prefilter`) first rules out the watchlists that cannot
match, which is most of them for most items. For the rest, the exact pass looks every
word of an item up in a dict built from every alias of every watchlist (with
inflections and hyphen variants generated up front); aliases ending in `*` by their
first three letters; aliases in unspaced scripts with one Aho-Corasick pass. An alias
that implies groups is filed under each of them, and a hit inside one of its `not_in`
phrases is dropped. Only a watchlist that got an exact hit yet is still short of
matching gets the fuzzy pass (rapidfuzz), and only for its groups that have no hit.
Every decision keeps its evidence.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import NamedTuple

from ahocorasick_rs import AhoCorasick, MatchKind
from rapidfuzz import fuzz

from bot.core.models import Evidence, Item, Match
from bot.matching.normalize import (
    fold,
    is_han_or_kana,
    is_hangul,
    joined_hyphenations,
    nfkc,
    unspaced,
    variants,
    word_spans,
    words,
)
from bot.matching.prefilter import MIN_FUZZY_LENGTH, Prefilter
from bot.matching.rules import has_near, holds, may_hold, what_it_lacks
from bot.matching.watchlists import Alias, Watchlist, describe_rule


class _Guard(NamedTuple):
    """An alias's `not_in` phrases: the spaced ones as word windows around a hit (by the
    hit's offset in the phrase and the phrase's length, every spelling), the unspaced ones
    (Chinese, Japanese ...) as folded substrings."""

    windows: tuple[tuple[int, int, frozenset[tuple[str, ...]]], ...]
    substrings: tuple[str, ...]

    def cancels(self, f: _Field, start: int, end: int, chars: tuple[int, int] | None) -> bool:
        """Whether a hit covering words `start`..`end` (or these characters) of the field
        lies inside one of the phrases."""
        toks = f.words
        for offset, size, phrases in self.windows:
            first = start - offset
            if first >= 0 and first + size >= end and tuple(toks[first : first + size]) in phrases:
                return True
        if self.substrings:
            if chars is None:
                spans = f.spans
                chars = (spans[start][0], spans[min(end, len(spans)) - 1][1])
            begin, stop = chars
            for text in self.substrings:
                if text in f.folded[max(0, stop - len(text)) : begin + len(text)]:
                    return True
        return False


def _guard(alias: Alias) -> _Guard | None:
    """The compiled `not_in` of an alias (None when it has none)."""
    if not alias.not_in:
        return None
    folded_alias = fold(nfkc(alias.text.removesuffix("*")))
    spellings = (
        variants(words(folded_alias), folded_alias, alias.lang) if not alias.prefix else set()
    )
    windows: dict[tuple[int, int], set[tuple[str, ...]]] = defaultdict(set)
    substrings: list[str] = []
    for phrase in alias.not_in:
        folded = fold(nfkc(phrase))
        if unspaced(folded):
            substrings.append(folded)
            continue
        for p in variants(words(folded), folded, alias.lang) if words(folded) else ():
            offsets = {
                i for v in spellings for i in range(len(p) - len(v) + 1) if p[i : i + len(v)] == v
            } or set(range(len(p)))  # (an alias ending in *: anywhere in the phrase)
            for offset in offsets:
                windows[offset, len(p)].add(p)
    compiled = tuple((o, n, frozenset(ps)) for (o, n), ps in sorted(windows.items()))
    return _Guard(compiled, tuple(substrings))


@dataclass(frozen=True, slots=True)
class _Entry:
    watchlist: int
    group: str
    alias: Alias
    cased: frozenset[tuple[str, ...]] | None = None  # case-sensitive aliases: exact spellings
    guard: _Guard | None = None
    boundary: str | None = None  # substring aliases: "hangul" or "isolated" (`_bounded`)


class _Spelling(NamedTuple):
    """One indexed spelling of an alias, filed under its first word."""

    tail: list[str]  # the words after the first
    size: int  # words in all
    watchlist: int
    group: str
    alias: str
    cased: frozenset[tuple[str, ...]] | None  # case-sensitive aliases: exact spellings
    guard: _Guard | None  # its `not_in` phrases


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
        """Why this verdict did not match, in the watchlist's group names: what its rule
        still needs or what blocked it, or the score short of the threshold; then the
        groups it found (`needs china; found canada, trade`)."""
        hit = {e.group for e in self.evidence}
        found = "found " + (", ".join(sorted(hit)) or "no group")
        if self.rule_ok:
            short = self.watchlist.threshold - self.score
            return (
                f"score {self.score:g} below threshold {self.watchlist.threshold:g} (short by "
                f"{short:.3g}); {found}"
            )
        names = [g.name for g in self.watchlist.groups]
        wanted, blocking = what_it_lacks(self.watchlist.rule, hit, names)
        parts = []
        if wanted:
            parts.append(
                "needs " + " or ".join(wanted[:4]) + (" or ..." if len(wanted) > 4 else "")
            )
        if blocking:
            parts.append("blocked by " + " or ".join(blocking))
        if not parts:  # every group is there: a `near` found them too far apart
            parts.append(f"its groups too far apart for {describe_rule(self.watchlist.rule)}")
        return "; ".join([*parts, found])


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


class Matcher:
    """Matches items against a fixed set of watchlists. Build once; `match` is thread-safe."""

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        self.watchlists = tuple(watchlists)
        self._index: dict[str, list[_Spelling]] = defaultdict(list)
        self._prefixes: dict[str, list[_Spelling]] = defaultdict(list)
        self._substrings: dict[str, list[_Entry]] = defaultdict(list)
        self._fuzzy: dict[tuple[int, str], list[tuple[str, int, Alias, _Guard | None]]] = (
            defaultdict(list)
        )
        for wi, watchlist in enumerate(self.watchlists):
            for group in watchlist.groups:
                for alias in group.aliases:
                    guard = _guard(alias)
                    for name in (group.name, *alias.implies):  # a hit counts for each
                        self._add(_Entry(wi, name, alias, guard=guard))
        self._index = dict(self._index)
        self._prefix_heads: dict[str, list[tuple[str, list[_Spelling]]]] = defaultdict(list)
        for prefix, spellings in self._prefixes.items():
            self._prefix_heads[prefix[:3]].append((prefix, spellings))
        self._prefix_heads = dict(self._prefix_heads)
        self._views: dict[frozenset[int] | None, _View] = {}
        self._prefilter = Prefilter(self.watchlists)
        self._possible: dict[tuple[int, frozenset[str], bool], bool] = {}
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
        self._near = frozenset(wi for wi, w in enumerate(self.watchlists) if has_near(w.rule))

    def _add(self, entry: _Entry) -> None:
        alias = entry.alias
        folded = fold(nfkc(alias.text.removesuffix("*")), lower=not alias.case_sensitive)
        if unspaced(folded) or not alias.whole_word:
            boundary = _boundary(alias, folded)
            self._substrings[folded.lower()].append(replace(entry, boundary=boundary))
            return
        tokens = words(folded)
        if not tokens:
            return
        if alias.prefix:
            spelling = _Spelling([], 1, entry.watchlist, entry.group, alias.text, None, entry.guard)
            self._prefixes[tokens[0]].append(spelling)
            return
        forms = variants(tokens, folded, alias.lang)
        if alias.case_sensitive:  # indexed lower-cased; the spelling is checked on a hit
            lowered = {tuple(t.lower() for t in v) for v in forms}
            entry = replace(entry, cased=frozenset(forms))
            forms = lowered
        for v in forms:
            spelling = _Spelling(
                list(v[1:]),
                len(v),
                entry.watchlist,
                entry.group,
                alias.text,
                entry.cased,
                entry.guard,
            )
            self._index[v[0]].append(spelling)
        if alias.fuzzy and len(folded) >= MIN_FUZZY_LENGTH and not alias.case_sensitive:
            key = (entry.watchlist, entry.group)
            self._fuzzy[key].append((" ".join(tokens), len(tokens), alias, entry.guard))

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
        seen = prefilter.seen(found)
        return [v.to_match() for v in self._judge(fields, False, candidates, seen)]

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
        self,
        fields: tuple[_Field, _Field],
        explain: bool,
        only: frozenset[int] | None,
        seen: dict[int, frozenset[str]] | None = None,
    ) -> list[Verdict]:
        """Verdicts from the fields' hits; `seen` (the pre-filter's groups by watchlist), when
        given, limits the fuzzy search to the groups whose key parts the text holds."""
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
            if seen is not None:
                fuzzy_groups &= seen.get(wi, frozenset())
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

    def _may_hold(self, wi: int, groups: frozenset[str], optimistic: bool = True) -> bool:
        """`may_hold` of a watchlist's rule, remembered per set of groups hit; not
        `optimistic`, whether it surely holds, however far apart each `near`'s hits are."""
        key = (wi, groups, optimistic)
        known = self._possible.get(key)
        if known is None:
            if len(self._possible) > 100_000:
                self._possible.clear()
            rule = self.watchlists[wi].rule
            known = self._possible[key] = may_hold(rule, groups, optimistic)
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
        has a `near` and the groups alone do not settle it, when it needs the hits' positions."""
        if wi not in self._near:
            return self._may_hold(wi, groups)  # without `near` the same as `holds`
        if self._may_hold(wi, groups, optimistic=False):
            return True  # it holds however far apart the hits of each `near` are
        by_group: dict[str, list[_Hit]] = defaultdict(list)
        for hit in hits:
            by_group[hit.group].append(hit)
        return holds(self.watchlists[wi].rule, by_group)

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
            for tail, size, wi, group, alias, spellings, guard in candidates:
                end = i + size
                if tail and toks[i + 1 : end] != tail:
                    continue
                if spellings is not None:
                    cased = cased if cased is not None else words(fold(f.text, lower=False))
                    if tuple(cased[i:end]) not in spellings:
                        continue
                if guard is not None and guard.cancels(f, i, end, None):
                    continue
                _add_hit(hits, wi, _Hit(group, alias, fi, i, end))
        for start, joined, size in f.hyphenations:
            filed = index.get(joined)
            for s in filed.single if filed is not None else ():
                if s.cased is None:
                    pos = f.position(start)
                    if s.guard is None or not s.guard.cancels(f, pos, pos + size, None):
                        _add_hit(hits, s.watchlist, _Hit(s.group, s.alias, fi, pos, pos + size))
        if self._prefixes:
            self._prefix_hits(fi, f, hits, only)
        if self._substring_finder and (self._ascii_substrings or not f.folded.isascii()):
            self._substring_hits(fi, f, hits)

    def _prefix_hits(
        self, fi: int, f: _Field, hits: dict[int, list[_Hit]], only: frozenset[int] | None
    ) -> None:
        """Hits of the aliases ending in `*`: words that begin with one of them (looked up
        by their first three letters, then compared)."""
        heads = self._prefix_heads
        for i, tok in enumerate(f.words):
            candidates = heads.get(tok[:3])
            if candidates is None:
                continue
            for prefix, spellings in candidates:
                if not tok.startswith(prefix):
                    continue
                for s in spellings:
                    if only is not None and s.watchlist not in only:
                        continue
                    if s.guard is None or not s.guard.cancels(f, i, i + 1, None):
                        _add_hit(hits, s.watchlist, _Hit(s.group, s.alias, fi, i, i + 1))

    def _substring_hits(self, fi: int, f: _Field, hits: dict[int, list[_Hit]]) -> None:
        """CJK and substring aliases, all found in one Aho-Corasick pass over the field."""
        assert self._substring_finder is not None
        cased: str | None = None
        found = self._substring_finder.find_matches_as_indexes(f.folded, overlapping=True)
        text = f.folded
        for index, start, end in found:
            for entry in self._substrings[self._needles[index]]:
                if entry.boundary is not None and not _bounded(entry.boundary, text, start, end):
                    continue
                if entry.alias.case_sensitive:
                    cased = cased if cased is not None else fold(f.text, lower=False)
                    if cased[start:end] != fold(nfkc(entry.alias.text), lower=False):
                        continue
                position = f.position(start)
                if entry.guard is not None and entry.guard.cancels(
                    f, position, position + 1, (start, end)
                ):
                    continue
                hit = _Hit(entry.group, entry.alias.text, fi, position, position + 1, 100.0,
                           (start, end))  # fmt: skip
                _add_hit(hits, entry.watchlist, hit)

    def _fuzzy_hits(
        self, wi: int, groups: frozenset[str], fields: tuple[_Field, ...]
    ) -> list[_Hit]:
        """Fuzzy hits of the aliases of `groups` (which have no exact hit) in either field."""
        extra: list[_Hit] = []
        for group in sorted(groups):  # a set's order varies between processes; evidence may not
            for fi, f in enumerate(fields):
                for target, size, alias, guard in self._fuzzy.get((wi, group), ()):
                    best = _best_fuzzy(target, size, alias.fuzzy_threshold, f.words)
                    if best is not None:
                        start, score = best
                        if guard is not None and guard.cancels(f, start, start + size, None):
                            continue
                        hit = _Hit(group, alias.text, fi, start, start + size, round(score, 1))
                        extra.append(hit)
        return extra


def _boundary(alias: Alias, folded: str) -> str | None:
    """How a substring alias must sit in the text (`_bounded`): Korean aliases at the start
    of a word ("hangul"), Korean abbreviations in Chinese characters (中, 日) alone
    ("isolated"); None for the rest."""
    if not alias.whole_word or not folded:
        return None
    if is_hangul(folded[0]):
        return "hangul"
    if alias.lang == "ko" and all(map(is_han_or_kana, folded)):
        return "isolated"
    return None


def _bounded(boundary: str, text: str, start: int, end: int) -> bool:
    """Whether a substring hit at `start`..`end` sits as its boundary requires: "hangul",
    not after another Hangul character (a Korean word begins there; particles such as
    캐나다와, 캐나다산 may follow); "isolated", next to no other Chinese character or kana
    and not after a digit (中 in "中, 加 카놀라" but not in 中国, 日 not in "16日")."""
    before = text[start - 1] if start else " "
    if boundary == "hangul":
        return not is_hangul(before)
    after = text[end] if end < len(text) else " "
    return not (is_han_or_kana(before) or before.isdigit() or is_han_or_kana(after))


def _field(name: str, text: str) -> _Field:
    normal = nfkc(text or "")
    return _Field(name, normal, fold(normal))


def _best_fuzzy(
    target: str, size: int, threshold: float, toks: list[str]
) -> tuple[int, float] | None:
    """The best window of `size` words within `threshold` of `target`, guarded against noise."""
    best: tuple[int, float] | None = None
    first = target[0]
    for i in range(len(toks) - size + 1):
        if toks[i][:1] != first:  # the window's first letter, before building the window
            continue
        candidate = " ".join(toks[i : i + size])
        if abs(len(candidate) - len(target)) > 3:
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
