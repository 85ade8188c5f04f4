"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) read into the same ParsedFeed as
RSS and Atom, through the same clean-up (`entries`).

An item's title is its `title`; its summary its `summary`, else `content_html`, else
`content_text`, the last kept as the plain text it is and the others read as HTML (as
RSS titles are: publishers put entities in them whatever the spec says); its link its
`url`, else `external_url`, resolved against the feed's `home_page_url`;
its guid its `id` (a number read as its digits, as the spec asks); its time
`date_published`, else `date_modified`. Authors, attachments, tags and `_` extensions
are not read. Anything that is not such a feed, or holds a value of the wrong type
where a field is read, is a FeedParseError that says where; so are numbers too big to
read, nesting too deep to read and text that is not UTF-8.

Only the `max_items` newest items are kept while the items are read one at a time, so a
body with a million items costs the memory of the items kept.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.config import DEFAULT_MAX_ITEMS
from bot.core.safe_text import one_line
from bot.feeds.entries import (
    TITLE_LIMIT,
    Entry,
    FeedParseError,
    ParsedFeed,
    build_items,
    feed_base,
    parse_warning,
)
from bot.feeds.plaintext import to_plain_text

VERSIONS = frozenset(("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"))
_JSON_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
_SPACE = re.compile(r"[ \t\r\n]*")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def is_json(body: bytes) -> bool:
    """Whether `body` starts like a JSON object: `{` after white space (and a UTF-8 byte
    order mark, if any)."""
    return _JSON_START.match(body) is not None


def read_json_feed(
    body: bytes, url: str, source: str | None = None, *, max_items: int = DEFAULT_MAX_ITEMS
) -> ParsedFeed:
    """The items of the JSON Feed `body` fetched from `url`, at most `max_items` of them
    (the newest); raises FeedParseError when `body` is not a JSON Feed we can read."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedParseError(f"not a readable JSON Feed: byte {exc.start} is not UTF-8") from None
    try:
        members, items, found = _read_object(text, max_items)
    except RecursionError:
        raise FeedParseError("not a readable JSON Feed: nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError, and an int too long to read
        raise FeedParseError(f"not a readable JSON Feed: {one_line(str(exc))[:200]}") from None
    version = members.get("version")
    if not isinstance(version, str) or version not in VERSIONS:
        said = f"its version is {one_line(repr(version))[:80]}" if version else "it has no version"
        raise FeedParseError(f"not a JSON Feed: {said} ({' or '.join(sorted(VERSIONS))})")
    if items is None:
        raise FeedParseError("not a readable JSON Feed: it has no `items` list")
    title = to_plain_text(_text(members, "title", "the feed"), TITLE_LIMIT)
    base = feed_base(_text(members, "home_page_url", "the feed"), url)
    entries = [_entry(item, n) for n, item in items]
    parsed = build_items(entries, base, one_line(source or title or url))
    warning = parse_warning([], found if found > max_items else None, len(parsed))
    return ParsedFeed(title, parsed, warning, "jsonfeed")


def _read_object(
    text: str, max_items: int
) -> tuple[dict[str, Any], list[tuple[int, Any]] | None, int]:
    """The top-level members of the JSON object `text` but `items`; the `max_items`
    newest items with their places, in document order (None when there is no `items`
    list); and how many items there were."""
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        raise ValueError("the body is not a JSON object")
    members: dict[str, Any] = {}
    items: list[tuple[int, Any]] | None = None
    found = 0
    pos = _skip(text, pos + 1)
    if text.startswith("}", pos):
        return members, [], 0
    while True:
        key, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(key, str):
            raise ValueError(f"a member name at character {pos} is not a string")
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise ValueError(f"expected ':' at character {pos}")
        pos = _skip(text, pos + 1)
        if key == "items":
            if not text.startswith("[", pos):
                value, pos = _DECODER.raw_decode(text, pos)
                raise ValueError(f"`items` is {_kind(value)}, not a list")
            items, found, pos = _read_items(text, pos, max_items)
        else:
            members[key], pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("}", pos):
            break
        else:
            raise ValueError(f"expected ',' or '}}' at character {pos}")
    if _skip(text, pos + 1) != len(text):
        raise ValueError(f"more text after the JSON object at character {pos + 1}")
    return members, items, found


def _read_items(text: str, pos: int, max_items: int) -> tuple[list[tuple[int, Any]], int, int]:
    """The `max_items` newest items of the list starting at `pos`, each with its place,
    in document order; how many there were; where the list ends."""
    kept: list[tuple[float, int, Any]] = []  # a heap: (stamp, -place) of the oldest first
    count = 0
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        return [], 0, pos + 1
    while True:
        item, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(item, dict):
            raise ValueError(f"items[{count}] is {_kind(item)}, not an object")
        stamp = _published(item, count)
        rank = (stamp.timestamp() if stamp else -math.inf, -count, item)
        if len(kept) < max_items:
            heapq.heappush(kept, rank)
        elif rank[:2] > kept[0][:2]:
            heapq.heapreplace(kept, rank)
        count += 1
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("]", pos):
            break
        else:
            raise ValueError(f"expected ',' or ']' at character {pos}")
    return sorted((-place, item) for _, place, item in kept), count, pos + 1


def _skip(text: str, pos: int) -> int:
    found = _SPACE.match(text, pos)
    return found.end() if found else pos


def _entry(item: Mapping[str, Any], n: int) -> Entry:
    """One item as an Entry (see the module's docstring)."""
    where = f"items[{n}]"
    summary, plain = _text(item, "summary", where), False
    if not summary:
        summary, plain = _text(item, "content_html", where), False
    if not summary:
        summary, plain = _text(item, "content_text", where), True
    return Entry(
        _guid(item.get("id"), where),
        _text(item, "title", where) or "",
        summary or "",
        _text(item, "url", where) or _text(item, "external_url", where),
        _published(item, n),
        False,
        plain,
    )


def _text(obj: Mapping[str, Any], field: str, where: str) -> str | None:
    """`obj[field]`, a string or absent (None, or JSON null)."""
    value = obj.get(field)
    if value is None or isinstance(value, str):
        return value
    raise FeedParseError(
        f"not a readable JSON Feed: {where}.{field} is {_kind(value)}, not a string"
    )


def _guid(value: Any, where: str) -> str | None:
    """An item's `id`: a string, or a number as its digits."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise FeedParseError(f"not a readable JSON Feed: {where}.id is {_kind(value)}, not a string")


def _published(item: Mapping[str, Any], n: int) -> datetime | None:
    """`date_published`, else `date_modified`, in UTC; None when neither reads as an
    RFC 3339 time."""
    for field in ("date_published", "date_modified"):
        value = _text(item, field, f"items[{n}]")
        if not value:
            continue
        try:
            stamp = datetime.fromisoformat(value.strip())
            return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        except (ValueError, OverflowError):
            continue
    return None


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
