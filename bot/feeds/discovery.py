"""Feed discovery: whether a body is a web page, and which feeds the page names.

A page names its feeds with `<link rel="alternate" type="application/rss+xml" href=…>`
(or Atom, RDF, JSON Feed) in its head. Only the standard library's html.parser reads
the page, and only its first MiB up to `<body>`: a page of nothing but tags costs it
about a quarter of a second a MiB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from bot.core.safe_text import one_line, url_without_controls

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
    }
)
# tried, in this order, only when asked (`wirewatch feeds add --guess`)
GUESSED_PATHS = ("/feed", "/rss", "/atom.xml", "/feed.xml", "/rss.xml", "/index.xml")
_SNIFF = 2048  # bytes of a body looked at to tell a page from a feed
_PROLOG = re.compile(rb"\s*(?:<\?xml[^>]*\?>\s*|<!--.*?-->\s*)*", re.S)
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|title)[\s>/]", re.I)
_SHOWN = 3  # feeds a page's error names at most
_HEAD_LIMIT = 1 << 20  # bytes of a page searched for links


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed a page names: its absolute URL, its media type and its title (maybe empty)."""

    url: str
    type: str
    title: str = ""


def looks_like_html(body: bytes) -> bool:
    """Whether `body` is a web page: after a BOM, an XML declaration and comments, its
    first tag is an HTML one (a doctype, `<html>`, `<head>`...). Looks at 2 KiB at most."""
    head = body[:_SNIFF].removeprefix(b"\xef\xbb\xbf")
    prolog = _PROLOG.match(head)
    start = prolog.end() if prolog else 0
    return _HTML_START.match(head, start) is not None


def feed_links(body: bytes, page_url: str) -> tuple[FeedLink, ...]:
    """The feeds `body` (a page fetched from `page_url`) names before its `<body>` (in
    its first MiB), in document order, each once: relative hrefs resolved against
    `<base href>` or the page URL, only http(s) ones kept."""
    finder = _LinkFinder(page_url)
    try:
        finder.feed(body[:_HEAD_LIMIT].decode("utf-8", errors="replace"))
        finder.close()
    except _Done:
        pass
    except AssertionError:  # _markupbase's answer to some broken declarations (`<![<`)
        pass  # the links before it stand
    return tuple(finder.links)


def guessed_urls(page_url: str) -> tuple[str, ...]:
    """The common feed paths on `page_url`'s site, in the order to try them."""
    return tuple(urljoin(page_url, path) for path in GUESSED_PATHS)


def page_problem(body: bytes, url: str) -> str | None:
    """What is wrong with a feed whose URL (`url`) answered `body`, when that is a web page
    (`page_error`, with the feeds the page names); None for anything else."""
    return page_error(feed_links(body, url)) if looks_like_html(body) else None


def page_error(links: Sequence[FeedLink]) -> str:
    """The error of a feed whose URL answers with a web page: which feed URLs the page
    names, if any, to use instead."""
    if not links:
        return "this is a web page, not a feed, and it names no feed"
    urls = [link.url for link in links[:_SHOWN]]
    more = f" (and {len(links) - _SHOWN} more)" if len(links) > _SHOWN else ""
    if len(links) == 1:
        return f"this is a web page, not a feed; it names the feed {urls[0]}: use that URL"
    return (
        f"this is a web page, not a feed; it names the feeds {', '.join(urls)}{more}: "
        "use one of those URLs"
    )


class _Done(Exception):
    """The head is over: no feed link comes after it."""


class _LinkFinder(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.links: list[FeedLink] = []
        self._seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            raise _Done
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and values.get("href") and not self.links:
            self.base = _joined(self.base, values["href"]) or self.base
            return
        if tag != "link" or "alternate" not in values.get("rel", "").lower().split():
            return
        kind = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "").strip()
        if kind not in FEED_TYPES or not href:
            return
        url = _joined(self.base, href)
        if url is None or url in self._seen:
            return
        self._seen.add(url)
        self.links.append(FeedLink(url, kind, one_line(values.get("title", ""))[:200]))


def _joined(base: str, href: str) -> str | None:
    """`href` resolved against `base`, if that gives an http(s) URL."""
    try:
        url = url_without_controls(urljoin(base, url_without_controls(href)))
        return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname else None
    except ValueError:  # an href such as http://[bad
        return None
