"""Text normalisation for matching: one canonical spelling of words, positions kept.

Both feed text and watchlist aliases go through the same steps: Unicode NFKC, then
(`fold`) one hyphen and one apostrophe for their typographic variants, accent folding
of Latin letters (Québec → quebec), ё as е, and lower case. Folding maps one character to
one character, so a span in the folded text is the same span in the NFKC text and
evidence can quote what the article said.

Words are runs of letters, digits and combining marks (so Devanagari and Thai vowel signs
stay inside their words). Scripts written without spaces between words (Chinese,
Japanese, Korean, Thai, Lao, Khmer, Myanmar: `unspaced`) are matched as substrings
instead; a run of them counts as one word for positions.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable

_PUNCT = {ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"} | {
    ord(c): "'" for c in "\u2018\u2019\u02bc\u2032\uff07`"
}
_HANGUL_CHARS = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_HAN_KANA_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SOUTHEAST_CHARS = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
_CJK_CHARS = _HAN_KANA_CHARS + _HANGUL_CHARS + _SOUTHEAST_CHARS  # the unspaced scripts


def _ranges(codes: list[int]) -> str:
    """A regex character class body for these code points, as ranges."""
    out = []
    for _, run in itertools.groupby(enumerate(codes), lambda p: p[1] - p[0]):
        block = [c for _, c in run]
        out.append(
            f"\\u{block[0]:04x}-\\u{block[-1]:04x}" if len(block) > 1 else f"\\u{block[0]:04x}"
        )
    return "".join(out)


# Combining marks (Devanagari and other vowel signs) belong to the word they sit in.
_MARK_CHARS = _ranges(
    [c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")]
)
_LETTER = rf"(?:[^\W_{_CJK_CHARS}]|[{_MARK_CHARS}])"
# A run of CJK characters is one word; a Latin word next to it is another ("カナダ産LNG").
# (Possessive quantifiers: the same matches, without backtracking into a word.)
WORD = re.compile(rf"[{_CJK_CHARS}]++|{_LETTER}++(?:'{_LETTER}++)*+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]++(?:'[A-Za-z0-9]++)*+")  # WORD on ASCII text, faster
_HYPHENATED = re.compile(rf"{_LETTER}++(?:-{_LETTER}++)+")
_ASCII_HYPHENATED = re.compile(r"[A-Za-z0-9]++(?:-[A-Za-z0-9]++)+")
# French (l', jusqu') and Italian (all', dell', un') elided words before an apostrophe
_ELISIONS = frozenset(
    {"l", "d", "j", "n", "s", "c", "m", "t", "qu", "jusqu", "lorsqu", "puisqu"}
    | {"all", "dall", "dell", "nell", "sull", "coll", "un", "quest", "quell", "tutt"}
)
_CJK = re.compile(rf"[{_CJK_CHARS}]")
_HANGUL = re.compile(rf"[{_HANGUL_CHARS}]")
_HAN_KANA = re.compile(rf"[{_HAN_KANA_CHARS}]")
_MAX_VARIANTS = 64
_MAX_INFLECTED_VARIANTS = 1024  # languages whose every word inflects (Russian)


def _fold_char(char: str) -> str:
    """A Latin or Greek letter without its accents; anything else unchanged. Always one
    character."""
    base = unicodedata.normalize("NFKD", char)[:1]
    return base if base and (base.isascii() or "\u0391" <= base <= "\u03c9") else char


# Typographic punctuation and accent folding of every Latin character (below U+0250) and
# every Greek one (Greek capitals carry no accents: ΚΙΝΑ must meet Κίνα). Applied by one
# regex substitution of just the characters it changes: str.translate looks every
# character of non-ASCII text up in the table, several times slower.
_FOLD = (
    {
        chr(c): _fold_char(chr(c))
        for c in [*range(0x80, 0x250), *range(0x370, 0x400), *range(0x1F00, 0x2000)]
        if _fold_char(chr(c)) != chr(c)
    }
    | {chr(c): folded for c, folded in _PUNCT.items()}
    | {"ё": "е", "Ё": "Е"}  # Russian writes ё as е as often as not
)
_FOLDABLE = re.compile("[" + "".join(re.escape(c) for c in _FOLD) + "]")


def _fold_match(match: re.Match[str]) -> str:
    """The folded form of one matched character."""
    return _FOLD[match.group()]


def nfkc(text: str) -> str:
    """Unicode NFKC (skipped when the text already is)."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text


