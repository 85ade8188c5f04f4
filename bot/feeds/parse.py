"""Feed bytes → Items. A fast parser on the hot path, feedparser for everything it can't do.

fastfeedparser (lxml-based) reads ordinary feeds about 50x faster than feedparser.
feedparser stays the reference: it is used whenever the fast parser fails, finds no
entries, or meets a construct it is known to read differently (see `_needs_reference`).
feedparser is only ever given bytes; it never fetches a URL itself.

Before either parser sees a body, it is cut to `max_items` entries (`entry_cap`) and,
when its declared charset is wrong, made readable (`charset`); both say so in the
feed's warning.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import fastfeedparser
import feedparser

from bot.core.config import DEFAULT_MAX_ITEMS
from bot.core.errors import FeedError
from bot.core.models import Item
from bot.core.safe_text import one_line
from bot.feeds.canonical import canonical_url
from bot.feeds.charset import DECLARED_ENCODING, readable_body
from bot.feeds.entry_cap import ENTRY_TAG, UNDATED, cap_entries, newest
from bot.feeds.plaintext import to_plain_text

log = logging.getLogger(__name__)

SUMMARY_LIMIT = 1000  # characters of plain-text summary kept per item
# tags, media and enclosures are never read: asking for none is 7% faster
FAST_PARSER_OPTIONS = {"include_tags": False, "include_media": False, "include_enclosures": False}
TITLE_LIMIT = 500
WARNING_LIMIT = 500  # characters of a feed's parse warning

# Constructs that fastfeedparser reads differently from feedparser: xml:base (it does not
# resolve against it), raw child markup inside <title> and bare `&` (its recovering parser
# drops the text), which the differential test over tests/fixtures/feeds pins down.
_MARKUP_IN_TITLE = re.compile(rb"<title[^>]*>[^<]*<(?!/title|!\[CDATA)", re.I)
_BARE_AMPERSAND = re.compile(rb"&(?!#?[A-Za-z0-9]+;)")
_DATE_LIKE = re.compile(r"[\d\s:/.,+TZ-]+$")


class FeedParseError(FeedError):
    """The bytes are not a feed that any parser can read."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The items of one feed body; `warning` is set when the feed was malformed but readable."""

    title: str
    items: tuple[Item, ...]
    warning: str | None = None
    parser: str = "fast"


class _Entry(NamedTuple):
    guid: str | None
    title: str
    summary: str
    link: str | None
    published: datetime | None


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
    tags = len(ENTRY_TAG.findall(body))
    capped = cap_entries(body, max_items, tags)
    if capped.found is not None:
        tags = len(ENTRY_TAG.findall(capped.body))
    readable = readable_body(capped.body, charset)  # tags stay as they were: ASCII
    body = readable.body
    if not _needs_reference(body, readable.utf8):
        try:
            fast = fastfeedparser.parse(body, **FAST_PARSER_OPTIONS)
        except Exception as exc:  # the fast parser raises many types; all mean "fall back"
            log.debug("fast parser failed on %s (%s); using feedparser", url, exc)
        else:
            entries = _fast_entries(fast.get("entries") or [])
            if entries and len(entries) >= tags:
                feed = fast.get("feed") or {}
                title = to_plain_text(feed.get("title"), TITLE_LIMIT)
                base = _base(feed, url)
                items = _items(_newest(entries, max_items), base, one_line(source or title or url))
                found = capped.found or (len(entries) if len(entries) > max_items else None)
                return ParsedFeed(title, items, _warning([readable.warning], found, len(items)))
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
    parsed = feedparser.parse(body)
    raw_entries = parsed.get("entries") or []
    if parsed.get("bozo") and not raw_entries:
        raise FeedParseError(f"not a readable feed: {_bozo_reason(parsed)}")
    if not raw_entries and not parsed.get("feed"):
        raise FeedParseError("no feed found in the response")
    malformed = (
        f"malformed feed, entries kept: {_bozo_reason(parsed)}" if parsed.get("bozo") else None
    )
    feed = parsed.get("feed") or {}
    title = to_plain_text(feed.get("title"), TITLE_LIMIT)
    entries = _newest(_reference_entries(raw_entries), max_items)
    items = _items(entries, _base(feed, url), one_line(source or title or url))
    found = found or (len(raw_entries) if len(raw_entries) > max_items else None)
    warning = _warning([charset_warning, malformed], found, len(items))
    return ParsedFeed(title, items, warning, "feedparser")


