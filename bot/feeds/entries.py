"""A feed's entries as every reader hands them on (XML through either parser, JSON Feed),
and the one step that makes them Items: plain text, a canonical link, a stable key.

The documented clean-up, the same whichever reader read the entry: the title and the
summary go through `to_plain_text` (as HTML, unless the feed declared the text plain:
Atom's `type="text"`, also by default, or JSON Feed's `content_text`); the link is the
entry's alternate link, else its guid when the guid is a permalink and an absolute
http(s) URL, made canonical against the feed's own site link; the key is the guid, else
the canonical link, else a hash of title and summary.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.core.errors import FeedError
from bot.core.models import Item
from bot.core.safe_text import one_line
from bot.feeds.canonical import canonical_url
from bot.feeds.entry_cap import UNDATED, newest
from bot.feeds.plaintext import to_plain_text

SUMMARY_LIMIT = 1000  # characters of plain-text summary kept per item
TITLE_LIMIT = 500
WARNING_LIMIT = 500  # characters of a feed's parse warning
_ABSOLUTE_HTTP = re.compile(r"\s*https?://[^/?#\s]", re.I)


class FeedParseError(FeedError):
    """The bytes are not a feed that any parser can read."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The items of one feed body; `warning` is set when the feed was malformed but
    readable; `parser` names the reader: "fast", "feedparser" or "jsonfeed"."""

    title: str
    items: tuple[Item, ...]
    warning: str | None = None
    parser: str = "fast"


class Entry(NamedTuple):
    """One entry as a reader found it, before the clean-up; `plain_title` and
    `plain_summary` when the feed declared that text plain, not HTML."""

    guid: str | None
    title: str
    summary: str
    link: str | None
    published: datetime | None
    plain_title: bool = False
    plain_summary: bool = False


def guid_link(guid: str | None) -> str | None:
    """`guid` when it can stand for the entry's link: an absolute http(s) URL (a relative
    guid would resolve to a made-up address)."""
    return guid if guid and _ABSOLUTE_HTTP.match(guid) else None


def newest_entries(entries: list[Entry], max_items: int) -> list[Entry]:
    """The `max_items` newest entries (`entry_cap.newest`), in document order."""
    if len(entries) <= max_items:
        return entries
    stamps = [e.published.timestamp() if e.published else UNDATED for e in entries]
    return [entries[i] for i in newest(stamps, max_items)]


def parse_warning(problems: Iterable[str | None], found: int | None, kept: int) -> str | None:
    """What the feed's status says about its last parse: its `problems`, then, when the
    cap cut entries, how many of the `found` were kept."""
    notes = [p for p in problems if p]
    if found:
        notes.append(f"kept {kept:,} of {found:,} items (poll.max_items)")
    return one_line("; ".join(notes))[:WARNING_LIMIT] or None


def feed_base(site_link: str | None, url: str) -> str:
    """Relative item links resolve against the feed's own site link, else the feed URL."""
    return canonical_url(site_link, url) or url


def build_items(entries: Iterable[Entry], base: str, source: str) -> tuple[Item, ...]:
    """Entries → Items with stable keys; an entry with no title, text or link is dropped,
    and of entries with the same key the first (newest) is kept.

    The key is the guid; else the canonical link (also when the guid is just the link);
    else a hash of title and summary.
    """
    items: list[Item] = []
    seen: set[str] = set()
    for entry in entries:
        # positional in the usual case: a keyword costs a tenth of this loop
        if entry.plain_title:
            title = to_plain_text(entry.title, TITLE_LIMIT, markup=False)
        else:
            title = to_plain_text(entry.title, TITLE_LIMIT)
        if entry.plain_summary:
            summary = to_plain_text(entry.summary, SUMMARY_LIMIT, markup=False)
        else:
            summary = to_plain_text(entry.summary, SUMMARY_LIMIT)
        link = canonical_url(entry.link, base)
        if not (title or summary or link):
            continue
        guid = (entry.guid or "").strip()
        key = guid if guid and guid != (entry.link or "").strip() else None
        key = key or link or "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        items.append(Item(key[:1000], title, summary, link, entry.published, source))
    return tuple(items)
