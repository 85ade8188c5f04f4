"""Every file of feedparser's own test corpus read as feedparser reads it.

For each of the 2,107 files in tests/fixtures/feedparser, wirewatch's reading
(`parse_feed`: the fast parser, or feedparser where the fast one would read it wrong)
is held to feedparser's reading of the same bytes after wirewatch's documented clean-up
(`bot.feeds.entries`): the feed's title, and per entry the title, the link and the
summary. Only the files in KNOWN_DIFFERENCES may differ, each for the reason given
there; and each of them must still differ, so the list stays true.

Run as a script (`PYTHONPATH=$PWD python3 tests/test_feedparser_corpus.py`) to print
the figures docs/feeds.md quotes.
"""

from __future__ import annotations

import contextlib
import hashlib
import html.entities
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.canonical import canonical_url
from bot.feeds.entries import SUMMARY_LIMIT, TITLE_LIMIT, guid_link
from bot.feeds.parse import FeedParseError, parse_feed
from bot.feeds.plaintext import to_plain_text

CORPUS = Path(__file__).parent / "fixtures" / "feedparser"
FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".xml", ".json"))
URL = "https://corpus.example.test/feed.xml"

_STRAY_BYTES = (
    "a legacy-charset body that declares no charset: we read its valid UTF-8 sequences as "
    "UTF-8 and only the stray bytes as Windows-1252; feedparser (without chardet) reads the "
    "whole body as Windows-1252. Both are mojibake; neither is the real charset"
)
_CRAZY = (
    "HTML built to fool regular expressions: a <script> whose end tag hides behind comments "
    "that open another <script>. feedparser's sanitizer keeps the script's text "
    '("function executeMe() {"); our plain-text step drops the whole script'
)
_LINK_TEXT = (
    "an Atom <link> without href, its URL as text, with rel=enclosure: feedparser takes "
    "that text for the entry's link, whatever the rel; we take the alternate link only "
    "(here both entries then have the same link, so we keep one)"
)
KNOWN_DIFFERENCES = {
    "encoding/bozo_linenoise.xml": (
        "UTF-8 with one stray byte: we read the UTF-8 as UTF-8 and the stray byte as "
        "Windows-1252 (’<>”©); feedparser reads the whole body as Windows-1252 (â€™…)"
    ),
    "illformed/chardet/big5.xml": _STRAY_BYTES + "; feedparser then finds no item at all",
    "illformed/chardet/eucjp.xml": _STRAY_BYTES,
    "illformed/chardet/euckr.xml": _STRAY_BYTES,
    "illformed/chardet/gb2312.xml": _STRAY_BYTES,
    "illformed/chardet/shiftjis.xml": _STRAY_BYTES,
    "illformed/chardet/tis620.xml": _STRAY_BYTES,
    "json/example.json": (
        "a JSON Feed: feedparser 6.0 has no JSON Feed reader (its next version has); ours "
        "reads its two items (tests/test_jsonfeed.py)"
    ),
    "wellformed/atom/entry_link_rel_enclosure_no_href.xml": _LINK_TEXT,
    "wellformed/atom10/entry_link_rel_enclosure_no_href.xml": _LINK_TEXT,
    "wellformed/rss/item_summary_and_description.xml": (
        "an RSS item with both <summary> and <description>: feedparser takes the first in "
        "document order, the fast parser (and so we) the description"
    ),
    "wellformed/sanitize/entry_content_crazy.xml": _CRAZY,
    "wellformed/sanitize/entry_summary_crazy.xml": _CRAZY,
    "wellformed/sanitize/entry_title_crazy.xml": _CRAZY,
    "wellformed/sanitize/item_content_encoded_crazy.xml": _CRAZY,
    "wellformed/sanitize/item_description_crazy.xml": _CRAZY,
}

Row = tuple[str, str | None, str]  # title, link, summary; the first row is the feed's title


def _type(detail: Any) -> str | None:
    return detail.get("type") if isinstance(detail, dict) else None


