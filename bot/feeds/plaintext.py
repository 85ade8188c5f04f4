"""Feed text to plain text: tags stripped, entities decoded, white space folded, and no
control or invisible character kept (`bot.core.safe_text`), so the store holds no
terminal escape, zero-width or bidi character to pass on.

Two repairs come first, as feedparser makes them: text that is UTF-8 read as Latin-1 or
as Windows-1252 ("â€¦") is read again as UTF-8 ("…"), and a C1 control that stands for
a Windows-1252 character (U+0092 for a right quote) becomes that character instead of a
space."""

from __future__ import annotations

import contextlib
import html
import re

from bot.core.safe_text import one_line

_DROP_BLOCKS = re.compile(r"<(script|style|noscript)\b[^>]*>.*?</\1\s*>", re.I | re.S)
# what sends text through the slower steps below: comments, CDATA, declarations,
# processing instructions and dropped blocks
_SPECIAL = re.compile(r"<(?:!|\?|script|style|noscript)", re.I)
_COMMENTS = re.compile(r"<!--.*?-->", re.S)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_DECLARATIONS = re.compile(r"<![^>]*>|<\?.*?\?>", re.S)  # <!DOCTYPE html …>, <?xml …?>
# C1 controls as the Windows-1252 characters their bytes stand for; the five bytes it
# leaves undefined stay controls (and become spaces)
_C1_AS_WINDOWS_1252 = {
    c: bytes([c]).decode("cp1252")
    for c in range(0x80, 0xA0)
    if c not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)[^<>]*>|<[a-zA-Z][^<>]*$")
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "dfn",
        "em",
        "font",
        "i",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
    ]
)


def to_plain_text(text: str | None, limit: int | None = None, *, markup: bool = True) -> str:
    """Strip HTML from untrusted feed text and fold white space; cut to `limit` characters.

    Entity-escaped HTML (`&lt;b&gt;`) is unescaped and stripped too, since feeds
    escape their markup inconsistently. Text a feed declares plain (`markup=False`) keeps
    its `<` and `&` as they are: only white space, controls and the repairs change it.
    """
    if not text:
        return ""
    for _ in range(2 if markup else 0):  # a second round for markup escaped once
        if "<" in text:
            text = _strip_markup(text)
        if "&" not in text:
            break
        text = html.unescape(text)
        if "<" not in text:
            break
    text = _fold_space(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _fold_space(text: str) -> str:
    """Controls made spaces, invisible characters dropped, runs of white space folded to
    one space, ends trimmed."""
    if text.isascii() and text.isprintable():
        # printable ASCII: a space is the only white space and nothing is invisible
        return " ".join(text.split()) if "  " in text else text.strip(" ")
    return one_line(_repaired(text))


def _repaired(text: str) -> str:
    """`text` read again as UTF-8 when it is UTF-8 read as Latin-1 or Windows-1252 (text
    meant as written is almost never valid UTF-8 once encoded so), then its C1 controls
    as Windows-1252 characters."""
    for misread in ("latin-1", "cp1252"):
        with contextlib.suppress(UnicodeError):
            return text.encode(misread).decode("utf-8").translate(_C1_AS_WINDOWS_1252)
    return text.translate(_C1_AS_WINDOWS_1252)


def _strip_markup(text: str) -> str:
    if _SPECIAL.search(text):
        text = _CDATA.sub(r"\1", text)
        text = _COMMENTS.sub(" ", text)
        text = _DROP_BLOCKS.sub(" ", text)
        text = _DECLARATIONS.sub(" ", text)
    return _TAG.sub(_replace_tag, text)


def _replace_tag(tag: re.Match[str]) -> str:
    """Inline tags vanish (`<b>Can</b>ola` stays one word); block tags become a space."""
    name = tag.group(1)
    return "" if name and name.lower() in _INLINE else " "
