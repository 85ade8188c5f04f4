"""Hostile feed bodies polled through the real pipeline and parser process: a huge feed
costs at most `poll.max_items` items and bounded memory; a wrong declared charset is read
right and the feed's status says so."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from feedserver import Feed, FeedServer
from rich.console import Console
from test_charset import FRENCH, JAPANESE, feed
from test_pipeline import _disable_watchlist_sources, app_for, settings_for

from bot.chat.commands import Caller
from bot.cli.reports import print_feed_health
from bot.core.models import Outcome

BIG_ITEMS = 100_000
START = datetime(2026, 11, 1, tzinfo=UTC)


def minutes(n: int) -> int | None:
    """Item n's date, in minutes after START: every tenth item is dated, in scrambled
    order (distinct dates), the others undated."""
    return (n * 7919) % BIG_ITEMS if n % 10 == 0 else None


def big_feed() -> bytes:
    """About 7 MB: BIG_ITEMS short items, dated as `minutes` says."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
        "<link>https://big.example.test/</link>"
    ]
    for n in range(BIG_ITEMS):
        at = minutes(n)
        date = (
            ""
            if at is None
            else f"<pubDate>{format_datetime(START + timedelta(minutes=at))}</pubDate>"
        )
        parts.append(f"<item><title>Item number {n}</title><link>/{n}</link>{date}</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
async def test_a_feed_of_100000_items_keeps_max_items_in_bounded_memory(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    """The newest max_items are stored, the rest counted, and the poll's memory stays a
    few times the body: the bot's traced peak over the poll, and how far the poll
    raised the parser process's peak resident set (VmHWM), both under 6 times the body
    and the parser process under 150 MiB in all."""
    body = big_feed()
    assert 6_000_000 < len(body) < 10 * 1024 * 1024
    feed_server.feeds["/big"] = Feed(body)
    async with app_for(settings_for(feed_server, sqlite_url, "/big")) as app:
        await _disable_watchlist_sources(app)
        assert app.parser is not None
        await app.parser.start()
        assert app.parser.pid is not None
        child_before = peak_rss_kib(app.parser.pid)
        tracemalloc.start()
        try:
            cycle = await app.pipeline.run_cycle(ignore_schedule=True)
            _, bot_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        child_peak = peak_rss_kib(app.parser.pid) * 1024
        child_growth = child_peak - child_before * 1024
        max_items = app.settings.poll.max_items
        assert cycle.new_items == max_items == 500
        (big,) = await app.store.list_feeds(active_only=True)
        assert big.parse_warning == "kept 500 of 100,000 items (poll.max_items)"
        stored = {i.item.url for i in await app.store.items_since(START)}
        dated = sorted(range(0, BIG_ITEMS, 10), key=lambda n: minutes(n) or 0)
        assert stored == {f"https://big.example.test/{n}" for n in dated[-max_items:]}
    assert bot_peak < 6 * len(body), f"bot peak {bot_peak / 2**20:.0f} MiB"
    assert child_growth < 6 * len(body), f"parser process grew {child_growth / 2**20:.0f} MiB"
    assert child_peak < 150 * 2**20, f"parser process peak {child_peak / 2**20:.0f} MiB"


async def test_wrong_charsets_are_read_right_and_shown(
    feed_server: FeedServer, db_url: str
) -> None:
    """Real bytes in each direction, through the fetcher (its Content-Type), the parser
    process and the store, to `wirewatch feeds` and `/news feeds`."""
    served = {
        "/sjis-xml": Feed(feed(JAPANESE, "shift_jis").encode(), content_type="text/xml"),
        "/sjis-header": Feed(
            feed(JAPANESE, None).encode(), content_type="text/xml; charset=shift_jis"
        ),
        "/cp1252": Feed(feed(FRENCH).encode("cp1252")),
        "/real-sjis": Feed(
            feed(JAPANESE, None).encode("shift_jis"), content_type="text/xml; charset=Shift_JIS"
        ),
    }
    feed_server.feeds.update(served)
    async with app_for(settings_for(feed_server, db_url, *served)) as app:
        await _disable_watchlist_sources(app)
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert app.parser is not None and app.parser.pid is not None, "parsed in the child"
        assert {p.outcome for p in cycle.polls} == {Outcome.OK}
        names = {f.id: f.name for f in await app.store.list_feeds()}
        titles: dict[str, list[str]] = {}
        for stored in await app.store.items_since(START):
            titles.setdefault(names[stored.feed_id], []).append(stored.item.title)
        assert titles == {
            "sjis-xml": JAPANESE,
            "sjis-header": JAPANESE,
            "cp1252": FRENCH,
            "real-sjis": JAPANESE,
        }
        warnings = {f.name: f.parse_warning for f in await app.store.list_feeds(active_only=True)}
        assert warnings == {
            "sjis-xml": "declared shift_jis but is UTF-8; read as UTF-8",
            "sjis-header": "declared shift_jis in its Content-Type but is UTF-8; read as UTF-8",
            "cp1252": "declared utf-8 but 10 bytes are not UTF-8; read those as Windows-1252",
            "real-sjis": None,
        }

        out = io.StringIO()
        print_feed_health(
            Console(file=out, width=200), await app.store.list_feeds(active_only=True)
        )
        line = next(x for x in out.getvalue().splitlines() if "\tcp1252\t" in x)
        assert line.split("\t")[8] == (  # the parse warning, before the id and origin
            "declared utf-8 but 10 bytes are not UTF-8; read those as Windows-1252"
        )
        reply = await app.commands.feeds(Caller("console", "U1", _never_admin))
        assert "3 read with a warning" in reply.text.splitlines()[0]
        assert "sjis-xml: read with a warning — declared shift_jis but is UTF-8" in reply.text

        # an unchanged body keeps its warning; a body parsed clean clears it
        feed_server.feeds["/cp1252"] = Feed(feed(FRENCH).encode())
        await app.pipeline.run_cycle(ignore_schedule=True)
        warnings = {f.name: f.parse_warning for f in await app.store.list_feeds(active_only=True)}
        assert warnings["cp1252"] is None and warnings["sjis-xml"] is not None


async def _never_admin() -> bool:
    return False
