"""Stories: items from different outlets telling the same news, grouped by headline.

Items with the same canonical URL are de-duplicated elsewhere; here two headlines tell the
same story when their comparable words (`title_tokens`) pair up closely (`same_story`).
Merging two different stories would silently swallow one of them, so the rule errs towards
keeping headlines apart: numbers and negations must agree, words may be added on one side
only (a swapped verb, country or minister is another story), and the shared words keep
their order (who did what to whom).
"""

from __future__ import annotations

import heapq
import operator
import re
from bisect import bisect_left
from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache

from rapidfuzz import fuzz

from bot.matching.near_words import NearWords
from bot.matching.normalize import fold, has_cjk, nfkc, words
from bot.matching.postings import Postings

Tokens = tuple[str, ...]

MIN_SHARED = 3  # paired words two headlines need at least; one more when a side adds words
MIN_CJK_CHARS = 6  # a CJK headline this short is too vague to group
NAME_SIMILARITY = 90.0  # rapidfuzz ratio of near-equal stems ("zelenskiy"/"zelensky")
MAX_HEADLINES = 16  # distinct headlines a story keeps for comparison
_WORD_CACHE = 1 << 16  # per-word results kept (stems, keys, spellings)
_KEY_LENGTH = 4  # first letters of a stem that near-equal words share

# " - CBC News", " | Reuters", " — Nikkei Asia" (fold turns every dash into "-").
_SEPARATOR = re.compile(r"\s*\|\s*|\s+-+\s+")
_MAX_OUTLET_WORDS = 4
_MAX_OUTLET_CHARS = 40
_LABEL = re.compile(r"^(?:update \d+|exclusive|breaking|analysis|factbox|explainer|live)\s*[-:]\s*")

_DIGIT = re.compile(r"\d")
_ABBREVIATION = re.compile(r"\b[a-z](?:\.[a-z])+\b")  # "u.s." → "us"
_PHRASES = {
    ("per", "cent"): "percent",
    ("pour", "cent"): "percent",
    ("prime", "minister"): "pm",
    ("premier", "ministre"): "pm",
    ("united", "states"): "us",
}
_CANONICAL = {
    "pct": "percent",
    "slap": "impose",
    "slaps": "imposes",
    "slapped": "imposed",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "american": "us",
    "british": "uk",
    "canadian": "canada",
    "canadians": "canada",
    "chinese": "china",
    "japanese": "japan",
    "australian": "australia",
    "taiwanese": "taiwan",
    "canadien": "canada",
    "canadienne": "canada",
    "canadiens": "canada",
    "canadiennes": "canada",
    "chinois": "chine",
    "chinoise": "chine",
    "japonais": "japon",
    "japonaise": "japon",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "deux": "2",
    "trois": "3",
    "quatre": "4",
    "cinq": "5",
    "huit": "8",
    "dix": "10",
}
# British to American spelling, so "defence" pairs with "defense".
_SPELLINGS = (
    (re.compile(r"(?<=..)our(s|ed|ing)?$"), r"or\1"),
    (re.compile(r"ence(s)?$"), r"ense\1"),
    (re.compile(r"(?<=...)is(e|ed|es|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"(?<=..)ys(e|ed|es|ing)$"), r"yz\1"),
    (re.compile(r"(?<=...)tre(s)?$"), r"ter\1"),
    (re.compile(r"(?<=....)ll(ed|ing)$"), r"l\1"),
    (re.compile(r"ogue(s)?$"), r"og\1"),
)
_ANY_SPELLING = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _SPELLINGS))  # one look
_STOPWORDS = frozenset(
    "a an the and or but of in on at to for from by with as is are was were be been being "
    "it its this that these those into onto over under through via across amid after upon "
    "about than then so if will would could should can has have had do does did says said "
    "say how why what who whom when where which there their they them he she his her we "
    "our you your i me my also just now".split()
    + "le la les l un une des du de d et ou en au aux pour par sur sous dans avec ce cet "
    "cette ces se s sa son ses leur leurs lui qui que qu quoi dont est sont etait ete etre "
    "ont avait il elle ils elles on nous vous y selon dit entre vers chez apres lors".split()
)
# Kept as words, and must agree: "China will not lift tariffs" is not "China will lift tariffs".
_NEGATIONS = frozenset(
    "not no never nor without cannot wont dont doesnt didnt isnt arent wasnt werent cant "
    "couldnt wouldnt shouldnt hasnt havent hadnt ne pas non jamais sans aucun aucune ni".split()
)
_SUFFIXES = ("ing", "ies", "ied", "ed", "es", "s", "e")