def feedparser_reading(body: bytes) -> list[Row]:
    """feedparser's reading of `body` after wirewatch's documented clean-up: [] when
    feedparser finds no feed, else the feed's title, then each entry (those with no
    title, summary or link dropped, and of entries with one key the first kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = feedparser.parse(body)
    entries = parsed.get("entries") or []
    feed = parsed.get("feed") or {}
    if (parsed.get("bozo") and not entries) or not (entries or feed):
        return []
    atom = str(parsed.get("version") or "").startswith("atom")

    def plain(text: Any, limit: int, declared: str | None) -> str:
        # Atom text declared (or by default) plain is kept as it is; all else is HTML
        return to_plain_text(text or "", limit, markup=not (atom and declared == "text/plain"))

    base = canonical_url(feed.get("link"), URL) or URL
    rows: list[Row] = [
        (plain(feed.get("title"), TITLE_LIMIT, _type(feed.get("title_detail"))), None, "")
    ]
    seen: set[str] = set()
    for e in entries:
        summary, summary_type = e.get("summary"), _type(e.get("summary_detail"))
        content = (e.get("content") or [{}])[0]
        if not summary or (summary_type is None and summary == content.get("value")):
            summary, summary_type = summary or content.get("value"), _type(content)
        link = e.get("link")
        if link and e.get("guidislink") and link == e.get("id"):
            link = guid_link(link)  # a guid stands for the link only as an absolute URL
        row = (
            plain(e.get("title"), TITLE_LIMIT, _type(e.get("title_detail"))),
            canonical_url(link, base),
            plain(summary, SUMMARY_LIMIT, summary_type),
        )
        if not any(row):
            continue
        guid = (e.get("id") or "").strip()
        key = guid if guid and guid != (e.get("link") or "").strip() else None
        key = key or row[1] or hashlib.sha1(f"{row[0]}\n{row[2]}".encode()).hexdigest()
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


def our_reading(body: bytes) -> tuple[list[Row], str]:
    """`parse_feed`'s reading of `body` as rows, and the parser that read it ("error"
    when it is unreadable)."""
    try:
        parsed = parse_feed(body, URL)
    except FeedParseError:
        return [], "error"
    rows: list[Row] = [(parsed.title, None, "")]
    rows += [(i.title, i.url, i.summary) for i in parsed.items]
    return rows, parsed.parser


def figures() -> Counter[str]:
    """How many files, entries, and entry fields agree, over the whole corpus."""
    counts: Counter[str] = Counter()
    for path in FILES:
        body = path.read_bytes()
        ours, parser = our_reading(body)
        theirs = feedparser_reading(body)
        counts["files"] += 1
        counts[f"parser {parser}"] += 1
        counts["files agreeing"] += ours == theirs
        counts["feed titles"] += bool(theirs)
        counts["feed titles agreeing"] += bool(theirs) and ours[:1] == theirs[:1]
        for n, expected in enumerate(theirs[1:], start=1):
            got = ours[n] if n < len(ours) else (None, None, None)
            counts["entries"] += 1
            for field, ours_, theirs_ in zip(
                ("titles", "links", "summaries"), got, expected, strict=True
            ):
                counts[f"{field} agreeing"] += ours_ == theirs_
        counts["extra entries"] += max(0, len(ours) - max(len(theirs), 1))
    return counts


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_each_file_reads_as_feedparser_reads_it(path: Path) -> None:
    body = path.read_bytes()
    ours, _ = our_reading(body)  # no exception but FeedParseError: no crash
    theirs = feedparser_reading(body)
    name = str(path.relative_to(CORPUS))
    if name in KNOWN_DIFFERENCES:
        assert ours != theirs, f"{name} now reads as feedparser reads it: unlist it"
    else:
        assert ours == theirs


def test_the_corpus_is_all_there_and_mostly_read_fast() -> None:
    assert len(FILES) == 2107
    assert all((CORPUS / name).is_file() for name in KNOWN_DIFFERENCES)
    counts = figures()
    assert counts["parser fast"] >= 500  # only what the fast parser reads wrong goes slow


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(FILES),
    cut=st.integers(min_value=0, max_value=4000),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=8)), max_size=4),
)
def test_a_corpus_file_cut_or_mangled_is_a_feed_or_a_feed_error(
    path: Path, cut: int, edits: list[tuple[int, bytes]]
) -> None:
    body = bytearray(path.read_bytes()[: max(cut, 1)])
    for at, insert in edits:
        at %= len(body) + 1
        body[at : at + len(insert)] = insert
    with contextlib.suppress(FeedParseError):
        parse_feed(bytes(body), URL)


# --- every HTML 4 entity, undeclared, in an item's title and summary -----------------------

ENTITIES = sorted(html.entities.name2codepoint.items())


def rss_item(text: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>'
        f"<link>https://w.example.test/</link><item><title>testing {text} entity</title>"
        f"<description>about {text} it</description><link>https://w.example.test/1</link>"
        "</item></channel></rss>"
    ).encode()


def atom_entry(text: str) -> bytes:
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>W</title><entry><id>tag:w,1</id>'
        f'<title type="html">testing {text} entity</title>'
        f"<summary>about {text} it</summary>"
        '<link href="https://w.example.test/1"/></entry></feed>'
    ).encode()


@pytest.mark.parametrize("document", [rss_item, atom_entry])
@pytest.mark.parametrize(("name", "codepoint"), ENTITIES, ids=[n for n, _ in ENTITIES])
def test_an_undeclared_html_entity_comes_out_decoded(
    name: str, codepoint: int, document: Any
) -> None:
    (item,) = parse_feed(document(f"&{name};"), URL).items
    char = chr(codepoint)
    assert item.title == to_plain_text(f"testing {char} entity")
    plain = document is atom_entry  # an Atom summary is plain text by default
    assert item.summary == to_plain_text(f"about {char} it", markup=not plain)


if __name__ == "__main__":
    for label, count in sorted(figures().items()):
        print(f"{label:24s} {count:6,}")
