"""The pre-filter rules out cheaply the watchlists that cannot match a text, never one that can.

Most items match no watchlist. `Prefilter` looks for the aliases' key parts in the folded
text with two Aho-Corasick automata (a small one for each watchlist's gate, then one for
every alias) and keeps only the watchlists whose rule may hold with the groups found; the
matcher tokenises and scores the text only for those. Aliases too short for an automaton
are looked up in the words once the matcher has them (`Prefilter.short_groups`).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol

from ahocorasick_rs import AhoCorasick, Implementation, MatchKind

from bot.matching.normalize import fold, inflections, nfkc, unspaced, variants, words
from bot.matching.rules import may_hold
from bot.matching.watchlists import Alias, Rule, Watchlist

MIN_FUZZY_LENGTH = 5  # shorter aliases never match fuzzily: "PLA" must not hit "plan"
# Shorter Latin key parts ("c" of "B.C.", "8" of "P-8") would hit nearly every text and slow
# the pre-filter's automaton; their aliases are checked on the words instead.
_MIN_KEY_PART = 3
_MAX_GATE_GROUPS = 3  # a watchlist's gate: at most this many groups


class _FieldWords(Protocol):
    """A field of an item as `Prefilter.short_groups` reads it, tokenised by the matcher."""

    @property
    def words(self) -> list[str]: ...

    @property
    def hyphenations(self) -> list[tuple[int, str, int]]: ...


class Prefilter:
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
            members = _members(watchlist)
            for group in watchlist.groups:
                bit = 1 << len(self._group_bits)
                self._group_bits.append((wi, group.name, bit))
                parts[group.name] = self._add_group(members[group.name], bit, masks)
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
        self._seen: dict[int, dict[int, frozenset[str]]] = {}

    def _add_group(
        self, aliases: Sequence[Alias], bit: int, masks: dict[str, int]
    ) -> list[str] | None:
        """File the key parts of a group's aliases (its own and those that imply it) under
        its bit; return them, or None when one of its aliases is too short to have any."""
        group_parts: list[str] | None = []
        for alias in aliases:
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
        for variant in variants(words(folded), folded, alias.lang):
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

    def seen(self, found: int) -> dict[int, frozenset[str]]:
        """The groups in `found` by watchlist: a group missing here has no hit in the text,
        fuzzy or exact (its key parts are not there), so the matcher need not look for one."""
        seen = self._seen.get(found)
        if seen is None:
            if len(self._seen) > 100_000:
                self._seen.clear()
            groups: dict[int, set[str]] = defaultdict(set)
            for wi, name, bit in self._group_bits:
                if found & bit:
                    groups[wi].add(name)
            seen = self._seen[found] = {wi: frozenset(names) for wi, names in groups.items()}
        return seen

    def _possible(self, found: int) -> frozenset[int]:
        """The watchlists whose rule may hold if the groups in `found` are hit."""
        return frozenset(
            wi
            for wi, names in self.seen(found).items()
            if may_hold(self._rules[wi], names, exact=False)
        )

    def short_groups(self, fields: Iterable[_FieldWords]) -> int:
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


def _members(watchlist: Watchlist) -> dict[str, list[Alias]]:
    """Each group's aliases: its own, then those of other groups that imply it."""
    members: dict[str, list[Alias]] = {g.name: list(g.aliases) for g in watchlist.groups}
    for group in watchlist.groups:
        for alias in group.aliases:
            for implied in alias.implies:
                members[implied].append(alias)
    return members


def _key_parts(alias: Alias) -> list[str] | None:
    """Substrings found (folded, hyphens and apostrophes removed) in every text the alias
    can hit; None for an alias whose parts would be too short to be selective.

    Exact: the longest word of each of its spellings (every inflection in its language
    and its hyphen-joined form: "duty" and "duties", "Канада" and "Канады"), since the
    matcher hits only those. Ending in `*`: what comes before it. Fuzzy, several words:
    what every inflection of each word keeps (its start, or its end where inflections go
    in front, as in Arabic), of three letters or more, since a hit within the threshold
    (at most two edits) leaves one of them intact. Fuzzy, one word: the first three and
    the last three letters of what its inflections keep (four from ten letters on), since
    one typo cannot spoil both. The one case given up is a typo in every longer word of a
    several-word alias. Unspaced scripts (Chinese, Japanese, Korean ...) and substrings:
    the alias itself.
    """
    folded = fold(nfkc(alias.text.removesuffix("*")))
    if unspaced(folded) or not alias.whole_word:
        part = folded.replace("-", "").replace("'", "")
        return [part] if part else []
    tokens = words(folded)
    if not tokens:
        return []
    if alias.fuzzy and not alias.case_sensitive and len(folded) >= MIN_FUZZY_LENGTH:
        kept = [_kept(inflections(t, alias.lang)) for t in tokens]
        if len(tokens) == 1:
            end = 4 if len(tokens[0]) >= 10 else 3  # (a swap of two letters spoils one end)
            word = kept[0]
            return [word[:end], word[-end:]] if len(word) >= 2 * end else [word[:end]]
        return [k for k in kept if len(k) >= _MIN_KEY_PART] or tokens
    if alias.prefix:
        return [tokens[0]] if len(tokens[0]) >= _MIN_KEY_PART else None
    at = max(reversed(range(len(tokens))), key=lambda i: len(tokens[i]))  # its longest word
    parts = set()
    for variant in variants(tokens, folded, alias.lang):
        part = variant[at] if len(variant) == len(tokens) else max(variant, key=len)
        if len(part) < _MIN_KEY_PART:
            return None
        parts.add(part)
    # a text holding "canadas" holds "canada": the shortest parts are enough
    return sorted(p for p in parts if not any(q != p and q in p for q in parts))


def _gate(rule: Rule, parts: dict[str, list[str] | None]) -> list[str] | None:
    """Key parts of a few groups without which the rule cannot hold, the ones least likely
    to occur by chance (longest parts); None when no few groups with only key parts do.

    `parts` holds each group's key parts, None for a group with a too-short alias.
    """
    eligible = [name for name, p in parts.items() if p]
    best: tuple[float, list[str]] | None = None
    for size in range(1, _MAX_GATE_GROUPS + 1):
        for gate in itertools.combinations(eligible, size):
            if may_hold(rule, set(parts) - set(gate), exact=False):
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


def _kept(forms: set[str]) -> str:
    """What every form of a word keeps: their common start (Ukrainian "тайванськ" of its
    endings) or, where that is shorter than three letters, their common end (Arabic
    "لصين" of الصين, والصين, للصين)."""
    start = _common_start(forms)
    if len(start) >= 3:
        return start
    return _common_start({form[::-1] for form in forms})[::-1]


def _common_start(forms: set[str]) -> str:
    """The longest start all of `forms` share."""
    first, last = min(forms), max(forms)
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), None)
    return first[: min(len(first), len(last)) if size is None else size]
