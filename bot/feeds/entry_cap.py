"""At most `max_items` entries of a feed body, cut from its bytes before a parser builds
any of them: the newest by date, undated entries after dated ones in document order.

A body with more `<item` and `<entry` tags than that, or over SCAN_ALWAYS bytes, is
scanned once for its entries in any spelling (a namespace prefix, upper case, `<item/>`;
CDATA sections and comments skipped), each entry's first date element read, and a body
of the kept entries' bytes, in document order, between the original opening and closing
is handed to the parsers: their work and memory follow the entries kept, not the
entries sent. A body whose entries cannot be told apart (one inside another, one never
closed) is cut after its first `max_items` entries instead. A smaller body with entries
spelled otherwise is parsed whole, which costs the parsers a few megabytes at most, and
its items are cut after parsing.
"""

from __future__ import annotations

import calendar
import email.utils
import heapq
import itertools
import math
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

SCAN_ALWAYS = 256 * 1024  # bytes
ENTRY_TAG = re.compile(rb"<(?:item|entry)[\s>]")  # the usual spelling, counted cheaply
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
# a CDATA section, a comment, or an entry's start or end tag (group 1 "/" for an end)
_TOKEN = re.compile(rb"<(?:!\[CDATA\[|!--|(/?)(" + _PREFIX + rb"(?:item|entry))(?=[\s/>]))", re.I)
_DATE = re.compile(
    rb"<" + _PREFIX + rb"(?:pubDate|published|updated|date|issued|modified)(?=[\s/>])"
    rb"[^>]*>\s*(?:<!\[CDATA\[)?\s*([^<\]]{1,80})",
    re.I,
)
UNDATED = math.nan


@dataclass(frozen=True, slots=True)
class CappedBody:
    """A body with at most `max_items` entries; `found` is how many the original had
    when some were cut, else None."""

    body: bytes
    found: int | None = None


def cap_entries(body: bytes, max_items: int, tags: int | None = None) -> CappedBody:
    """`body` with at most `max_items` entries (see the module's docstring); a body with
    no more than that comes back as it is. `tags`: its ENTRY_TAG count, if the caller
    has it."""
    if tags is None:
        tags = len(ENTRY_TAG.findall(body))
    if tags <= max_items and len(body) <= SCAN_ALWAYS:
        return CappedBody(body)
    starts, ends, tail, simple = _entry_spans(body)
    if len(starts) <= max_items:
        return CappedBody(body)
    if not simple:
        cut = starts[max_items]
        return CappedBody(body[:cut] + (body[tail:] if tail > cut else b""), len(starts))
    stamps = array("d", (_entry_stamp(body, s, e) for s, e in zip(starts, ends, strict=True)))
    kept = (body[starts[i] : ends[i]] for i in newest(stamps, max_items))
    return CappedBody(body[: starts[0]] + b"".join(kept) + body[ends[-1] :], len(starts))


def newest(stamps: Sequence[float], limit: int) -> list[int]:
    """The indices of the `limit` newest `stamps` (POSIX seconds, UNDATED for none), in
    their original order: dated ones newest first, the earlier of equals first, then
    undated ones in order."""
    if len(stamps) <= limit:
        return list(range(len(stamps)))
    dated = [i for i, stamp in enumerate(stamps) if not math.isnan(stamp)]
    chosen = heapq.nsmallest(limit, dated, key=lambda i: (-stamps[i], i))
    if len(chosen) < limit:
        undated = (i for i, stamp in enumerate(stamps) if math.isnan(stamp))
        chosen.extend(itertools.islice(undated, limit - len(chosen)))
    return sorted(chosen)


def _entry_spans(body: bytes) -> tuple[array[int], array[int], int, bool]:
    """Where each entry starts and ends, where the last end tag ends, and whether every
    entry closed before the next began (only then do `ends` pair with `starts`)."""
    starts, ends = array("q"), array("q")
    tail, open_at, open_name, simple = 0, -1, b"", True
    pos = 0
    while (found := _TOKEN.search(body, pos)) is not None:
        name = found.group(2)
        if name is None:  # CDATA or a comment: nothing in it is markup
            close = body.find(b"-->" if found.group(0) == b"<!--" else b"]]>", found.end())
            if close < 0:
                simple = False
                break
            pos = close + 3
            continue
        gt = body.find(b">", found.end())
        if gt < 0:
            simple = False
            break
        name = name.lower()
        if not found.group(1):
            simple = simple and open_at < 0
            starts.append(found.start())
            if body[gt - 1] == ord("/"):  # <item/>
                ends.append(gt + 1)
                open_at, tail = -1, gt + 1
            else:
                open_at, open_name = found.start(), name
        else:
            if open_at >= 0 and name == open_name:
                ends.append(gt + 1)
            else:
                simple = False
            open_at, tail = -1, gt + 1
        pos = gt + 1
    return starts, ends, tail, simple and open_at < 0 and len(ends) == len(starts)


def _entry_stamp(body: bytes, start: int, end: int) -> float:
    """The POSIX time of the first date element between `start` and `end`, or UNDATED."""
    found = _DATE.search(body, start, end)
    if found is None:
        return UNDATED
    text = found.group(1).strip().decode("ascii", "replace")
    try:
        stamp = datetime.fromisoformat(text)
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parts = email.utils.parsedate_tz(text)
        if parts is None:
            return UNDATED
        return float(calendar.timegm(parts[:9]) - (parts[9] or 0))
    except (TypeError, ValueError, OverflowError, IndexError):
        return UNDATED