def title_tokens(title: str) -> Tokens:
    """The comparable words of a headline, in order.

    Outlet suffix removed (" - CBC News", " | Reuters", " — Nikkei Asia" at the end when
    short) and wire labels ("UPDATE 2-", "EXCLUSIVE:"); NFKC, accent fold and lower case;
    "per cent"/"percent"/"pct"/"%"/"pour cent" as "percent", "prime minister" as "pm",
    "U.S." as "us", "slaps" as "imposes", demonyms as their country ("Canadian" → "canada"),
    number words and first/second/third as digits, British spelling as American; English
    and French stopwords and lone letters dropped. CJK text gives its runs of CJK characters
    as words.
    """
    folded = _LABEL.sub("", _strip_outlet(fold(nfkc(title)).strip()))
    folded = _ABBREVIATION.sub(lambda m: m.group().replace(".", ""), folded)
    tokens = _join_phrases(words(folded.replace("%", " percent ")))
    return tuple(_canonical(t) for t in tokens if t not in _STOPWORDS and not _is_letter(t))


_cached_tokens = lru_cache(maxsize=1024)(title_tokens)  # routing finds, then adds a title


def same_story(a: Tokens, b: Tokens) -> bool:
    """Whether two headlines' tokens (from `title_tokens`) tell the same story.

    Latin-script headlines: the numbers and the negations of both are the same; words pair
    up (equal, the same inflected stem as tariff/tariffs or imposes/imposed, or
    near-equal spellings of a name), at least `MIN_SHARED` of them (one more if any word is
    unpaired); unpaired words are all on one side (a headline may add words, not swap
    them: imposes/lifts, Canadian/Australian) and at most max(1, (len(a) + len(b)) // 10);
    the paired words keep their order but for one (Canada accuses China ≠ China accuses
    Canada); no word is added after one whose inflection changed ("electric vehicles" ≠
    "electric vehicle batteries"). CJK headlines: identical tokens, of `MIN_CJK_CHARS`
    characters at least.
    """
    if _is_cjk(a) or _is_cjk(b):
        return a == b and sum(map(len, a)) >= MIN_CJK_CHARS
    if _numbers(a) != _numbers(b) or _negations(a) != _negations(b):
        return False
    pairs = _pair(a, b)
    extra_a, extra_b = len(a) - len(pairs), len(b) - len(pairs)
    return (
        len(pairs) >= MIN_SHARED + (extra_a + extra_b > 0)
        and min(extra_a, extra_b) == 0
        and extra_a + extra_b <= _budget(len(a), len(b))
        and _in_order(pairs)
        and not _extends_a_noun(a, b, pairs)
    )


@dataclass(slots=True)
class _Headline:
    story_id: int  # changed by `StoryIndex.rename`
    tokens: Tokens
    words: tuple[str, ...]  # distinct index words (`_indexed`) of a Latin headline; none for CJK
    filed_under: str  # the word it is designated by: its rarest when added (the first such)


@dataclass(frozen=True, slots=True)
class _Story:
    headlines: tuple[int, ...]  # headline ids
    last_seen: datetime


