"""Words near in spelling: a set of words that answers, for any word, which of them begin
with the same letters and are within a rapidfuzz ratio of it, without comparing it to
every word.

rapidfuzz's `ratio` is 100 * (1 - d / (len(a) + len(b))), d the insertions and deletions
turning one word into the other, so a ratio of at least `similarity` bounds d by a share
r = 1 - similarity / 100 of the two lengths. Two such words have a common subsequence
that each reaches by deleting at most floor(2r/(1+r) * its length) letters (after the
shared first letters, which a longest common subsequence always keeps), so words up to a
few deletions deep are filed under every deletion variant of their tail: two near words
share a variant. A longer word would have too many variants; it is filed by its first
letters and length instead, and found by comparing the words of the lengths it can be
near (their lengths differ by at most the same share).
"""

from __future__ import annotations

import math
from collections.abc import Set
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz import fuzz

from bot.matching.postings import Postings

MAX_DELETIONS = 2  # deeper than this, a word is filed by length instead of by variants
_CACHE = 1 << 12  # words whose deletion variants are kept (looked up, filed, removed)
_NONE: frozenset[str] = frozenset()


class NearWords:
    """A multiset of words; `near(word)` is every distinct word in it, other than `word`,
    with the same first `prefix` letters and `fuzz.ratio` at least `similarity`."""

    def __init__(self, similarity: float, prefix: int) -> None:
        self.similarity = similarity
        self.prefix = prefix
        share = Fraction(100 - similarity) / 100
        self._depth_share = 2 * share / (1 + share)  # deletions per letter, at most
        self._length_share = (1 - share) / (1 + share)  # shortest partner per letter
        self._last_search: tuple[str, set[str]] | None = None  # until the set changes
        self._plans: dict[int, _Plan] = {}
        self._count: dict[str, int] = {}
        self._neighbours: dict[str, set[str]] = {}  # of the words that have any
        self._by_variant: Postings[int, str] = Postings()  # by hash of `_variant_keys`
        self._by_length: Postings[tuple[str, int], str] = Postings()

    def __contains__(self, word: object) -> bool:
        """Whether `word` is in the set."""
        return word in self._count

    def __len__(self) -> int:
        """The number of distinct words."""
        return len(self._count)

    def add(self, word: str) -> None:
        """Add one occurrence of `word`."""
        count = self._count.get(word, 0)
        self._count[word] = count + 1
        if count:
            return
        neighbours = self._searched(word)
        self._last_search = None
        for other in neighbours:
            self._neighbours.setdefault(other, set()).add(word)
        if neighbours:
            self._neighbours[word] = neighbours
        for key in self._variant_keys(word):
            self._by_variant.add(key, word)
        if self._filed_by_length(word):
            self._by_length.add((word[: self.prefix], len(word)), word)

    def remove(self, word: str) -> None:
        """Remove one occurrence of `word` (which must be in the set)."""
        count = self._count[word] - 1
        if count:
            self._count[word] = count
            return
        del self._count[word]
        self._last_search = None
        for other in self._neighbours.pop(word, ()):
            theirs = self._neighbours[other]
            theirs.discard(word)
            if not theirs:
                del self._neighbours[other]
        for key in self._variant_keys(word):
            self._by_variant.discard(key, word)
        if self._filed_by_length(word):
            self._by_length.discard((word[: self.prefix], len(word)), word)

    def near(self, word: str) -> Set[str]:
        """The words in the set near `word` (not `word` itself). Do not modify the result."""
        neighbours = self._neighbours.get(word)
        if neighbours is not None:
            return neighbours
        return _NONE if word in self._count else self._searched(word)

    def _searched(self, word: str) -> set[str]:
        """`_search(word)`, kept until the set changes: a word looked up, then added, is
        searched once."""
        if self._last_search is None or self._last_search[0] != word:
            self._last_search = (word, self._search(word))
        return self._last_search[1]

    def _search(self, word: str) -> set[str]:
        """`near(word)` looked up in the variant and length files."""
        plan = self._plan(len(word))
        head = word[: self.prefix]
        found: set[str] = set()
        if plan.depth is not None:
            by_variant = self._by_variant
            for variant in _deletion_variants(word[self.prefix :], plan.depth):
                found.update(by_variant.get(hash(head + variant)))
        for length in plan.scan:
            found.update(self._by_length.get((head, length)))
        found.discard(word)
        prefix, cutoff = self.prefix, self.similarity
        return {
            other
            for other in found
            if other[:prefix] == head and fuzz.ratio(word, other, score_cutoff=cutoff)
        }

    def _variant_keys(self, word: str) -> list[int]:
        """The keys a word is filed under by variant: the hash of its first letters and
        each deletion variant of the rest joined (none for a word too long for variants).

        The first letters are `prefix` letters, or the whole word when shorter (then its
        only variant is empty), so the joined string stands for one (first letters,
        variant); a hash shared by chance only adds a word that `fuzz.ratio` then rules
        out.
        """
        depth = self._plan(len(word)).depth
        if depth is None:
            return []
        head = word[: self.prefix]
        variants = _deletion_variants(word[self.prefix :], depth)
        return [hash(head + variant) for variant in variants]

    def _filed_by_length(self, word: str) -> bool:
        """Whether a word can be near one too long for variants: then it is filed by length."""
        return self._plan(len(word)).by_length

    def _plan(self, length: int) -> _Plan:
        """How a word of `length` is filed and looked up (worked out once per length)."""
        plan = self._plans.get(length)
        if plan is None:
            share = self._length_share
            partners = range(math.ceil(share * length), math.floor(length / share) + 1)
            long = {n for n in partners if self._deletions(n) > MAX_DELETIONS}
            depth = self._deletions(length)
            plan = self._plans[length] = _Plan(
                depth=None if depth > MAX_DELETIONS else depth,
                scan=tuple(partners) if depth > MAX_DELETIONS else tuple(sorted(long)),
                by_length=bool(long),
            )
        return plan

    def _deletions(self, length: int) -> int:
        """The most letters a word of `length` deletes to reach a common subsequence with
        a near word."""
        return math.floor(self._depth_share * length)


class _Plan(NamedTuple):
    """How words of one length are filed and looked up."""

    depth: int | None  # deletions of the variants it is filed under; None: too long for it
    scan: tuple[int, ...]  # the lengths whose length files may hold words near it
    by_length: bool  # whether it is filed by length: it may be near a word too long


@lru_cache(maxsize=_CACHE)
def _deletion_variants(text: str, depth: int) -> frozenset[str]:
    """`text` with any `depth` letters or fewer deleted."""
    variants = {text}
    frontier = {text}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        variants |= frontier
    return frozenset(variants)