def fold(text: str, *, lower: bool = True) -> str:
    """`nfkc(text)` with one hyphen, one apostrophe and no accents (and unless told
    otherwise lower-cased), of the same length."""
    if not text.isascii():
        text = _FOLDABLE.sub(_fold_match, text)
    if not lower:
        return text
    lowered = text.lower()
    if len(lowered) != len(text):  # a rare letter whose lower case is two characters
        lowered = "".join(c.lower()[:1] for c in text)
    return lowered


_CJK_ONLY = re.compile(rf"[{_HAN_KANA_CHARS}\uac00-\ud7af]")


def has_cjk(text: str) -> bool:
    """Whether the text has Chinese, Japanese or Korean characters."""
    return _CJK_ONLY.search(text) is not None


def unspaced(text: str) -> bool:
    """Whether the text has characters of a script written without spaces between words
    (Chinese, Japanese, Korean, Thai, Lao, Khmer, Myanmar): such aliases match as
    substrings."""
    return _CJK.search(text) is not None


def is_hangul(char: str) -> bool:
    """Whether a character is Korean Hangul."""
    return _HANGUL.match(char) is not None


def is_han_or_kana(char: str) -> bool:
    """Whether a character is a Chinese character (Hanzi, Kanji, Hanja) or Japanese kana."""
    return _HAN_KANA.match(char) is not None


def word(token: str) -> str:
    """A token with possessive `'s` and French or Italian elision (`l'`, `d'`, `all'`) removed."""
    if "'" not in token:
        return token
    head, _, tail = token.partition("'")
    if tail == "s":
        return head
    if head in _ELISIONS:
        return tail.replace("'", "")
    return token.replace("'", "")


# ASCII text without apostrophes splits into exactly WORD's tokens, several times faster.
_ASCII_SEPARATORS = bytes(c if chr(c).isalnum() and c < 128 else 32 for c in range(256))


_ASCII_KEEP_APOSTROPHES = bytes(
    c if (chr(c).isalnum() and c < 128) or c == ord("'") else 32 for c in range(256)
)
_APOSTROPHES = re.compile("'{2,}")


def words(folded: str) -> list[str]:
    """The words of folded text, in order (positions are list indexes).

    The same tokens as WORD (with `word` applied), by faster means for ASCII text.
    """
    if not folded.isascii():
        return [word(t) for t in WORD.findall(folded)] if "'" in folded else WORD.findall(folded)
    if "'" not in folded:
        return folded.encode().translate(_ASCII_SEPARATORS).decode().split()
    out: list[str] = []
    for chunk in folded.encode().translate(_ASCII_KEEP_APOSTROPHES).decode().split():
        if "'" not in chunk:
            out.append(chunk)
            continue
        for part in _APOSTROPHES.split(chunk.strip("'")):
            if part:
                out.append(word(part))
    return out


def joined_hyphenations(folded: str) -> list[tuple[int, str, int]]:
    """`anti-dumping` → (offset of `anti`, `antidumping`, 2 words), so both spellings match."""
    pattern = _ASCII_HYPHENATED if folded.isascii() else _HYPHENATED
    return [
        (m.start(), word(m.group().replace("-", "")), m.group().count("-") + 1)
        for m in pattern.finditer(folded)
    ]