class StoryIndex:
    """Recent stories in memory, to find which story a new headline belongs to.

    Window: a story takes new items for `window` after its last item (default 48 h).
    `find` compares a headline only with the headlines that can tell the same story,
    found in inverted indexes over index words (`_indexed`: a token's stem; two tokens pair
    only when their words are equal or near in spelling, `NearWords`). A match leaves
    no word unpaired on one side or the other (`same_story`): either every word of the
    new headline pairs, so the match uses one of the words its rarest word pairs with
    (the postings), or every word of the match pairs, so the one word it was filed
    under when added (its rarest then) pairs with a word of the new headline (the
    designations). A number or negation, which every match has, is one lookup enough;
    a CJK headline matches identical ones only. `comparisons` counts the `same_story`
    calls made.
    """

    def __init__(self, window: timedelta = timedelta(hours=48)) -> None:
        self.window = window
        self.comparisons = 0
        self._stories: dict[int, _Story] = {}
        self._headlines: dict[int, _Headline] = {}
        self._next_headline = 0
        self._postings: Postings[str, int] = Postings()
        self._designated: Postings[str, int] = Postings()
        self._identical: Postings[Tokens, int] = Postings()  # CJK headlines
        self._spellings = NearWords(NAME_SIMILARITY, _KEY_LENGTH)
        self._expiry: list[tuple[datetime, int]] = []  # heap of (last seen, story id)

    def __len__(self) -> int:
        """The number of stories remembered."""
        return len(self._stories)

    def add(self, story_id: int, title: str, seen: datetime) -> None:
        """Remember a headline of story `story_id` seen at `seen` (aware UTC).

        The story's window runs from its latest item; it keeps `MAX_HEADLINES` distinct
        headlines to compare with (later ones only extend its window).
        """
        tokens = _cached_tokens(title)
        story = self._stories.get(story_id)
        headlines = story.headlines if story is not None else ()
        if (
            tokens
            and len(headlines) < MAX_HEADLINES
            and all(self._headlines[h].tokens != tokens for h in headlines)
        ):
            headlines += (self._file(story_id, tokens),)
        last_seen = seen if story is None else max(story.last_seen, seen)
        self._stories[story_id] = _Story(headlines, last_seen)
        if story is None or last_seen != story.last_seen:
            heapq.heappush(self._expiry, (last_seen, story_id))

    def find(self, title: str, seen: datetime) -> int | None:
        """The id of the recent story this headline belongs to, or None.

        A story is recent when `seen` is at most `window` after its last item; it matches
        when one of its headlines tells the same story (`same_story`). Of several, the most
        recently seen (then the highest id).
        """
        tokens = _cached_tokens(title)
        if not tokens:
            return None
        if _is_cjk(tokens):
            candidates: Iterable[int] = self._identical.get(tokens)
        else:
            candidates = self._candidates(tokens)
        best: tuple[datetime, int] | None = None
        for headline_id in candidates:
            headline = self._headlines[headline_id]
            story = self._stories[headline.story_id]
            rank = (story.last_seen, headline.story_id)
            if (best is not None and rank <= best) or seen - story.last_seen > self.window:
                continue
            self.comparisons += 1
            if same_story(tokens, headline.tokens):
                best = rank
        return None if best is None else best[1]

    def rename(self, old: int, new: int) -> None:
        """Give story `old` the id `new` (not in use): a story filed under a provisional
        id until it is stored."""
        story = self._stories.pop(old)
        for headline_id in story.headlines:
            self._headlines[headline_id].story_id = new
        self._stories[new] = story
        heapq.heappush(self._expiry, (story.last_seen, new))

    def forget(self, story_id: int) -> None:
        """Forget a story, if remembered."""
        story = self._stories.pop(story_id, None)
        if story is not None:
            for headline_id in story.headlines:
                self._drop(headline_id)

    def prune(self, now: datetime) -> None:
        """Forget stories whose window has passed: last item more than `window` before `now`."""
        expiry = self._expiry
        while expiry and now - expiry[0][0] > self.window:
            last_seen, story_id = heapq.heappop(expiry)
            story = self._stories.get(story_id)
            if story is not None and story.last_seen == last_seen:  # else seen again since
                self.forget(story_id)

    def _file(self, story_id: int, tokens: Tokens) -> int:
        """Index a new headline of a story; returns its id."""
        headline_id = self._next_headline
        self._next_headline += 1
        if _is_cjk(tokens):
            headline = _Headline(story_id, tokens, (), "")
            self._identical.add(tokens, headline_id)
        else:
            indexed = dict(map(_indexed, tokens))  # distinct words, in order, and their kind
            words = tuple(indexed)
            count = self._postings.count
            headline = _Headline(story_id, tokens, words, min(words, key=count))
            for word, kind in indexed.items():
                self._postings.add(word, headline_id)
                if kind is not _Kind.NUMBER:
                    self._spellings.add(word)
            self._designated.add(headline.filed_under, headline_id)
        self._headlines[headline_id] = headline
        return headline_id

    def _drop(self, headline_id: int) -> None:
        """Remove a headline from the indexes."""
        headline = self._headlines.pop(headline_id)
        if not headline.words:
            self._identical.discard(headline.tokens, headline_id)
            return
        for word in headline.words:
            self._postings.discard(word, headline_id)
            if not _DIGIT.search(word):
                self._spellings.remove(word)
        self._designated.discard(headline.filed_under, headline_id)

    def _candidates(self, tokens: Tokens) -> list[int]:
        """The Latin headlines that may tell the same story as `tokens`: those in which
        every word of `tokens` has a partner, or whose every word is a partner of one."""
        postings, near, count = self._postings, self._spellings.near, self._postings.count
        partners: list[AbstractSet[str]] = []
        required: list[str] = []
        rarest: AbstractSet[str] = frozenset()
        fewest = -1  # headlines using a word of `rarest`, at most
        for token in tokens:
            word, kind = _indexed(token)
            close = near(word) if kind is not _Kind.NUMBER else None
            options = {word, *close} if close else _alone(word)
            partners.append(options)
            reach = count(word) + sum(map(count, close)) if close else count(word)
            if fewest < 0 or reach < fewest:
                rarest, fewest = options, reach
            if kind is not _Kind.WORD:
                required.append(word)
        reachable = set[str]().union(*partners)
        candidates: Collection[int]
        if required:  # every match has them all
            candidates = min((postings.get(w) for w in required), key=len)
        else:
            found = set[int]().union(*(postings.get(w) for w in rarest))
            designated = self._designated
            for word in reachable:
                found.update(designated.get(word))
            candidates = found
        headlines = self._headlines
        return [
            i
            for i in candidates
            if reachable.issuperset(words := headlines[i].words)
            or all(not options.isdisjoint(words) for options in partners)
        ]


