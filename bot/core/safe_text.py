"""The characters feed text may not carry to a person: one list, used by the store's
plain-text step and by every adapter and terminal printer.

Feed text is untrusted. Control characters (C0 and C1, ANSI escape sequences start with
one) could drive a terminal: clear the screen, set the window title, fake a line. Format
characters (Unicode category Cf: zero-width spaces and joiners, bidi overrides and
isolates, the soft hyphen, tag characters, interlinear annotation marks) and the
Hangul fillers are invisible, so they could hide a word from a reader or a filter, or
reverse what a reader sees; a lone surrogate cannot even be written out as UTF-8.
Controls become a space; invisible characters and lone surrogates are removed.

A URL keeps its meaning instead (`url_without_controls`): its controls and invisible
characters are percent-encoded, as a browser's URL parser does with them.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Unicode category Cf (as of Unicode 15), and the Hangul fillers that render as nothing.
_INVISIBLE_RANGES = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "\ud800-\udfff"  # lone surrogates (not Cf): no encoding can write them
)
INVISIBLE = re.compile(f"[{_INVISIBLE_RANGES}]+")
# C0 and C1 controls, DEL, and the line and paragraph separators; `\n` is kept by
# `without_controls(keep_newlines=True)`.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


# The listed characters that `str.isprintable` calls printable (letters showing nothing).
_PRINTABLE_BUT_INVISIBLE = re.compile("[\u115f\u1160\u3164\uffa0]")


def without_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character replaced by a space and every invisible
    character removed (newlines kept when asked)."""
    if text.isprintable() and not _PRINTABLE_BUT_INVISIBLE.search(text):
        return text  # the common case, found at C speed: no control, no Cf, no surrogate
    controls = _CONTROLS_BUT_NEWLINE if keep_newlines else CONTROLS
    return controls.sub(" ", INVISIBLE.sub("", text))


def one_line(text: str) -> str:
    """`text` safe to print on one line: controls and invisible characters gone, white
    space folded to single spaces."""
    folded = " ".join(text.split())  # white space folded first: then most text is done
    if folded.isprintable() and not _PRINTABLE_BUT_INVISIBLE.search(folded):
        return folded
    return " ".join(without_controls(folded).split())


_URL_ENDS = "".join(map(chr, range(0x21)))  # C0 controls and the space
_URL_UNSAFE = re.compile(f"{CONTROLS.pattern}|{INVISIBLE.pattern}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def url_without_controls(url: str) -> str:
    """`url` with no control or invisible character left, its meaning kept as a browser
    would read it (the WHATWG URL parser): C0 controls and spaces at either end are
    trimmed, tabs and line breaks removed, and every other control or invisible
    character percent-encoded as UTF-8 (a lone surrogate, which has none, as U+FFFD)."""
    if url.isascii() and url.isprintable():
        return url.strip(" ")  # the common case: no control, nothing invisible
    url = url.strip(_URL_ENDS).replace("\t", "").replace("\n", "").replace("\r", "")
    return _URL_UNSAFE.sub(_percent_encoded, url)


def _percent_encoded(match: re.Match[str]) -> str:
    return quote(_SURROGATE.sub("\ufffd", match.group()), safe="")
