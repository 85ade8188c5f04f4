"""A wrong declared charset: the body read as what it really is, and the feed told so."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.charset import content_type_charset, readable_body
from bot.feeds.parse import parse_feed
from bot.feeds.plaintext import to_plain_text

URL = "https://feeds.example.test/feed.xml"
# their UTF-8 bytes are valid Shift_JIS too: read as declared, they were mojibake
JAPANESE = ["日本", "東京", "カナダ"]
FRENCH = ["Le Canada à Pékin", "Café crème", "Noël à Montréal — “citation”"]  # 10 not ASCII
LABELS = ["shift_jis", "iso-8859-1", "windows-1252", "euc-jp", "koi8-r", "gb2312", "x-unknown"]


def feed(titles: list[str], declared: str | None = "utf-8") -> str:
    """An RSS document (text) with one item per title, declaring `declared` (or nothing)."""
    head = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    items = "".join(
        f'<item><guid isPermaLink="false">g{n}</guid><title>{title}</title></item>'
        for n, title in enumerate(titles)
    )
    return f'{head}<rss version="2.0"><channel><title>C</title>{items}</channel></rss>'


def titles(body: bytes, charset: str | None = None) -> tuple[list[str], str | None]:
    parsed = parse_feed(body, URL, charset=charset)
    return [i.title for i in parsed.items], parsed.warning


def test_utf8_declared_as_shift_jis_is_read_as_utf8_and_flagged() -> None:
    body = feed(JAPANESE, "shift_jis").encode()
    assert titles(body) == (JAPANESE, "declared shift_jis but is UTF-8; read as UTF-8")
    assert parse_feed(body, URL).parser == "fast"


def test_utf8_declared_as_shift_jis_by_the_content_type_alone() -> None:
    body = feed(JAPANESE, None).encode()
    assert titles(body, "shift_jis") == (
        JAPANESE,
        "declared shift_jis in its Content-Type but is UTF-8; read as UTF-8",
    )


def test_the_xml_declaration_wins_over_the_content_type_when_it_is_right() -> None:
    assert titles(feed(FRENCH).encode(), "iso-8859-1") == (FRENCH, None)


def test_windows_1252_declared_as_utf8_is_read_and_flagged() -> None:
    body = feed(FRENCH).encode("cp1252")
    assert titles(body) == (
        FRENCH,
        "declared utf-8 but 10 bytes are not UTF-8; read those as Windows-1252",
    )
    assert titles(feed(FRENCH, None).encode("cp1252"))[1] == (
        "no charset declared, and 10 bytes are not UTF-8; read those as Windows-1252"
    )


def test_a_stray_latin1_byte_spoils_nothing_else() -> None:
    body = feed([*JAPANESE, "Caf\xe9"]).encode().replace("Caf\xe9".encode(), b"Caf\xe9")
    assert titles(body) == (
        [*JAPANESE, "Café"],
        "declared utf-8 but 1 byte is not UTF-8; read those as Windows-1252",
    )


def test_right_declarations_are_read_as_declared_without_a_word() -> None:
    assert titles(feed(JAPANESE, "shift_jis").encode("shift_jis")) == (JAPANESE, None)
    assert titles(feed(JAPANESE, None).encode("shift_jis"), "Shift_JIS") == (JAPANESE, None)
    # Latin-1 from the Content-Type is read as Windows-1252, as browsers do
    assert titles(feed(FRENCH, None).encode("cp1252"), "iso-8859-1") == (FRENCH, None)


def test_a_content_type_charset_that_does_not_fit_falls_back_with_a_warning() -> None:
    body = feed(FRENCH, None).encode("cp1252")
    assert titles(body, "shift_jis") == (
        FRENCH,
        "declared shift_jis in its Content-Type but is not shift_jis; 10 bytes are not "
        "UTF-8 either: read those as Windows-1252",
    )


def test_ordinary_bodies_come_back_as_they_are() -> None:
    for body in (feed(["plain"]).encode(), feed(FRENCH).encode(), feed(JAPANESE, None).encode()):
        readable = readable_body(body, "utf-8")
        assert readable.body is body and readable.utf8 and readable.warning is None


@pytest.mark.parametrize(
    ("header", "charset"),
    [
        ("application/rss+xml; charset=utf-8", "utf-8"),
        ('text/xml;Charset="Shift_JIS"', "Shift_JIS"),
        ("text/xml", None),
        (None, None),
        ("text/xml; charset=<script>", None),
    ],
)
def test_the_content_type_charset(header: str | None, charset: str | None) -> None:
    assert content_type_charset(header) == charset


XML_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="<&>]"),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(XML_TEXT, st.sampled_from(LABELS), st.booleans())
def test_utf8_is_read_as_utf8_whatever_it_declares(
    text: str, label: str, in_content_type: bool
) -> None:
    body = feed([text], None if in_content_type else label).encode()
    parsed = parse_feed(body, URL, charset=label if in_content_type else None)
    expected = to_plain_text(text)
    assert [i.title for i in parsed.items] == ([expected] if expected else [])
    if not text.isascii() and expected:
        assert parsed.warning and "is UTF-8; read as UTF-8" in parsed.warning


WESTERN = st.characters(codec="cp1252", min_codepoint=0xA0, exclude_characters="\xad")
ASCII_WORD = st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(WESTERN, ASCII_WORD), min_size=1, max_size=10))
def test_windows_1252_declared_as_utf8_reads_right(pairs: list[tuple[str, str]]) -> None:
    """Each accented letter followed by a plain one: bytes no UTF-8 reading can take."""
    text = "".join(accented + word for accented, word in pairs)
    parsed = parse_feed(feed([text]).encode("cp1252"), URL)
    assert [i.title for i in parsed.items] == [to_plain_text(text)]
    assert parsed.warning and parsed.warning.endswith("read those as Windows-1252")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.one_of(st.none(), st.sampled_from([*LABELS, "utf-8", "rot13"])))
def test_any_bytes_with_any_charset_never_raise(body: bytes, charset: str | None) -> None:
    readable = readable_body(b'<?xml version="1.0"?><rss>' + body, charset)
    if readable.utf8:
        readable.body.decode("utf-8")
