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
from collections import defaultdict
from collections.abc import Set
from fractions import Fraction
from functools import lru_cache
from typing import TypeVar

from rapidfuzz import fuzz

MAX_DELETIONS = 2  # deeper than this, a word is filed by length instead of by variants
_CACHE = 1 << 16
_K = TypeVar("_K")


class NearWords:
    """A multiset of words; `near(word)` is every distinct word in it, other than `word`,
    with the same first `prefix` letters and `fuzz.ratio` at least `similarity`."""

    def __init__(self, similarity: float, prefix: int) -> None:
        self.similarity = similarity
        self.prefix = prefix
        share = Fraction(100 - similarity) / 100
        self._depth_share = 2 * share / (1 + share)  # deletions per letter, at most
        self._length_share = (1 - share) / (1 + share)  # shortest partner per letter
        self._depths: dict[int, int] = {}
        self._ranges: dict[int, range] = {}
        self._count: dict[str, int] = {}
        self._neighbours: dict[str, set[str]] = {}
        self._by_variant: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        self._by_length: defaultdict[tuple[str, int], set[str]] = defaultdict(set)

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
        neighbours = set(self._search(word))
        for other in neighbours:
            self._neighbours[other].add(word)
        self._neighbours[word] = neighbours
        for key in self._variant_keys(word):
            self._by_variant[key].add(word)
        if self._filed_by_length(word):
            self._by_length[word[: self.prefix], len(word)].add(word)

    def remove(self, word: str) -> None:
        """Remove one occurrence of `word` (which must be in the set)."""
        count = self._count[word] - 1
        if count:
            self._count[word] = count
            return
        del self._count[word]
        for other in self._neighbours.pop(word):
            self._neighbours[other].discard(word)
        for key in self._variant_keys(word):
            _discard(self._by_variant, key, word)
        if self._filed_by_length(word):
            _discard(self._by_length, (word[: self.prefix], len(word)), word)

    def near(self, word: str) -> Set[str]:
        """The words in the set near `word` (not `word` itself). Do not modify the result."""
        neighbours = self._neighbours.get(word)
        return neighbours if neighbours is not None else self._search(word)

    def _search(self, word: str) -> set[str]:
        """`near(word)` looked up in the variant and length files."""
        found: set[str] = set()
        for key in self._variant_keys(word):
            found.update(self._by_variant.get(key, ()))
        head = word[: self.prefix]
        long_word = self._deletions(len(word)) > MAX_DELETIONS
        for length in self._partner_lengths(len(word)):
            if long_word or self._deletions(length) > MAX_DELETIONS:
                found.update(self._by_length.get((head, length), ()))
        found.discard(word)
        cutoff = self.similarity
        return {other for other in found if fuzz.ratio(word, other, score_cutoff=cutoff)}

    def _variant_keys(self, word: str) -> list[tuple[str, str]]:
        """The keys a word is filed (and looked up) under: its first letters and each
        deletion variant of the rest, or none for a word filed by length."""
        depth = self._deletions(len(word))
        if depth > MAX_DELETIONS:
            return []
        head = word[: self.prefix]
        return [(head, variant) for variant in _deletion_variants(word[self.prefix :], depth)]

    def _filed_by_length(self, word: str) -> bool:
        """Whether a word can be near one too long for variants: then it is filed by length."""
        return self._deletions(self._partner_lengths(len(word))[-1]) > MAX_DELETIONS

    def _deletions(self, length: int) -> int:
        """The most letters a word of `length` deletes to reach a common subsequence with
        a near word."""
        depth = self._depths.get(length)
        if depth is None:
            depth = self._depths[length] = math.floor(self._depth_share * length)
        return depth

    def _partner_lengths(self, length: int) -> range:
        """The lengths of the words a word of `length` can be near."""
        lengths = self._ranges.get(length)
        if lengths is None:
            shortest = math.ceil(self._length_share * length)
            longest = math.floor(length / self._length_share)
            lengths = self._ranges[length] = range(shortest, longest + 1)
        return lengths


@lru_cache(maxsize=_CACHE)
def _deletion_variants(text: str, depth: int) -> frozenset[str]:
    """`text` with any `depth` letters or fewer deleted."""
    variants = {text}
    frontier = {text}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        variants |= frontier
    return frozenset(variants)


def _discard(files: defaultdict[_K, set[str]], key: _K, word: str) -> None:
    """Remove `word` from the file at `key`, and the file when it is empty."""
    entries = files[key]
    entries.discard(word)
    if not entries:
        del files[key]
