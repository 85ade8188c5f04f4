"""A feed body cut to `max_items` entries before parsing: the newest by date, the rest
counted in the warning."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.entry_cap import SCAN_ALWAYS, cap_entries
from bot.feeds.parse import parse_feed, parse_feed_reference

URL = "https://feeds.example.test/feed.xml"
DAY = datetime(2026, 11, 1, tzinfo=UTC)


def rss(stamps: Sequence[datetime | None], extra: str = "") -> bytes:
    """An RSS feed with one item per stamp (guid `item-n`, undated for None), in order."""
    items = "".join(
        f'<item><guid isPermaLink="false">item-{n}</guid><title>Item {n}</title>{extra}'
        + (f"<pubDate>{format_datetime(stamp)}</pubDate>" if stamp else "")
        + "</item>"
        for n, stamp in enumerate(stamps)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Cap</title>'
        f"<link>https://cap.example.test/</link>{items}</channel></rss>"
    ).encode()


def keys(body: bytes, max_items: int) -> list[int]:
    """The numbers of the items `parse_feed` keeps."""
    return [
        int(i.key.removeprefix("item-")) for i in parse_feed(body, URL, max_items=max_items).items
    ]


def test_the_newest_items_are_kept_in_document_order_and_the_rest_counted() -> None:
    order = list(range(50))
    random.Random(7).shuffle(order)
    stamps = [DAY + timedelta(hours=h) for h in order]
    parsed = parse_feed(rss(stamps), URL, max_items=10)
    newest = sorted(range(50), key=lambda n: -order[n])[:10]
    assert [i.key for i in parsed.items] == [f"item-{n}" for n in sorted(newest)]
    assert parsed.warning == "kept 10 of 50 items (poll.max_items)"
    assert parsed.parser == "fast"


def test_undated_items_come_after_dated_ones_in_document_order() -> None:
    stamps = [None, DAY, None, DAY + timedelta(days=1), None, None]
    assert keys(rss(stamps), 4) == [0, 1, 2, 3]
    assert keys(rss([None] * 8), 3) == [0, 1, 2]


def test_a_feed_within_the_cap_is_left_as_it_is() -> None:
    body = rss([DAY] * 5)
    assert cap_entries(body, 5).body is body
    assert parse_feed(body, URL, max_items=5).warning is None


def test_atom_entries_with_iso_dates_and_offsets() -> None:
    entries = "".join(
        f"<entry><id>urn:e:{n}</id><title>E{n}</title><updated>{stamp}</updated></entry>"
        for n, stamp in enumerate(
            ["2026-11-01T10:00:00+09:00", "2026-11-01T00:30:00Z", "2026-10-31T20:00:00-05:00"]
        )
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>A</title>{entries}</feed>"
    ).encode()
    # 01:00Z, 00:30Z and 01:00Z the next day
    items = parse_feed(body, URL, max_items=2).items
    assert [i.key for i in items] == ["urn:e:0", "urn:e:2"]


def test_item_tags_inside_cdata_and_comments_are_text() -> None:
    extra = "<description><![CDATA[<item>not one</item>]]></description><!-- <item> -->"
    body = rss([DAY + timedelta(hours=n) for n in range(6)], extra)
    capped = cap_entries(body, 3)
    assert capped.found == 6
    assert keys(body, 3) == [3, 4, 5]


def test_entries_that_cannot_be_told_apart_are_cut_in_document_order() -> None:
    body = rss([DAY + timedelta(hours=n) for n in range(6)]).replace(b"</item>", b"", 1)
    capped = cap_entries(body, 3)
    assert capped.found == 6 and capped.body.count(b"<item>") == 3
    parsed = parse_feed(body, URL, max_items=3)
    assert [i.key for i in parsed.items] == ["item-0", "item-1", "item-2"]
    assert parsed.warning and parsed.warning.startswith("malformed feed, entries kept")
    assert parsed.warning.endswith("; kept 3 of 6 items (poll.max_items)")


def test_a_big_body_is_scanned_for_entries_in_any_spelling() -> None:
    """Past SCAN_ALWAYS bytes, a namespace prefix or upper case does not hide entries
    from the cut; below it, the items are cut after parsing."""
    entries = "".join(
        f"<a:entry><a:id>urn:e:{n}</a:id><a:title>Entry {n} {'x' * 100}</a:title>"
        f"<a:updated>2026-11-01T{n % 24:02}:00:00Z</a:updated></a:entry>"
        for n in range(3000)
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><a:feed xmlns:a="http://www.w3.org/2005/Atom">'
        f"<a:title>A</a:title>{entries}</a:feed>"
    ).encode()
    assert len(body) > SCAN_ALWAYS
    capped = cap_entries(body, 10)
    assert capped.found == 3000 and capped.body.count(b"<a:entry>") == 10
    parsed = parse_feed(body, URL, max_items=10)
    assert [i.key for i in parsed.items] == [f"urn:e:{n}" for n in range(23, 240, 24)]
    assert parsed.warning == "kept 10 of 3,000 items (poll.max_items)"
    small = body[: body.index(b"<a:entry>")] + entries[:5000].rsplit("<a:entry>", 1)[0].encode()
    small += b"</a:feed>"
    assert cap_entries(small, 10).body is small
    assert len(parse_feed(small, URL, max_items=10).items) == 10


def test_a_flood_of_empty_items_is_cut_before_parsing() -> None:
    body = rss([DAY]).replace(b"</channel>", b"<item/>" * 300_000 + b"</channel>")
    capped = cap_entries(body, 10)
    assert capped.found == 300_001 and len(capped.body) < 1000
    assert keys(body, 10) == [0]


def test_feedparser_alone_keeps_the_newest_too() -> None:
    stamps = [DAY + timedelta(hours=h) for h in (3, 1, 4, 1, 5, 9, 2, 6)]
    parsed = parse_feed_reference(rss(stamps), URL, max_items=3)
    assert [i.key for i in parsed.items] == ["item-4", "item-5", "item-7"]
    assert parsed.warning == "kept 3 of 8 items (poll.max_items)"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 20)), min_size=1, max_size=40),
    st.integers(1, 45),
)
def test_cutting_the_body_keeps_what_cutting_the_parsed_entries_keeps(
    hours: list[int | None], max_items: int
) -> None:
    """Ties, undated items and any cap: the items parsed from the cut body are those the
    parsers' own dates select from the whole feed."""
    stamps = [DAY + timedelta(hours=h) if h is not None else None for h in hours]
    body = rss(stamps)
    dated = sorted(
        (n for n, h in enumerate(hours) if h is not None), key=lambda n: -(hours[n] or 0)
    )
    undated = [n for n, h in enumerate(hours) if h is None]
    expected = sorted((dated + undated)[:max_items])
    assert keys(body, max_items) == expected
    reference = parse_feed_reference(body, URL, max_items=max_items)
    assert [i.key for i in reference.items] == [f"item-{n}" for n in expected]
