"""Parsing: the fast parser and feedparser agree on every fixture; items are clean."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.models import FeedSpec
from bot.core.safe_text import CONTROLS, INVISIBLE
from bot.feeds.canonical import canonical_url
from bot.feeds.parse import FeedParseError, parse_feed, parse_feed_reference
from bot.feeds.plaintext import to_plain_text

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
URL = "https://feeds.example.test/feed.xml"
READABLE = sorted(
    p for p in FEEDS.iterdir() if p.name not in ("README.md", "unreadable.xml", "garbage.bin")
)


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_fast_path_gives_the_same_items_as_feedparser(path: Path) -> None:
    body = path.read_bytes()
    fast = parse_feed(body, URL)
    reference = parse_feed_reference(body, URL)
    assert fast.items == reference.items
    assert fast.items, "every readable fixture has items"


def test_ordinary_feeds_take_the_fast_path() -> None:
    for name in ("rss2.xml", "rss1.rdf", "cjk.xml", "dates.xml", "big-summary.xml"):
        assert parse_feed((FEEDS / name).read_bytes(), URL).parser == "fast", name


def test_a_body_that_crashes_feedparser_is_a_feed_error() -> None:
    body = b'<rss version="2.0"><channel><image><link>x</lin<]{lwidth>80</width></image>'
    with pytest.raises(FeedParseError, match="feedparser failed"):
        parse_feed(body + b"</channel></rss>", URL)  # feedparser: int(None) in _end_width


@pytest.mark.parametrize("name", ["unreadable.xml", "garbage.bin"])
def test_unreadable_bodies_are_feed_errors(name: str) -> None:
    with pytest.raises(FeedParseError):
        parse_feed((FEEDS / name).read_bytes(), URL)


def test_malformed_feed_keeps_entries_with_a_warning() -> None:
    parsed = parse_feed((FEEDS / "malformed.xml").read_bytes(), URL)
    assert len(parsed.items) >= 3 and parsed.warning and "malformed" in parsed.warning
    assert parsed.items[0].title == "Canola & peas: China widens tariff probe to pulse crops"


def test_html_in_titles_becomes_plain_text() -> None:
    titles = [i.title for i in parse_feed((FEEDS / "html-titles.xml").read_bytes(), URL).items]
    assert titles[0] == 'China lifts duties on "canola" & peas'
    assert "Live: China’s commerce ministry briefs on Canadian EV tariff review" in titles
    assert all("<" not in t and "&amp;" not in t and "  " not in t for t in titles)


def test_relative_links_resolve_against_the_site_and_xml_base() -> None:
    rel = parse_feed((FEEDS / "relative-links.xml").read_bytes(), URL).items
    assert [i.url for i in rel] == [
        "https://news.example.test/world/2026/11/canada-japan-energy-pledge",
        "https://news.example.test/story.html",
        "https://news.example.test/?id=4",
        "https://news.example.test/analysis/2026/10/canada-china-reset.html",
    ]
    atom = parse_feed((FEEDS / "atom.xml").read_bytes(), URL).items
    assert all(i.url and i.url.startswith("https://www.example.ca/news/") for i in atom)


def test_keys_guid_then_link_then_hash() -> None:
    dup = parse_feed((FEEDS / "duplicate-guids.xml").read_bytes(), URL).items
    assert len({i.key for i in dup}) == len(dup) == 4  # the repeated guid kept once
    no_guid = parse_feed((FEEDS / "no-guid.xml").read_bytes(), URL).items
    assert no_guid[0].key == no_guid[0].url
    assert no_guid[2].url is None and no_guid[2].key.startswith("sha1:")


def test_charsets_are_decoded_right() -> None:
    latin = parse_feed((FEEDS / "wrong-charset.xml").read_bytes(), URL).items
    assert any("à Pékin" in i.title for i in latin)
    utf8 = parse_feed((FEEDS / "declared-latin1-actually-utf8.xml").read_bytes(), URL).items
    text = " ".join(i.title + i.summary for i in utf8)
    assert "台湾海峡" in text and "Ã" not in text


def test_dates_are_utc() -> None:
    items = parse_feed((FEEDS / "dates.xml").read_bytes(), URL).items
    assert items[0].published == datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    assert [i.published for i in items[-2:]] == [None, None]
    rdf = parse_feed((FEEDS / "rss1.rdf").read_bytes(), URL).items
    assert all(i.published and i.published.tzinfo == UTC for i in rdf)


def test_tracking_parameters_and_fragments_are_removed() -> None:
    items = parse_feed((FEEDS / "rss2.xml").read_bytes(), URL).items
    tracked = [i.url for i in items if i.url and "id=7" in i.url]
    assert tracked and tracked[0] and "utm_" not in tracked[0] and "#" not in tracked[0]
    assert (
        canonical_url("HTTPS://Example.COM:443/a?gclid=x&b=2&fbclid=y#top")
        == "https://example.com/a?b=2"
    )
    assert canonical_url("/x", "http://h.test:8080/feed") == "http://h.test:8080/x"
    assert canonical_url("javascript:alert(1)") is None
    assert canonical_url("mailto:a@b.c") is None


def test_big_summaries_are_cut() -> None:
    items = parse_feed((FEEDS / "big-summary.xml").read_bytes(), URL).items
    assert all(len(i.summary) <= 1000 for i in items)


def test_plain_text_drops_controls_zero_width_and_scripts() -> None:
    hostile = "<script>alert(1)</script>Ca\u200bnola\x1b[31m red\u202e <b>tariff</b>&nbsp;news"
    assert to_plain_text(hostile) == "Canola [31m red tariff news"  # the escape: a space
    assert to_plain_text("<p>one</p><p>two</p>") == "one two"
    assert to_plain_text("x" * 50, limit=10) == "x" * 9 + "…"


def test_plain_text_folds_every_kind_of_white_space() -> None:
    assert to_plain_text(" plain words ") == "plain words"
    assert (
        to_plain_text("two  spaces\tand\ta tab\nand a line ") == "two spaces and a tab and a line"
    )
    assert to_plain_text("\u00a0no-break\u2003em space\u3000ideographic") == (
        "no-break em space ideographic"
    )
    assert to_plain_text("<p> para </p>\r\n<p>two</p>") == "para two"


def test_a_numeric_guid_is_not_a_date() -> None:
    items = parse_feed((FEEDS / "guid-dates.xml").read_bytes(), URL).items
    assert items[0].published is None
    assert items[1].published == datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


# --- hostile feed text: nothing that could drive a terminal or hide text is stored ---------

SCREEN_CLEAR = "\x1b[2J\x1b[H"
WINDOW_TITLE = "\x1b]0;pwned\x07"
UNSAFE = (
    "\x1b\x07\x00\x7f\x85\x9b\x9d\u2028\u200b\u200d\u202e\u2066\u061c\u180e\ufff9\u206a"
    "\U000e0041\u3164\ud800"
)


def inert(text: str | None) -> bool:
    """Whether `text` holds no control or invisible character (`bot.core.safe_text`)."""
    return not text or not (CONTROLS.search(text) or INVISIBLE.search(text))


def rss_with(title: str, link: str, source_title: str = "Wire") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{source_title}</title><link>https://site.example.test/</link>"
        f"<item><guid>1</guid><title>{title}</title><link>{link}</link>"
        f"<description>{title}</description></item></channel></rss>"
    ).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("parser", [parse_feed, parse_feed_reference])
def test_a_feed_with_screen_clear_and_window_title_escapes_is_stored_inert(parser: object) -> None:
    body = rss_with(
        f"Canola {SCREEN_CLEAR}tariff{WINDOW_TITLE} &amp;#27;[2J news",
        f"https://news.example.test/a{SCREEN_CLEAR}b?q={WINDOW_TITLE}x",
        source_title=f"Evil{WINDOW_TITLE} Wire",
    )
    assert callable(parser)
    (item,) = parser(body, URL).items
    assert item.title == "Canola [2J [Htariff ]0;pwned [2J news"  # each ESC and BEL: a space
    assert item.summary == item.title and item.source == "Evil ]0;pwned Wire"
    assert item.url == "https://news.example.test/a%1B[2J%1B[Hb?q=%1B%5D0%3Bpwned%07x"


def test_a_link_with_a_control_character_is_percent_encoded_as_a_browser_would() -> None:
    assert canonical_url("https://news.example.test/a\x1b[2Jb") == (
        "https://news.example.test/a%1B[2Jb"
    )
    assert canonical_url("https://news.example.test/a\u202eb\u200bc") == (
        "https://news.example.test/a%E2%80%AEb%E2%80%8Bc"
    )
    # tabs and line breaks vanish, as do controls and spaces at either end (WHATWG URL)
    assert canonical_url("\x00 https://news.example.test/a\tb\nc\r \x1b") == (
        "https://news.example.test/abc"
    )
    assert canonical_url("https://news\x1b.example.test/a") is None  # no such host


@given(st.text())
def test_plain_text_never_keeps_a_control_or_invisible_character(text: str) -> None:
    assert inert(to_plain_text(text))


@given(st.lists(st.one_of(st.text(max_size=5), st.sampled_from(UNSAFE))).map("".join))
def test_a_canonical_link_never_holds_a_control_or_invisible_character(path: str) -> None:
    assert inert(canonical_url("https://news.example.test/" + path))
    assert inert(canonical_url(path, "https://news.example.test/feed"))


@given(st.lists(st.one_of(st.text(max_size=5), st.sampled_from(UNSAFE))).map("".join))
def test_a_configured_feed_name_and_url_are_kept_without_controls(text: str) -> None:
    spec = FeedSpec(f"https://feeds.example.test/{text}", f"Wire {text}", "config")
    assert inert(spec.name) and inert(spec.url) and spec.name.startswith("Wire")


# --- what the fast parser read wrong, read as feedparser reads it ---------------------------


def rss_items(items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (
        f'{head}<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>W</title>'
        f"<link>https://w.example.test/</link><item>{items}</item></channel></rss>"
    ).encode()


def atom_entry(entry: str) -> bytes:
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>W</title>'
        f'<link href="https://w.example.test/"/><entry><id>tag:w,1</id>{entry}</entry></feed>'
    ).encode()


READ_RIGHT = {
    "an undeclared HTML entity": (
        rss_items(
            "<title>testing &aacute; entity</title><description>a&nbsp;b&rsquo;s</description>"
        ),
        ("testing á entity", "a b’s", None),
    ),
    "a script in content only": (
        rss_items(
            "<title>t</title><content:encoded>&lt;p&gt;safe&lt;/p&gt;&lt;script&gt;"
            "location.href='x'&lt;/script&gt; text</content:encoded>"
        ),
        ("t", "safe text", None),
    ),
    "a media:title before the title": (
        rss_items("<media:title>bar</media:title><title>foo</title>"),
        ("foo", "", None),
    ),
    "another namespace's description": (
        rss_items(
            '<title>t</title><x:description xmlns:x="http://x.example/">wrong</x:description>'
            "<description>right</description>"
        ),
        ("t", "right", None),
    ),
    "an XHTML summary": (
        atom_entry(
            '<title>t</title><summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
            "Example <b>Atom</b></div></summary>"
        ),
        ("t", "Example Atom", None),
    ),
    "naked markup in a description": (
        rss_items("<title>t</title><description><p>Example description</p></description>"),
        ("t", "Example description", None),
    ),
    "HTML content held in a div": (
        atom_entry(
            '<content type="html"><div xmlns="http://www.w3.org/1999/xhtml">Example '
            "&lt;b&gt;Atom&lt;/b&gt;</div></content>"
        ),
        ("", "Example Atom", None),
    ),
    "a DOCTYPE in escaped HTML": (
        rss_items(
            '<title>t</title><description>&lt;!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN"&gt;'
            "&lt;p&gt;Hello&lt;/p&gt;</description>"
        ),
        ("t", "Hello", None),
    ),
    "base64 content": (
        atom_entry('<title>t</title><content type="application/octet-stream">SGVsbG8=</content>'),
        ("t", "Hello", None),
    ),
    "a self link only": (
        atom_entry('<title>t</title><link rel="self" href="https://w.example.test/self"/>'),
        ("t", "", None),
    ),
    "an enclosure before the alternate link": (
        atom_entry(
            '<title>t</title><link rel="enclosure" href="https://w.example.test/a.mp3"/>'
            '<link href="https://w.example.test/post"/>'
        ),
        ("t", "", "https://w.example.test/post"),
    ),
    "a guid that is not a permalink": (
        rss_items('<title>t</title><guid isPermaLink="false">https://w.example.test/g</guid>'),
        ("t", "", None),
    ),
    "Windows-1252 quotes in a feed labelled Latin-1": (
        rss_items("<title>don\x92t</title>", '<?xml version="1.0" encoding="iso-8859-1"?>').replace(
            b"\xc2\x92", b"\x92"
        ),
        ("don’t", "", None),
    ),
    "text declared plain": (
        atom_entry('<title type="text">History of the &lt;blink&gt; tag</title>'),
        ("History of the <blink> tag", "", None),
    ),
}


@pytest.mark.parametrize(("body", "expected"), READ_RIGHT.values(), ids=READ_RIGHT.keys())
def test_what_the_fast_parser_read_wrong_reads_as_feedparser_reads_it(
    body: bytes, expected: tuple[str, str, str | None]
) -> None:
    (item,) = parse_feed(body, URL).items
    assert (item.title, item.summary, item.url) == expected


def test_plain_text_maps_windows_1252_controls_and_repairs_double_encoding() -> None:
    assert to_plain_text("don\x92t \x93quoted\x94") == "don’t “quoted”"
    assert to_plain_text("â€¦ and CafÃ©") == "… and Café"
    assert to_plain_text("Pékin") == "Pékin"  # Latin-1 text that is no UTF-8 stays
    assert to_plain_text("History of the <blink> tag", markup=False) == (
        "History of the <blink> tag"
    )
    assert to_plain_text("&lt;?xml version='1.0'?&gt;&lt;!DOCTYPE html&gt;Hi") == "Hi"


def test_ordinary_shapes_of_real_feeds_stay_on_the_fast_path() -> None:
    wordpress = rss_items(
        "<title>China&#8217;s canola tariff</title><link>https://w.example.test/p/1</link>"
        '<guid isPermaLink="false">https://w.example.test/?p=1</guid>'
        "<description><![CDATA[<p>Duties&nbsp;on canola [&#8230;] "
        '<a href="https://w.example.test/?a=1&b=2">more</a></p>]]></description>'
        "<content:encoded><![CDATA[<p>Full&nbsp;text</p>]]></content:encoded>"
    )
    blogger = atom_entry(
        "<title type='text'>Canola &amp; peas</title><content type='html'>&lt;p&gt;China"
        "&amp;#39;s ministry&lt;/p&gt;</content><link rel='replies' href='https://w.example"
        ".test/c'/><link rel='alternate' type='text/html' href='https://w.example.test/p'/>"
    )
    media_rss = rss_items(
        "<title>Canola talks</title><link>https://w.example.test/a</link><description>Met."
        '</description><media:content url="https://w.example.test/a.jpg"><media:title '
        'type="plain">Ministers</media:title><media:credit>AP</media:credit></media:content>'
    )
    for body, expected in (
        (wordpress, ("China’s canola tariff", "Duties on canola […] more")),
        (blogger, ("Canola & peas", "China's ministry")),
        (media_rss, ("Canola talks", "Met.")),
    ):
        parsed = parse_feed(body, URL)
        assert parsed.parser == "fast"
        assert (parsed.items[0].title, parsed.items[0].summary) == expected


def test_a_date_past_what_a_datetime_holds_leaves_the_item_undated() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><entry><id>1</id>'
        b"<title>Canola talks</title><updated>9999-12-31T23:59:59-14:00</updated>"
        b'<link href="https://news.example.test/1"/></entry></feed>'
    )
    (item,) = parse_feed_reference(body, "https://news.example.test/feed").items
    assert item.title == "Canola talks" and item.published is None
