"""Feed discovery: a page told from a feed, and the feeds a page names in its head."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.safe_text import CONTROLS, INVISIBLE
from bot.feeds.discovery import (
    FeedLink,
    feed_links,
    guessed_urls,
    looks_like_html,
    page_error,
)

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
PAGE = "https://blog.example.test/posts/today.html"


def page(head: str, body: str = "<p>hello</p>") -> bytes:
    html = f"<html><head><title>A blog</title>{head}</head><body>{body}</body></html>"
    return f"<!DOCTYPE html>{html}".encode()


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>x</body></html>",
        b"\xef\xbb\xbf  \n<!doctype HTML>\n<html lang=en>",
        b'<?xml version="1.0"?>\n<!-- a comment -->\n<html xmlns="http://www.w3.org/1999/xhtml">',
        b"<html>",
        b"<head><meta charset=utf-8>",
        b"\n\n<title>Not found</title>",
    ],
)
def test_a_web_page_is_told_from_a_feed(body: bytes) -> None:
    assert looks_like_html(body)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
        b"<?xml version='1.0'?><!-- <html> in a comment --><rdf:RDF></rdf:RDF>",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        b"",
        b"<rss><channel><description>&lt;html&gt;</description></channel></rss>",
    ],
)
def test_a_feed_is_not_taken_for_a_page(body: bytes) -> None:
    assert not looks_like_html(body)


def test_every_fixture_feed_reads_as_a_feed() -> None:
    for path in FEEDS.iterdir():
        if path.suffix in (".xml", ".rss", ".atom", ".json") and path.name != "unreadable.xml":
            assert not looks_like_html(path.read_bytes()), path.name


def test_links_resolve_against_the_page_in_document_order_each_once() -> None:
    body = page(
        '<link rel="alternate" type="application/rss+xml" title="Posts" href="/feed.xml">'
        '<link rel="stylesheet" href="/style.css">'
        "<LINK REL='Alternate Feed' TYPE='application/atom+xml; charset=utf-8' HREF='atom'>"
        '<link rel="alternate" type="application/feed+json" href="https://cdn.example.test/f.json">'
        '<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
        '<link rel="alternate" type="application/rss+xml" href="">'
        '<link rel="alternate" type="application/rss+xml" href="http://[broken">'
    )
    assert feed_links(body, PAGE) == (
        FeedLink("https://blog.example.test/feed.xml", "application/rss+xml", "Posts"),
        FeedLink("https://blog.example.test/posts/atom", "application/atom+xml"),
        FeedLink("https://cdn.example.test/f.json", "application/feed+json"),
    )


def test_a_base_element_moves_where_relative_links_point() -> None:
    body = page(
        '<base href="https://static.example.test/site/">'
        '<link rel=alternate type=application/rss+xml href="rss.xml">'
    )
    assert [link.url for link in feed_links(body, PAGE)] == [
        "https://static.example.test/site/rss.xml"
    ]


def test_links_after_the_body_starts_are_not_read() -> None:
    body = page("", '<link rel="alternate" type="application/rss+xml" href="/late.xml">')
    assert feed_links(body, PAGE) == ()


def test_a_link_with_controls_in_its_href_is_kept_percent_encoded() -> None:
    body = page('<link rel="alternate" type="application/rss+xml" href="/feed\u202e.xml">')
    assert [link.url for link in feed_links(body, PAGE)] == [
        "https://blog.example.test/feed%E2%80%AE.xml"
    ]


KNOWN = b'<head><link rel="alternate" type="application/rss+xml" href="/known.xml">'


@given(st.binary(max_size=2000))
def test_any_bytes_give_only_absolute_http_links(junk: bytes) -> None:
    """Whatever follows a page's first feed link, that link is read, and every link is
    an absolute http(s) URL."""
    links = feed_links(KNOWN + junk, PAGE)
    assert links[0].url == "https://blog.example.test/known.xml"
    for link in links:
        assert urlsplit(link.url).scheme in ("http", "https") and urlsplit(link.url).hostname


_MARKUP = st.sampled_from(
    ["<", ">", "!", "[", "]", "/", "-", "?", "&", "#", ";", '"', "'", "=", " ", "link",
     "rel=alternate", "type=application/rss+xml", "href=", "CDATA", "DOCTYPE", "if", "--",
     "body", "script", "base", "x"]
)  # fmt: skip


@given(st.lists(_MARKUP, max_size=60))
def test_any_markup_soup_is_read_without_an_error(parts: list[str]) -> None:
    links = feed_links(KNOWN + "".join(parts).encode(), PAGE)
    assert links[0].url == "https://blog.example.test/known.xml"
    assert all(link.url.startswith("http") for link in links)


def test_a_broken_declaration_keeps_the_links_before_it() -> None:
    body = b"<head><link rel=alternate type=application/atom+xml href=/a.xml><![<"
    assert [link.url for link in feed_links(body, PAGE)] == ["https://blog.example.test/a.xml"]


@given(st.text(max_size=300))
def test_any_href_gives_an_absolute_http_link_or_none(href: str) -> None:
    attr = href.replace('"', "&quot;")
    links = feed_links(
        page(f'<link rel="alternate" type="application/rss+xml" href="{attr}">'), PAGE
    )
    assert len(links) <= 1
    for link in links:
        assert urlsplit(link.url).scheme in ("http", "https")
        assert not CONTROLS.search(link.url) and not INVISIBLE.search(link.url)


def test_the_usual_paths_are_on_the_page_s_site() -> None:
    assert guessed_urls(PAGE)[:3] == (
        "https://blog.example.test/feed",
        "https://blog.example.test/rss",
        "https://blog.example.test/atom.xml",
    )


def test_the_page_error_names_the_feed_urls_to_use() -> None:
    one = FeedLink("https://blog.example.test/feed.xml", "application/rss+xml")
    two = FeedLink("https://blog.example.test/atom", "application/atom+xml")
    assert page_error([]) == "this is a web page, not a feed, and it names no feed"
    assert page_error([one]) == (
        "this is a web page, not a feed; it names the feed "
        "https://blog.example.test/feed.xml: use that URL"
    )
    assert page_error([one, two]) == (
        "this is a web page, not a feed; it names the feeds https://blog.example.test/feed.xml, "
        "https://blog.example.test/atom: use one of those URLs"
    )
    assert page_error([one, two, one, two]).endswith("(and 1 more): use one of those URLs")