def _strip_outlet(folded: str) -> str:
    """Folded headline without a short outlet or section name after its last separators."""
    for _ in range(2):  # "Title - Section - Outlet"
        separators = list(_SEPARATOR.finditer(folded))
        if not separators:
            break
        head, tail = folded[: separators[-1].start()], folded[separators[-1].end() :]
        if not _is_outlet(tail) or len(words(head)) <= len(words(tail)):
            break
        folded = head
    return folded


def _is_outlet(tail: str) -> bool:
    """Whether text after a separator reads as an outlet name: short, no digits."""
    return (
        len(words(tail)) <= _MAX_OUTLET_WORDS
        and len(tail) <= _MAX_OUTLET_CHARS
        and not _DIGIT.search(tail)
    )


def _join_phrases(tokens: list[str]) -> list[str]:
    """Two-word phrases replaced by their one-word form ("per cent" → "percent")."""
    out: list[str] = []
    for token in tokens:
        joined = _PHRASES.get((out[-1], token)) if out else None
        if joined:
            out[-1] = joined
        else:
            out.append(token)
    return out


@lru_cache(maxsize=_WORD_CACHE)
def _canonical(token: str) -> str:
    """One spelling of a word: demonym as country, number word as digits, American spelling."""
    token = _CANONICAL.get(token, token)
    if token.isascii() and token.isalpha() and _ANY_SPELLING.search(token):
        for pattern, replacement in _SPELLINGS:
            token = pattern.sub(replacement, token)
    return token


def _is_letter(token: str) -> bool:
    """Whether a word is one Latin letter (the "c" of C$, the "s" of "U.S" without dots)."""
    return len(token) == 1 and token.isascii() and token.isalpha()


def _is_cjk(tokens: Iterable[str]) -> bool:
    """Whether any word is CJK."""
    return any(has_cjk(t) for t in tokens)


def _numbers(tokens: Iterable[str]) -> set[str]:
    """The words with digits."""
    return {t for t in tokens if _DIGIT.search(t)}


