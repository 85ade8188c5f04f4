"""A newcomer is told what happened: a first poll's baseline and what it would have
matched, items too old to report, every feed failing at once, each feed's first failure
(bundled ones too), and nothing at all for cycles that found nothing."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from feedserver import Feed, FeedServer, status
from rich.console import Console
from test_pipeline import CANOLA, OTHER, app_for, settings_for

from bot.cli.reports import print_summary
from bot.core.models import CycleSummary


def dated_rss(items: list[tuple[str, str, datetime]]) -> bytes:
    entries = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://news.example.test/{g}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for g, t, when in items
    )
    return f'<rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'.encode()


async def test_a_first_poll_says_what_it_recorded_and_would_have_matched(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    now = datetime.now(UTC)
    feed_server.feeds["/a"] = Feed(dated_rss([("1", OTHER, now), ("2", CANOLA, now)]))
    feed_server.feeds["/b"] = Feed(dated_rss([("3", OTHER + " again", now)]))
    async with app_for(settings_for(feed_server, sqlite_url, "/a", "/b")) as app:
        first = await app.pipeline.run_cycle(ignore_schedule=True)
        old = now - timedelta(days=5)
        feed_server.feeds["/a"] = Feed(
            dated_rss([("4", CANOLA + " in 2021", old), ("1", OTHER, now), ("2", CANOLA, now)])
        )
        second = await app.pipeline.run_cycle(ignore_schedule=True)
    assert (first.baseline_feeds, first.baseline_items, first.baseline_matched) == (2, 3, 1)
    assert first.reports == () and first.stale_matched == 0
    assert (second.baseline_feeds, second.stale_matched, second.reports) == (0, 1, ())
    out = io.StringIO()
    print_summary(Console(file=out, soft_wrap=True), first, 0.1, max_item_age=timedelta(hours=48))
    print_summary(Console(file=out, soft_wrap=True), second, 0.1, max_item_age=timedelta(hours=48))
    text = out.getvalue()
    assert (
        "first poll of 2 feeds: 3 items recorded as the baseline, not reported (1 item would "
        "have matched: see `wirewatch backtest`)"
    ) in text
    assert (
        "1 matched item published longer ago than poll.max_item_age (2d): stored, not reported"
    ) in text
    assert "cycle: 2 feeds, 2 ok" in text and "0 matches in" in text


async def test_every_feed_failing_says_what_to_check_once_and_when_it_ends(
    feed_server: FeedServer, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    feed_server.handlers["/a"] = status(503)
    feed_server.handlers["/b"] = status(503)
    async with app_for(settings_for(feed_server, sqlite_url, "/a", "/b")) as app:
        with caplog.at_level(logging.INFO, logger="bot.service.pipeline"):
            for _ in range(3):
                await app.pipeline.run_cycle(ignore_schedule=True)
            del feed_server.handlers["/a"]
            feed_server.feeds["/a"] = Feed(dated_rss([("1", OTHER, datetime.now(UTC))]))
            await app.pipeline.run_cycle(ignore_schedule=True)
    messages = [r.getMessage() for r in caplog.records]
    everything = [m for m in messages if m.startswith("every feed failed")]
    assert len(everything) == 1 and "network, DNS and proxy" in everything[0]
    assert messages.count("feeds answer again") == 1
    failing = [m for m in messages if ": failing: " in m]
    assert len(failing) == 2  # one line per feed, not one per cycle
    assert any("a: recovered after 3 failures" in m for m in messages)


async def test_a_bundled_feed_s_first_failure_is_a_warning_with_its_reason(
    feed_server: FeedServer, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.core.models import FeedSpec

    feed_server.handlers["/default"] = status(404)
    async with app_for(settings_for(feed_server, sqlite_url)) as app:
        spec = FeedSpec(feed_server.url("/default"), "Bundled Wire", "default", verified=False)
        await app.store.sync_feeds([spec], datetime.now(UTC))
        with caplog.at_level(logging.WARNING, logger="bot.service.pipeline"):
            await app.pipeline.run_cycle(ignore_schedule=True)
    (record,) = [r for r in caplog.records if "Bundled Wire" in r.getMessage()]
    assert record.levelno == logging.WARNING and "HTTP 404" in record.getMessage()


async def test_a_long_run_is_quiet_about_cycles_that_found_nothing(
    feed_server: FeedServer, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.cli.run import _cycle

    feed_server.feeds["/a"] = Feed(dated_rss([("1", OTHER, datetime.now(UTC))]))
    out = io.StringIO()
    async with app_for(settings_for(feed_server, sqlite_url, "/a")) as app:
        await _cycle(app, Console(file=out, soft_wrap=True))  # the baseline: said
        said = out.getvalue()
        with caplog.at_level(logging.DEBUG, logger="wirewatch"):
            await _cycle(
                app, Console(file=out, soft_wrap=True), ignore_schedule=False
            )  # nothing due
            await app.store.sync_feeds([], datetime.now(UTC))
    assert "first poll of 1 feed" in said
    assert out.getvalue() == said


def test_the_summary_counts_in_the_singular_where_it_should() -> None:
    out = io.StringIO()
    print_summary(Console(file=out, soft_wrap=True), CycleSummary((), 1, ()), 0.2)
    assert "cycle: 0 feeds, 0 ok, 0 unchanged, 0 not modified, 0 failed; 1 new item, 0 matches" in (
        out.getvalue()
    )


async def test_discord_py_s_voice_library_warnings_are_not_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import discord

    import adapters.discord  # noqa: F401  (installs the filter)

    with caplog.at_level(logging.INFO):
        client = discord.Client(intents=discord.Intents(guilds=True))
        await client.close()
    assert not [r for r in caplog.records if "voice" in r.getMessage()]
