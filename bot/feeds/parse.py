"""Feed bytes → Items. A fast parser on the hot path, feedparser for everything it can't do.

fastfeedparser (lxml-based) reads ordinary feeds about 50x faster than feedparser.
feedparser stays the reference: it is used whenever the fast parser fails, finds fewer
entries than the body has, or meets a construct it reads differently. Those constructs
are found in the bytes before the fast parser runs (`_needs_reference`: one pass each
for entity references, attributes, child markup and namespaced fields), or in its
entries after it ran (`_fast_entries`), and a differential test over feedparser's own
test corpus (tests/fixtures/feedparser) holds both readings to the same items.
feedparser is only ever given bytes; it never fetches a URL itself. A body whose first
character is `{` is a JSON Feed (`jsonfeed`).

Before either parser sees a body, it is cut to `max_items` entries (`entry_cap`) and,
when its declared charset is wrong, made readable (`charset`); both say so in the
feed's warning. Every reader's entries go through the same clean-up (`entries`).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import fastfeedparser
import feedparser

from bot.core.config import DEFAULT_MAX_ITEMS
from bot.core.safe_text import one_line
from bot.feeds.charset import DECLARED_ENCODING, readable_body
from bot.feeds.entries import (
    TITLE_LIMIT,
    Entry,
    FeedParseError,
    ParsedFeed,
    build_items,
    feed_base,
    guid_link,
    newest_entries,
    parse_warning,
)
from bot.feeds.entry_cap import ENTRY_TAG, cap_entries
from bot.feeds.jsonfeed import is_json, read_json_feed
from bot.feeds.plaintext import to_plain_text

__all__ = ["FeedParseError", "ParsedFeed", "parse_feed", "parse_feed_reference"]

log = logging.getLogger(__name__)

# tags, media, enclosures and content are not read: a missing summary is looked for in
# the content by a second reading (`_content_summaries`), which few feeds need
FAST_PARSER_OPTIONS = {
    "include_content": False,
    "include_tags": False,
    "include_media": False,
    "include_enclosures": False,
}
_WITH_CONTENT = {**FAST_PARSER_OPTIONS, "include_content": True}

# What the fast parser reads differently, found in the bytes (`_needs_reference`):
# an entity reference XML does not define (`&eacute;`, `&#X41;`) or a bare `&`, which
# its recovering parser drops with the text after it;
_ENTITY = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
# a `type`, `mode` or `xml:base` attribute (what it says is read in `_attribute_says`);
_ATTRIBUTE = re.compile(rb"=(?:(?<=type=)|(?<=mode=)|(?<=:base=))\s*[\"']([^\"'<>]{0,80})")
# an element of a field ending right after markup of its own (inline XHTML, naked
# HTML): the fast parser reads only the text before the first child element;
_CHILD_END = re.compile(
    rb"></([A-Za-z][\w.-]*:)?(title|description|summary|content|encoded|body|fullitem)\s*>"
)
_MARKUP_IN_TITLE = re.compile(rb"<title[^>]*>[^<]*<(?!/title|!\[CDATA)")
# a namespaced element with a field's name (media:title, itunes:summary): in RSS the
# fast parser takes the first element of that name whatever its namespace;
_NAMESPACED_FIELD = re.compile(rb":(?:title|description|summary|link)[\s/>]")
_FIELD_ELEMENT = {
    name: re.compile(rb"<" + name + rb"[\s/>]")
    for name in (b"title", b"description", b"summary", b"link")
}
# and a document whose root is not closed at its end (a cut or broken body).
_ROOT_END = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF|rdf|channel)\s*>")
_ROOT = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)\s*)*"
    rb"<(?:[\w.-]+:)?([\w.-]+)",
    re.S,
)
_NAME = re.compile(rb"[A-Za-z_][\w.-]*")
_TAG_NAME = re.compile(rb"[A-Za-z_][\w.:-]*")
_HTML_TYPES = frozenset((b"html", b"text/html"))
_TEXT_TYPES = frozenset((b"text", b"text/plain"))
_XHTML_TYPES = frozenset((b"xhtml", b"application/xhtml+xml"))
_TEXT_ELEMENTS = frozenset(
    (b"title", b"summary", b"content", b"description", b"subtitle", b"tagline", b"info")
)
_DATE_LIKE = re.compile(r"[\d\s:/.,+TZ-]+$")
# What the fast parser reads differently, found in its entries (`_FastReading`): in
# Atom, a title or summary whose declared type decides how it reads;
_TYPED_FIELD = re.compile(rb"<(?:atom:)?(title|summary)\b([^>]*)>")
_TYPE_VALUE = re.compile(rb"""\btype\s*=\s*["']([^"']*)""")
# elements feedparser reads a summary, a link or a title from and the fast parser not
_MORE_SUMMARY = {
    True: re.compile(rb"<(?:[\w.-]+:)?(?:description|body)[\s>]"),
    False: re.compile(rb"<(?:[\w.-]+:)?(?:body|fullitem)[\s>]"),
}
_LINK_WITH_ATTRIBUTES = re.compile(rb"<link\s")
_FEED_TITLE = re.compile(rb"<(?:[\w.-]+:)?title[\s>]")
_NOT_PERMALINK = re.compile(rb"""isPermaLink\s*=\s*["']false""")


def parse_feed(
    body: bytes,
    url: str,
    source: str | None = None,
    *,
    charset: str | None = None,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> ParsedFeed:
    """Parse `body` fetched from `url` into at most `max_items` items. Raises
    FeedParseError when no parser can read it.

    `source` names the items' outlet; by default the feed's own title. `charset` is the
    one the response's Content-Type declared, if any. No text of an item (title,
    summary, source, link) holds a control or invisible character.
    """
    if is_json(body):
        return read_json_feed(body, url, source, max_items=max_items)
    tags = len(ENTRY_TAG.findall(body))
    capped = cap_entries(body, max_items, tags)
    if capped.found is not None:
        tags = len(ENTRY_TAG.findall(capped.body))
    readable = readable_body(capped.body, charset)  # tags stay as they were: ASCII
    body = readable.body
    root = _ROOT.match(body)
    atom = root is not None and root.group(1).lower() == b"feed"
    if reason := _needs_reference(body, readable.utf8, atom):
        log.debug("fast parser not used on %s (%s); using feedparser", url, reason)
    else:
        try:
            fast = fastfeedparser.parse(body, **FAST_PARSER_OPTIONS)
        except Exception as exc:  # the fast parser raises many types; all mean "fall back"
            log.debug("fast parser failed on %s (%s); using feedparser", url, exc)
        else:
            raw = fast.get("entries") or []
            reading = _FastReading(body, atom)
            entries = reading.entries(raw) if raw and len(raw) >= tags else None
            feed = fast.get("feed") or {}
            feed_title = feed.get("title") or ""
            if entries is not None and reading.feed_title_read(feed_title):
                title = to_plain_text(feed_title, TITLE_LIMIT, markup=not reading.plain("title"))
                base = feed_base(feed.get("link"), url)
                kept = newest_entries(entries, max_items)
                items = build_items(kept, base, one_line(source or title or url))
                found = capped.found or (len(entries) if len(entries) > max_items else None)
                warning = parse_warning([readable.warning], found, len(items))
                return ParsedFeed(title, items, warning)
    return _reference(body, url, source, max_items, readable.warning, capped.found)


def parse_feed_reference(
    body: bytes, url: str, source: str | None = None, *, max_items: int = DEFAULT_MAX_ITEMS
) -> ParsedFeed:
    """Parse with feedparser only: the reference reading, also used by the differential test."""
    return _reference(body, url, source, max_items, None, None)


def _reference(
    body: bytes,
    url: str,
    source: str | None,
    max_items: int,
    charset_warning: str | None,
    found: int | None,
) -> ParsedFeed:
    """feedparser's reading of `body`, its warning after `charset_warning`; `found` is
    how many entries the body had before `cap_entries` cut it, if it did."""
    try:
        parsed = feedparser.parse(body)
    except Exception as exc:  # feedparser's own bugs on broken bodies (int(None) on <width/>)
        raise FeedParseError(f"not a readable feed: feedparser failed ({exc!r:.200})") from None
    raw_entries = parsed.get("entries") or []
    if parsed.get("bozo") and not raw_entries:
        raise FeedParseError(f"not a readable feed: {_bozo_reason(parsed)}")
    if not raw_entries and not parsed.get("feed"):
        raise FeedParseError("no feed found in the response")
    malformed = (
        f"malformed feed, entries kept: {_bozo_reason(parsed)}" if parsed.get("bozo") else None
    )
    atom = str(parsed.get("version") or "").startswith("atom")
    feed = parsed.get("feed") or {}
    plain = atom and _declared_type(feed.get("title_detail")) == "text/plain"
    title = to_plain_text(feed.get("title"), TITLE_LIMIT, markup=not plain)
    entries = newest_entries(_reference_entries(raw_entries, atom), max_items)
    items = build_items(entries, feed_base(feed.get("link"), url), one_line(source or title or url))
    found = found or (len(raw_entries) if len(raw_entries) > max_items else None)
    warning = parse_warning([charset_warning, malformed], found, len(items))
    return ParsedFeed(title, items, warning, "feedparser")


def _needs_reference(body: bytes, utf8: bool, atom: bool) -> str | None:
    """Why only feedparser reads this body right, if it does: not plain UTF-8 (`utf8`:
    the body is ASCII or valid UTF-8), or a construct the fast parser reads differently
    (see the patterns above); `atom` when the root element is Atom's `feed`."""
    declared = DECLARED_ENCODING.match(body)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        return "a declared charset"
    if not utf8:
        return "not UTF-8"
    if _ROOT_END.search(body, len(body) - 1024) is None:
        return "no end to its root element"
    if _has_entity_to_define(body):
        return "an entity reference XML does not define"
    if _MARKUP_IN_TITLE.search(body):
        return "markup in a title"
    if any(_attribute_says(body, found) for found in _ATTRIBUTE.finditer(body)):
        return "xml:base, base64 or inline XHTML"
    if any(_is_child_markup(body, found) for found in _CHILD_END.finditer(body)):
        return "markup in a field"
    if b"<!DOCTYPE" in body[:4096] and b"<!ENTITY" in body[: body.find(b"]>") + 1]:
        return "entities declared in its DOCTYPE"
    if not atom and _has_namespaced_field(body):
        return "a namespaced element named like a field"
    return None


def _has_entity_to_define(body: bytes) -> bool:
    """Whether an entity reference XML does not define (or a bare `&`) stands outside
    CDATA sections and comments, where it is text."""
    pos = 0
    while (found := _ENTITY.search(body, pos)) is not None:
        at = found.start()
        for start, end in ((b"<![CDATA[", b"]]>"), (b"<!--", b"-->")):
            opened = body.rfind(start, 0, at)
            if opened >= 0 and body.find(end, opened, at) < 0:
                closed = body.find(end, at)
                if closed < 0:
                    return True  # never closed: a broken body
                pos = closed + len(end)
                break
        else:
            return True
    return False


def _attribute_says(body: bytes, found: re.Match[bytes]) -> bool:
    """Whether the `type`, `mode` or `xml:base` attribute `found` asks for feedparser:
    xml:base (the fast parser does not resolve against it), base64 or inline XML, or a
    field whose type is XHTML or a media type feedparser decodes from base64."""
    name_end = found.start()
    value = found.group(1).strip().lower()
    if body[name_end - 4 : name_end] == b"mode":
        return value in (b"base64", b"xml")
    if body[name_end - 8 : name_end] == b"xml:base":
        return True
    if body[name_end - 4 : name_end] != b"type":
        return False
    opened = body.rfind(b"<", 0, name_end)
    tag = _TAG_NAME.match(body, opened + 1)
    prefix, _, local = tag.group().lower().rpartition(b":") if tag else (b"", b"", b"")
    if local not in _TEXT_ELEMENTS or prefix not in (b"", b"atom"):
        return False  # media:title type="plain" and its kind: nothing the fields read
    if not value or value in _HTML_TYPES or value in _TEXT_TYPES:
        return False
    return value in _XHTML_TYPES or not (
        value.startswith(b"text/") or value.endswith(b"+xml") or value.endswith(b"/xml")
    )


def _is_child_markup(body: bytes, found: re.Match[bytes]) -> bool:
    """Whether the tag ending where `found` starts is markup inside the field that
    closes there, not the field's own start tag (`<title></title>`) or CDATA."""
    end = found.start()
    if body[end - 2 : end] == b"]]":
        return False
    field = found.group(2).lower()
    if found.group(1) and field not in (b"encoded", b"body"):
        return False  # media:content holding media:title, and its kind: not a field
    opened = body.rfind(b"<", 0, end)
    if body[opened + 1 : opened + 2] == b"/":
        return True  # a child's end tag
    tag = _TAG_NAME.match(body, opened + 1)  # else the field's own start tag, or a child's
    return tag is None or tag.group().rpartition(b":")[2].lower() != field


def _has_namespaced_field(body: bytes) -> bool:
    """Whether an RSS entry holds a namespaced element named like a field (media:title,
    itunes:summary) before the field's own element, or without one."""
    first = ENTRY_TAG.search(body)  # None when entries are namespaced too: all of it
    for found in _NAMESPACED_FIELD.finditer(body, first.start() if first else 0):
        opened = body.rfind(b"<", max(0, found.start() - 64), found.start())
        if opened < 0 or not _NAME.fullmatch(body, opened + 1, found.start()):
            continue  # an end tag, or not a tag at all
        entry = max(body.rfind(b"<item", 0, opened), body.rfind(b"<entry", 0, opened))
        field = _FIELD_ELEMENT[found.group()[1:-1]]
        if entry < 0 or field.search(body, entry, opened) is None:
            return True
    return False


class _FastReading:
    """The fast parser's entries of one body, read as feedparser reads them, or None
    where only feedparser can (see `entries`)."""

    def __init__(self, body: bytes, atom: bool) -> None:
        self.body = body
        self.atom = atom
        self._types: dict[bytes, set[bytes]] | None = None

    def entries(self, raw: Sequence[Mapping[str, Any]]) -> list[Entry] | None:
        """The entries, or None when one of them may read differently from feedparser's
        reading: a guid taken for a date or a link, a link of the wrong kind, a title or
        summary whose declared type is unclear, a field the fast parser did not read."""
        entries: list[Entry] = []
        missing: list[int] = []
        same_link = no_link = no_title = empty = False
        atom = self.atom
        plain_title, plain_summary = self.plain("title"), self.plain("summary")
        for e in raw:
            guid = e.get("id") or None
            published = e.get("published")
            # fastfeedparser dates an undated RSS item by parsing its guid ("7" becomes
            # the 7th of this month) where feedparser leaves it undated
            if guid and published and _DATE_LIKE.match(str(guid)):
                return None
            title = e.get("title") or ""
            summary = e.get("description") or ""
            if atom:
                if self.unsure(title, "title") or self.unsure(summary, "summary"):
                    return None
                link = _alternate_link(e.get("links"))
                if link is None:
                    if guid and guid == e.get("link"):
                        return None  # its id may be a link's href, given when it had none
                    link = guid_link(guid)
            else:
                if e.get("links"):
                    return None  # atom:link in an RSS item
                link = e.get("link") or None
                same_link = same_link or (link is not None and link == guid)
            if not summary:
                missing.append(len(entries))
            if not link:
                no_link = True
                no_title = no_title or not title
                empty = empty or not (title or summary)
            elif not title:
                no_title = True
            entries.append(  # positional: keywords cost a tenth of this loop
                Entry(
                    guid,
                    title,
                    summary,
                    link,
                    _iso_datetime(published or e.get("updated")),
                    plain_title,
                    plain_summary,
                )
            )
        if same_link and not self._links_are_elements(len(entries)):
            return None
        if missing and not self._content_summaries(entries, missing):
            return None
        if empty and any(not (e.title or e.summary or e.link) for e in entries):
            return None  # feedparser may find what the fast parser did not read
        if no_link and self._finds(_LINK_WITH_ATTRIBUTES):
            return None
        if atom and no_title and b":title" in self.body:
            return None
        return entries

    def feed_title_read(self, title: str) -> bool:
        """Whether the fast parser's feed `title` is feedparser's: not empty where the
        body has a title before its entries (a namespaced RSS channel), and not unsure."""
        if not title:
            first = ENTRY_TAG.search(self.body)
            end = first.start() if first else len(self.body)
            return _FEED_TITLE.search(self.body, 0, end) is None
        return not (self.atom and self.unsure(title, "title"))

    def plain(self, field: str) -> bool:
        """Whether this Atom body declares every `field` ("title" or "summary") plain
        text (`type="text"`, or by default)."""
        return self.atom and self._declared(field) <= _TEXT_TYPES | {b""}

    def unsure(self, text: str, field: str) -> bool:
        """Whether Atom `text` reads differently as HTML and as plain text, and the
        body's `field` elements do not all declare one type or the other."""
        if not ("<" in text or "&" in text) or to_plain_text(text) == to_plain_text(
            text, markup=False
        ):
            return False
        declared = self._declared(field)
        return not (declared <= _TEXT_TYPES | {b""} or declared <= _HTML_TYPES)

    def _declared(self, field: str) -> set[bytes]:
        """The types the body's `field` elements declare (b"" for none), read once."""
        if self._types is None:
            self._types = {b"title": set(), b"summary": set()}
            for found in _TYPED_FIELD.finditer(self.body):
                declared = _TYPE_VALUE.search(found.group(2))
                value = declared.group(1).strip().lower() if declared else b""
                self._types[found.group(1).lower()].add(value)
        return self._types[field.encode()]

    def _content_summaries(self, entries: list[Entry], missing: list[int]) -> bool:
        """Fill the summary of each entry at `missing` from its content, read a second
        time with content (feedparser's summary when an entry has no summary); False
        when a content's type is one only feedparser reads, or another element may hold
        the summary."""
        try:
            raw = fastfeedparser.parse(self.body, **_WITH_CONTENT).get("entries") or []
        except Exception:  # read once already: a failure now means "fall back" too
            return False
        if len(raw) != len(entries):
            return False
        for n in missing:
            content = raw[n].get("content")
            if not content:
                if self._finds(_MORE_SUMMARY[self.atom]):
                    return False
                continue
            kind = str(content[0].get("type") or "html").lower()
            if kind not in ("html", "text/html", "text", "text/plain"):
                return False
            plain = self.atom and kind in ("text", "text/plain")
            entries[n] = entries[n]._replace(
                summary=content[0].get("value") or "", plain_summary=plain
            )
        return True

    def _links_are_elements(self, count: int) -> bool:
        """Whether no RSS link can be a guid that is not a permalink (the fast parser
        takes any http(s) guid for the link of an item without one): the body says no
        guid is not a permalink, or has a `<link>` element for each of `count` items."""
        if not self._finds(_NOT_PERMALINK):
            return True
        first = ENTRY_TAG.search(self.body)
        return first is not None and self.body.count(b"<link>", first.start()) >= count

    def _finds(self, pattern: re.Pattern[bytes]) -> bool:
        """Whether `pattern` occurs in the body's entries."""
        first = ENTRY_TAG.search(self.body)
        return first is not None and pattern.search(self.body, first.start()) is not None


def _alternate_link(links: Any) -> str | None:
    """The entry's link as feedparser picks it: the last `alternate` link (the default
    rel) of an HTML type (the default type)."""
    picked = None
    for link in links or ():
        if not isinstance(link, Mapping) or not link.get("href"):
            continue
        if (link.get("rel") or "alternate") != "alternate":
            continue
        kind = str(link.get("type") or "text/html").lower()
        if kind in ("text/html", "html", "application/xhtml+xml", "xhtml"):
            picked = str(link["href"])
    return picked


def _declared_type(detail: Any) -> str | None:
    return str(detail.get("type") or "") if isinstance(detail, Mapping) else None


def _bozo_reason(parsed: Mapping[str, Any]) -> str:
    exc = parsed.get("bozo_exception")
    return str(exc).splitlines()[0][:200] if exc else "unknown problem"


def _reference_entries(raw: Iterable[dict[str, Any]], atom: bool) -> list[Entry]:
    """feedparser's entries; in Atom, text it calls text/plain is plain text."""
    entries = []
    for e in raw:
        summary = e.get("summary")
        summary_type = _declared_type(e.get("summary_detail"))
        content = e.get("content") or [{}]
        if not summary or (summary_type is None and summary == content[0].get("value")):
            # no summary, or the one feedparser copied from the content without its type
            summary = summary or content[0].get("value")
            summary_type = _declared_type(content[0])
        guid = e.get("id") or None
        link = e.get("link") or None
        if link and e.get("guidislink") and link == guid:
            link = guid_link(link)
        # dict.get: feedparser's own lookup warns about its published/updated aliasing
        stamp = dict.get(e, "published_parsed") or dict.get(e, "updated_parsed")
        entries.append(
            Entry(
                guid=guid,
                title=e.get("title") or "",
                summary=summary or "",
                link=link,
                published=_from_struct_time(stamp),
                plain_title=atom and _declared_type(e.get("title_detail")) == "text/plain",
                plain_summary=atom and summary_type == "text/plain",
            )
        )
    return entries


def _iso_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if stamp.tzinfo is UTC:  # the parser's usual answer: nothing to convert
        return stamp
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _from_struct_time(stamp: Any) -> datetime | None:
    """feedparser's parsed date as aware UTC, or None when it has none or one no datetime
    holds (`9999-12-31T23:59:59-14:00` is in the year 10000)."""
    if not stamp:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        return None