def word_spans(folded: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each word of `words(folded)`, for quoting evidence."""
    pattern = _ASCII_WORD if folded.isascii() else WORD
    return [m.span() for m in pattern.finditer(folded)]


def inflections(token: str, lang: str | None = None) -> set[str]:
    """Common inflections of a (folded) word in the alias's language (`INFLECTED`): by
    default English ones (plurals, -ed, -ing, -ies).

    Generated on the alias side only, so text words are looked up exactly and no stemmer
    conflates unrelated words.
    """
    if lang is None and token and "\u0400" <= token[-1] <= "\u04ff":
        lang = "ru"  # Cyrillic without a language: Russian and Ukrainian endings
    rule = INFLECTED.get(lang or "en", _english)
    return rule(token) if len(token) >= 3 and token.isalpha() else {token}


def _english(token: str) -> set[str]:
    """English plurals, -ed, -ing, -ies, doubled consonants."""
    forms = {token}
    if not token.isascii():
        return forms
    forms.add(token + "s")
    if token.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(token + "es")  # taxes, beaches; not "plan" → "planes"
    if token.endswith("y") and token[-2] not in "aeiou":
        forms |= {token[:-1] + "ies", token[:-1] + "ied"}
    if token.endswith("e"):
        forms |= {token + "d", token[:-1] + "ing"}
    else:
        forms |= {token + "ed", token + "ing"}
        if token[-1] not in "aeiouwxy" and token[-2] in "aeiou" and token[-3] not in "aeiou":
            forms |= {token + token[-1] + "ed", token + token[-1] + "ing"}  # ship → shipped
    if token.endswith(("s", "x", "z")):
        forms.discard(token + "s")
    return forms


def _french(token: str) -> set[str]:
    """French gender and plural: -s, -x, -e, -es, -ne(s) after -en, -aux after -al."""
    forms = {token, token + "s", token + "e", token + "es", token + "x"}
    if token.endswith("en"):
        forms |= {token + "ne", token + "nes"}  # canadien → canadienne(s)
    if token.endswith("al"):
        forms.add(token[:-2] + "aux")
    if token.endswith("e"):
        forms.discard(token + "e")
    return forms


def _romance(token: str) -> set[str]:
    """Spanish, Portuguese and Italian gender and plural: -o/-a/-os/-as, -e/-i, -es, -ão
    → -ões/-ães, -l → -is, -z → -ces, -co/-ca → -chi/-che, accents folded."""
    forms = {token, token + "s", token + "es", token + "a", token + "as"}
    stem, last = token[:-1], token[-1]
    if last in "oae":
        forms |= {stem + e for e in ("o", "a", "os", "as", "i", "e", "es")}
    if token.endswith(("co", "ca", "go", "ga")):
        forms |= {stem + "hi", stem + "he"}  # italian: tedesco → tedeschi
    if token.endswith("ao"):
        forms |= {token[:-2] + "oes", token[:-2] + "aes"}  # negociação → negociações
    if last == "l":
        forms.add(stem + "is")  # canal → canais
    if last == "z":
        forms.add(stem + "ces")  # paz → paces
    if last == "m":
        forms.add(stem + "ns")
    return forms


def _german(token: str) -> set[str]:
    """German case and plural endings: -e, -en, -er, -es, -em, -n, -s, -ern; umlaut
    plurals come through accent folding (Zölle → zolle)."""
    endings = ("", "e", "en", "er", "es", "em", "n", "s", "ern", "ens")
    if token.endswith("e"):
        return {token + e for e in ("", "n", "r", "s", "m", "nn")}
    return {token + e for e in endings}


def _slavic(token: str) -> set[str]:
    """Russian and Ukrainian case endings of nouns and adjectives, from the nominative:
    Канада → Канады, Канаде, Канаду, Канадой; Китай → Китая, Китаю, Китаем, Китае;
    канадский → канадского, канадскую ...; эсминец → эсминца."""
    forms = {token}
    for ending, stem_cut, endings in _SLAVIC:
        if token.endswith(ending):
            stem = token[: len(token) - stem_cut]
            forms |= {stem + e for e in endings}
            break
    return forms


_NOUN_HARD = ("а", "у", "ом", "е", "ы", "и", "ов", "ам", "ами", "ах", "і", "ові", "ів", "ом")
_ADJECTIVE = (
    "ий",
    "ый",
    "ой",
    "ого",
    "ому",
    "им",
    "ым",
    "ом",
    "ая",
    "ую",
    "ое",
    "ие",
    "ые",
    "их",
    "ых",
    "ими",
    "ыми",
    "ей",
    "ою",
    "ее",
    "ього",
    "ьому",
    "ім",
    "ій",
    "а",
    "у",
    "е",
    "і",
    "их",
    "ої",
    "ого",
    "ому",
    "им",
)
# (nominative ending, characters cut from the end, endings added to the rest), first match
_SLAVIC: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    (
        "ия",
        2,
        ("ия", "ии", "ию", "ией", "иею", "ий", "иям", "иями", "иях", "ія", "ії", "ію", "ією"),
    ),
    ("ія", 2, ("ія", "ії", "ію", "ією", "ия", "ии", "ию", "ией")),
    ("ский", 2, _ADJECTIVE),
    ("ський", 2, _ADJECTIVE),
    ("ий", 2, _ADJECTIVE),
    ("ый", 2, _ADJECTIVE),
    ("ой", 2, _ADJECTIVE),
    ("ое", 2, _ADJECTIVE),
    ("ая", 2, _ADJECTIVE),
    ("ые", 2, _ADJECTIVE),
    ("а", 1, ("а", "ы", "и", "е", "у", "ой", "ою", "і", "ам", "ами", "ах", "")),
    ("я", 1, ("я", "и", "е", "ю", "ей", "ею", "і", "ям", "ями", "ях", "ь")),
    (
        "ец",
        2,
        ("ец", "ца", "цу", "цом", "це", "цы", "цев", "цам", "цами", "цах", "цем", "ці", "ців"),
    ),
    ("й", 1, ("й", "я", "ю", "ем", "е", "и", "ев", "ям", "ями", "ях", "ї", "єм", "ї")),
    ("ь", 1, ("ь", "я", "ю", "ем", "е", "и", "ей", "ям", "ями", "ях", "ью", "і", "ів")),
    ("о", 1, ("о", "а", "у", "ом", "е", "ам", "ами", "ах", "і")),
    ("е", 1, ("е", "я", "ю", "ем", "и", "ей", "ям", "ями", "ях")),
    ("", 0, _NOUN_HARD),
)


def _indonesian(token: str) -> set[str]:
    """Indonesian and Malay: the suffixes -nya and -an that attach to nouns."""
    return {token, token + "nya"}


def _arabic(token: str) -> set[str]:
    """Arabic: the word with the one-letter words written joined in front of it (و "and",
    ب "in", ل "for", ف "so", ك "as", and و before ب or ل); after ل the article ال drops
    its alif (الصين → للصين, اللجنة → للجنة)."""
    forms = {token} | {p + token for p in ("و", "ب", "ف", "ك", "وب")}
    if token.startswith("ال"):
        rest = token[2:]
        with_li = "ل" + rest if rest.startswith("ل") else "لل" + rest
        forms |= {with_li, "و" + with_li}
    else:
        forms |= {"ل" + token, "ول" + token}
    return forms


def _uninflected(token: str) -> set[str]:
    """The word as written (Vietnamese, Tagalog and other languages whose words are
    listed in every form they take)."""
    return {token}


INFLECTED: dict[str, Callable[[str], set[str]]] = {
    "en": _english,
    "fr": _french,
    "es": _romance,
    "pt": _romance,
    "it": _romance,
    "de": _german,
    "ru": _slavic,
    "uk": _slavic,
    "be": _slavic,
    "id": _indonesian,
    "ms": _indonesian,
    "ar": _arabic,
    "tl": _uninflected,
    "vi": _uninflected,
}
"""The inflection rules of each language an alias's `lang` can name. Any other `lang`
gets the English ones; Cyrillic aliases without a `lang` get the Russian ones."""

_PREFIXED = frozenset({"ar"})
"""Languages whose inflections go before the word, so only an alias's first word takes them."""


def variants(tokens: list[str], folded: str, lang: str | None = None) -> set[tuple[str, ...]]:
    """Every inflected spelling of an alias's words, plus its hyphen-joined spelling.

    The last word inflects, and the first (English "sail through" → "sailed through",
    Spanish "guerra comercial" → "guerras comerciales"); in Russian every word does.
    """
    slavic = lang in ("ru", "uk", "be") or (lang is None and any(map(_cyrillic, tokens)))
    last = len(tokens) - 1 if lang not in _PREFIXED else 0  # Arabic joins words in front
    forms = [
        sorted(inflections(t, lang)) if slavic or i in (0, last) else [t]
        for i, t in enumerate(tokens)
    ]
    limit = _MAX_INFLECTED_VARIANTS if slavic else _MAX_VARIANTS
    out = set(itertools.islice(itertools.product(*forms), limit))
    out.add(tuple(tokens))  # the limit may cut the alias as written ("персоной нон грата")
    if "-" in folded:
        joined = "".join(tokens)
        out |= {(form,) for form in inflections(joined, lang)}
    return out


def _cyrillic(token: str) -> bool:
    return bool(token) and "\u0400" <= token[-1] <= "\u04ff"
