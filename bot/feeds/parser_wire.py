"""What the bot and its parser process say to each other: length-prefixed marshal frames
of plain tuples, read and written the same way at both ends.

The bot writes requests to the child's stdin, and the child answers on its stdout, in
order:

    first frame to the child:   the watchlists, the bot's log level and max_items,
                                pickled (it builds its own Matcher and logs to the
                                shared stderr)
    first frame from the child: ("ready",)
    request:  (id, body, url, source, Content-Type charset or None)
    answer:   (id, "ok", (title, item rows, warning, parser, {item index: match rows}))
              (id, "unreadable", message)      the body is not a feed (FeedParseError)
              (id, "error", traceback)         a bug in the parser or the matcher

each frame a marshal of plain tuples (published times as POSIX seconds) behind an
8-byte length: the bot reads one in a third of the time it took to unpickle Items.
Neither format is safe against hostile data, and neither needs to be: both ends are
this program, run by the same user. Both pipes are widened to 1 MiB (the child's
`widen_pipe`).

An "ok" answer carries a MatchedFeed: `matched_to_wire` writes it as tuple rows,
`matched_from_wire` reads it back. `parse_and_match` makes one, in the child or, once
the child is given up, in the bot's threads.
"""

from __future__ import annotations

import marshal
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from bot.core.config import DEFAULT_MAX_ITEMS
from bot.core.models import Evidence, Item, Match
from bot.feeds.parse import ParsedFeed, parse_feed
from bot.matching.matcher import Matcher

if TYPE_CHECKING:  # a type only: the wire itself needs no event loop
    from asyncio import StreamReader

_LENGTH = struct.Struct("!Q")


@dataclass(frozen=True, slots=True)
class MatchedFeed:
    """A feed body parsed into items, with each item's watchlist matches."""

    parsed: ParsedFeed
    matches: tuple[tuple[Match, ...], ...]  # one entry per item, in `parsed.items` order


def parse_and_match(
    body: bytes,
    url: str,
    source: str | None,
    matcher: Matcher,
    *,
    charset: str | None = None,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> MatchedFeed:
    """`parse_feed`, then every item matched (raises FeedParseError like `parse_feed`)."""
    parsed = parse_feed(body, url, source, charset=charset, max_items=max_items)
    return MatchedFeed(parsed, tuple(tuple(matcher.match_item(i)) for i in parsed.items))


def matched_to_wire(matched: MatchedFeed) -> tuple[Any, ...]:
    """The payload of an "ok" answer: `matched` as plain tuples (only items with
    matches have match rows)."""
    parsed = matched.parsed
    rows = tuple(
        (i.key, i.title, i.summary, i.url, _stamp_to_wire(i.published), i.source)
        for i in parsed.items
    )
    matches = {
        n: tuple(map(_match_to_row, found)) for n, found in enumerate(matched.matches) if found
    }
    return (parsed.title, rows, parsed.warning, parsed.parser, matches)


def matched_from_wire(payload: tuple[Any, ...]) -> MatchedFeed:
    """The MatchedFeed of a child's "ok" answer."""
    title, rows, warning, parser, match_rows = payload
    items = tuple(
        Item(key, title_, summary, url, _stamp_from_wire(published), source)
        for key, title_, summary, url, published, source in rows
    )
    matches = {n: tuple(_match_from_row(row) for row in found) for n, found in match_rows.items()}
    return MatchedFeed(
        ParsedFeed(title, items, warning, parser),
        tuple(matches.get(n, ()) for n in range(len(items))),
    )


def _match_from_row(row: tuple[Any, ...]) -> Match:
    watchlist, score, alert, evidence = row
    return Match(watchlist, score, alert, tuple(Evidence(*e) for e in evidence))


def _match_to_row(match: Match) -> tuple[Any, ...]:
    evidence = tuple((e.group, e.alias, e.field, e.text, e.similarity) for e in match.evidence)
    return (match.watchlist, match.score, match.alert, evidence)


def _stamp_to_wire(stamp: datetime | None) -> float | str | None:
    """An item's (aware UTC) published time for the answer: POSIX seconds when it has no
    fraction of a second (exact, and much cheaper to write), ISO text otherwise."""
    if stamp is None:
        return None
    return stamp.isoformat() if stamp.microsecond else stamp.timestamp()


def _stamp_from_wire(value: float | str | None) -> datetime | None:
    """The published time `_stamp_to_wire` sent."""
    if value is None:
        return None
    if isinstance(value, float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(value)


def frame(value: Any) -> bytes:
    """`value` (plain tuples, or the pickled first frame's bytes) as one frame."""
    data = marshal.dumps(value)
    return _LENGTH.pack(len(data)) + data


async def read_frame(stream: StreamReader) -> Any:
    """The next frame from the child (the bot's side; raises IncompleteReadError at the
    end of the stream)."""
    (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
    return marshal.loads(await stream.readexactly(length))


def read_frame_or_end(requests: BinaryIO) -> Any:
    """The next frame, or None at the end of the stream (the child's side)."""
    header = requests.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    return marshal.loads(requests.read(length))
