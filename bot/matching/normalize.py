"""Text normalisation for matching: one canonical spelling of words, positions kept.

Both feed text and watchlist aliases go through the same steps: Unicode NFKC, then
(`fold`) one hyphen and one apostrophe for their typographic variants, accent folding
of Latin letters (Québec → quebec) and lower case. Folding maps one character to one
character, so a span in the folded text is the same span in the NFKC text and
evidence can quote what the article said.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

_PUNCT = {ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"} | {
    ord(c): "'" for c in "\u2018\u2019\u02bc\u2032\uff07`"
}
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A run of CJK characters is one word; a Latin word next to it is another ("カナダ産LNG").
# (Possessive quantifiers: the same matches, without backtracking into a word.)
WORD = re.compile(rf"[{_CJK_CHARS}]++|[^\W_{_CJK_CHARS}]++(?:'[^\W_{_CJK_CHARS}]++)*+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]++(?:'[A-Za-z0-9]++)*+")  # WORD on ASCII text, faster
_HYPHENATED = re.compile(r"[^\W_]++(?:-[^\W_]++)+")
_ASCII_HYPHENATED = re.compile(r"[A-Za-z0-9]++(?:-[A-Za-z0-9]++)+")
_ELISIONS = ("l", "d", "j", "n", "s", "c", "m", "t", "qu", "jusqu", "lorsqu", "puisqu")
_CJK = re.compile(rf"[{_CJK_CHARS}]")
_MAX_VARIANTS = 64


def _fold_char(char: str) -> str:
    """A Latin letter without its accents; anything else unchanged. Always one character."""
    base = unicodedata.normalize("NFKD", char)[:1]
    return base if base and base.isascii() else char


# Typographic punctuation and accent folding of every Latin character (below U+0250).
# Applied by one regex substitution of just the characters it changes: str.translate
# looks every character of non-ASCII text up in the table, several times slower.
_FOLD = {chr(c): _fold_char(chr(c)) for c in range(0x80, 0x250) if _fold_char(chr(c)) != chr(c)} | {
    chr(c): folded for c, folded in _PUNCT.items()
}
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


def has_cjk(text: str) -> bool:
    """Whether the text has Chinese, Japanese or Korean characters (matched without spaces)."""
    return _CJK.search(text) is not None


def word(token: str) -> str:
    """A token with possessive `'s` and French elision (`l'`, `d'`) removed."""
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


def inflections(token: str) -> set[str]:
    """Common English and French inflections of a word: plurals, -ed, -ing, -ies.

    Generated on the alias side only, so text words are looked up exactly and no stemmer
    conflates unrelated words.
    """
    forms = {token}
    if len(token) < 3 or not token.isascii() or not token.isalpha():
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


def variants(tokens: list[str], folded: str) -> set[tuple[str, ...]]:
    """Every inflected spelling of an alias's words, plus its hyphen-joined spelling."""
    forms = [sorted(inflections(t)) if i == len(tokens) - 1 else [t] for i, t in enumerate(tokens)]
    if len(tokens) > 1:  # inflect earlier words too ("sail through" → "sailed through")
        forms[0] = sorted(inflections(tokens[0]))
    out = set(itertools.islice(itertools.product(*forms), _MAX_VARIANTS))
    if "-" in folded:
        joined = "".join(tokens)
        out |= {(form,) for form in inflections(joined)}
    return out