def _negations(tokens: Iterable[str]) -> set[str]:
    """The negation words."""
    return {t for t in tokens if t in _NEGATIONS}


@lru_cache(maxsize=_WORD_CACHE)
def _stem(token: str) -> str:
    """A word without one inflection suffix (-s, -es, -ies, -ed, -ing, -e), doubled final
    consonant undone: imposes/imposed/impose → impos, tariffs/tariff → tarif."""
    for suffix in _SUFFIXES:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and len(stem) >= 3:
            token = stem + "y" if suffix in ("ies", "ied") else stem
            break
    if len(token) >= 4 and token[-1] == token[-2] and token[-1] not in "aeiou":
        token = token[:-1]
    return token


@lru_cache(maxsize=_WORD_CACHE)
def _key(token: str) -> str:
    """The key of a word: numbers and CJK words whole, else the start of the stem. Words
    that can pair (`_near`) have the same key."""
    if has_cjk(token) or _DIGIT.search(token):
        return token
    return _stem(token)[:_KEY_LENGTH]


class _Kind(Enum):
    """What a Latin token is to the index: a number or a negation (every match has it
    too), or any other word."""

    NUMBER = "number"
    NEGATION = "negation"
    WORD = "word"


@lru_cache(maxsize=_WORD_CACHE)
def _indexed(token: str) -> tuple[str, _Kind]:
    """A Latin token's index word and kind. The word is the token itself for a number,
    else its stem: two tokens pair (`_near`) only when their words are equal, or near as
    `NearWords` has them (the same first `_KEY_LENGTH` letters, a ratio of at least
    NAME_SIMILARITY)."""
    if _DIGIT.search(token):
        return token, _Kind.NUMBER
    return _stem(token), _Kind.NEGATION if token in _NEGATIONS else _Kind.WORD


@lru_cache(maxsize=_WORD_CACHE)
def _alone(word: str) -> frozenset[str]:
    """The set of one word (kept: most words have no other spelling in the index)."""
    return frozenset((word,))


def _near(a: str, b: str) -> bool:
    """Whether two different words are forms of one: the same stem, or stems one letter
    apart in ten or so (rapidfuzz ratio >= NAME_SIMILARITY: "zelenskiy"/"zelensky")."""
    if _numbers((a, b)) or _key(a) != _key(b):
        return False
    stem_a, stem_b = _stem(a), _stem(b)
    return stem_a == stem_b or fuzz.ratio(stem_a, stem_b) >= NAME_SIMILARITY


def _pair(a: Tokens, b: Tokens) -> list[tuple[int, int]]:
    """Positions (i in a, j in b) of paired words, by i: equal words first, then near ones."""
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for match in (operator.eq, _near):
        for i, token in enumerate(a):
            if i in pairs:
                continue
            j = next((j for j, o in enumerate(b) if j not in used and match(token, o)), None)
            if j is not None:
                pairs[i] = j
                used.add(j)
    return sorted(pairs.items())


def _extends_a_noun(a: Tokens, b: Tokens, pairs: list[tuple[int, int]]) -> bool:
    """Whether either side adds a word after one whose inflection changed, as a plural noun
    turns singular to qualify a new one ("electric vehicles" → "electric vehicle batteries")."""
    return _extended(a, {i: b[j] for i, j in pairs}) or _extended(b, {j: a[i] for i, j in pairs})


def _extended(tokens: Tokens, partners: dict[int, str]) -> bool:
    """Whether a word without a partner follows one paired with another inflection."""
    return any(
        i not in partners and partners.get(i - 1, tokens[i - 1]) != tokens[i - 1]
        for i in range(1, len(tokens))
    )


def _in_order(pairs: list[tuple[int, int]]) -> bool:
    """Whether the paired words come in the same order on both sides, but for one word
    (the longest increasing run of b positions misses at most one pair)."""
    tails: list[int] = []
    for _, j in pairs:
        at = bisect_left(tails, j)
        tails[at : at + 1] = [j]
    return len(tails) >= len(pairs) - 1


def _budget(len_a: int, len_b: int) -> int:
    """How many words may go unpaired between headlines of these lengths."""
    return max(1, (len_a + len_b) // 10)