def _newest(entries: list[_Entry], max_items: int) -> list[_Entry]:
    """The `max_items` newest entries (`entry_cap.newest`), in document order."""
    if len(entries) <= max_items:
        return entries
    stamps = [e.published.timestamp() if e.published else UNDATED for e in entries]
    return [entries[i] for i in newest(stamps, max_items)]


def _warning(problems: Iterable[str | None], found: int | None, kept: int) -> str | None:
    """What the feed's status says about its last parse: its `problems`, then, when the
    cap cut entries, how many of the `found` were kept."""
    notes = [p for p in problems if p]
    if found:
        notes.append(f"kept {kept:,} of {found:,} items (poll.max_items)")
    return one_line("; ".join(notes))[:WARNING_LIMIT] or None


def _base(feed: Mapping[str, Any], url: str) -> str:
    """Relative item links resolve against the feed's own site link, else the feed URL."""
    return canonical_url(feed.get("link"), url) or url


def _needs_reference(body: bytes, utf8: bool) -> bool:
    """Whether only feedparser reads this body right: odd constructs, or not plain UTF-8
    (`utf8`: the body is ASCII or valid UTF-8)."""
    if b"xml:base" in body or _BARE_AMPERSAND.search(body) or _MARKUP_IN_TITLE.search(body):
        return True
    declared = DECLARED_ENCODING.match(body)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        return True
    return not utf8


def _bozo_reason(parsed: Mapping[str, Any]) -> str:
    exc = parsed.get("bozo_exception")
    return str(exc).splitlines()[0][:200] if exc else "unknown problem"


def _fast_entries(raw: Iterable[Mapping[str, Any]]) -> list[_Entry] | None:
    """The fast parser's entries; None when one of them may have a date taken from its
    guid: fastfeedparser dates an undated RSS item by parsing its guid ("7" becomes the
    7th of this month) where feedparser leaves it undated, so a dated entry whose guid is
    only digits and date punctuation sends its feed to feedparser."""
    entries = []
    for e in raw:
        guid = e.get("id") or None
        published = e.get("published")
        if guid and published and _DATE_LIKE.match(str(guid)):
            return None
        summary = e.get("description")
        if not summary and e.get("content"):
            summary = e["content"][0].get("value")
        entries.append(  # positional: keywords cost a tenth of this loop
            _Entry(
                guid,
                e.get("title") or "",
                summary or "",
                e.get("link") or _first_href(e.get("links")),
                _iso_datetime(published or e.get("updated")),
            )
        )
    return entries


def _reference_entries(raw: Iterable[dict[str, Any]]) -> list[_Entry]:
    entries = []
    for e in raw:
        summary = e.get("summary")
        if not summary and e.get("content"):
            summary = e["content"][0].get("value")
        # dict.get: feedparser's own lookup warns about its published/updated aliasing
        stamp = dict.get(e, "published_parsed") or dict.get(e, "updated_parsed")
        entries.append(
            _Entry(
                guid=e.get("id") or None,
                title=e.get("title") or "",
                summary=summary or "",
                link=e.get("link") or None,
                published=datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None,
            )
        )
    return entries


def _first_href(links: Any) -> str | None:
    for link in links or ():
        if isinstance(link, Mapping) and link.get("href"):
            return str(link["href"])
    return None


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


def _items(entries: Iterable[_Entry], base: str, source: str) -> tuple[Item, ...]:
    """Entries → Items with stable keys; an entry with no title, text or link is dropped.

    The key is the guid; else the canonical link (also when the guid is just the link);
    else a hash of title and summary.
    """
    items: list[Item] = []
    seen: set[str] = set()
    for entry in entries:
        title = to_plain_text(entry.title, TITLE_LIMIT)
        summary = to_plain_text(entry.summary, SUMMARY_LIMIT)
        link = canonical_url(entry.link, base)
        if not (title or summary or link):
            continue
        guid = (entry.guid or "").strip()
        key = guid if guid and guid != (entry.link or "").strip() else None
        key = key or link or "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()
        if key in seen:  # a feed that repeats a guid: the first (newest) entry wins
            continue
        seen.add(key)
        items.append(Item(key[:1000], title, summary, link, entry.published, source))
    return tuple(items)
