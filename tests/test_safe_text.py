"""The one list of characters feed text may not carry to a person, and its helpers."""

from __future__ import annotations

import re
import sys
import unicodedata
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from bot.core.safe_text import CONTROLS, INVISIBLE, one_line, url_without_controls, without_controls

LISTED = [
    chr(c) for c in range(sys.maxunicode + 1) if CONTROLS.match(chr(c)) or INVISIBLE.match(chr(c))
]
# any text, with the listed characters (lone surrogates included) much more likely
hostile_text = st.lists(
    st.one_of(st.text(max_size=6), st.sampled_from(LISTED), st.sampled_from(" \n\t\r"))
).map("".join)


C0_AND_SPACE = "".join(map(chr, range(0x21)))
# what a browser drops from a URL, and a lone surrogate as the replacement character
URL_READING = {ord(ch): None for ch in "\t\n\r"} | {c: "\ufffd" for c in range(0xD800, 0xE000)}


def reference(text: str, *, keep_newlines: bool = False) -> str:
    """The definition, without the fast paths: invisible removed, controls as spaces."""
    controls = "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]" if keep_newlines else CONTROLS.pattern
    return re.sub(controls, " ", INVISIBLE.sub("", text))


def test_the_list_covers_every_control_and_format_character_python_knows() -> None:
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            assert chr(code) in LISTED, hex(code)


def test_python_calls_no_listed_character_printable_but_the_hangul_fillers() -> None:
    """The fast paths trust `str.isprintable` for all but these four."""
    printable = {ch for ch in LISTED if ch.isprintable()}
    assert printable == {"\u115f", "\u1160", "\u3164", "\uffa0"}


@given(hostile_text)
def test_without_controls_is_its_definition_and_leaves_nothing_listed(text: str) -> None:
    for keep in (False, True):
        cleaned = without_controls(text, keep_newlines=keep)
        assert cleaned == reference(text, keep_newlines=keep)
        assert all(ch not in LISTED or (keep and ch == "\n") for ch in cleaned)


@given(hostile_text)
def test_one_line_is_its_definition_and_leaves_nothing_listed(text: str) -> None:
    line = one_line(text)
    assert line == " ".join(reference(text).split())
    assert not any(ch in LISTED for ch in line) and "  " not in line


@given(hostile_text.filter(lambda path: "%" not in path))
def test_a_url_keeps_its_meaning_without_controls(path: str) -> None:
    """Percent-encoded, not lost: decoding gives the URL back, less what a browser drops
    (tabs, line breaks, controls and spaces at the ends), lone surrogates as U+FFFD."""
    url = url_without_controls("https://news.example.test/" + path)
    assert not any(ch in LISTED for ch in url)
    kept = path.translate(URL_READING).rstrip(C0_AND_SPACE)
    assert unquote(url) == "https://news.example.test/" + kept
