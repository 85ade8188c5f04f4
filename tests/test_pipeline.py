"""Poll cycles end to end in process: real feed server, real SQLite and PostgreSQL, real
watchlists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from feedserver import Feed, FeedServer, redirect, rss, status
from test_terminal_output import feed_state

from bot.core.config import FeedConfig, Settings
from bot.core.models import FeedSpec, FetchResult, Outcome, PollResult
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import App, open_app
from bot.service.pipeline import _next_batch

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
CANOLA = "China imposes 100% tariff on Canadian canola oil"
OTHER = "Local bakery wins regional bread award"


def settings_for(server: FeedServer, db_url: str, *paths: str) -> Settings:
    feeds = [FeedConfig(url=server.url(p), name=p.strip("/")) for p in paths]
    return Settings(default_feeds=False, feeds=feeds, database_url=db_url)


@asynccontextmanager
async def app_for(settings: Settings) -> AsyncIterator[App]:
    async with open_app(settings, load_configured_watchlists(settings)) as app:
        yield app


async def test_first_poll_reports_nothing_then_new_items_once(
    feed_server: FeedServer, db_url: str
) -> None:
    feed_server.feeds["/a"] = Feed(rss([("1", OTHER, "https://news.example.test/1")]))
    async with app_for(settings_for(feed_server, db_url, "/a")) as app:
        await _disable_watchlist_sources(app)
        first = await app.pipeline.run_cycle(ignore_schedule=True)
        assert first.new_items == 1 and first.reports == ()
        feed_server.feeds["/a"] = Feed(
            rss(
                [
                    ("2", CANOLA, "https://news.example.test/2?utm_source=x"),
                    ("1", OTHER, "https://news.example.test/1"),
                ]
            )
        )
        second = await app.pipeline.run_cycle(ignore_schedule=True)
        assert [r.item.title for r in second.reports if r.match.watchlist == "canola"] == [CANOLA]
        report = next(r for r in second.reports if r.match.watchlist == "canola")
        assert report.item.url == "https://news.example.test/2"
        assert {e.group for e in report.match.evidence} >= {"canola", "trade"}
        third = await app.pipeline.run_cycle(ignore_schedule=True)
        assert third.reports == () and third.count(Outcome.UNCHANGED) == 1
        assert app.parser is not None and app.parser.pid is not None, "parsed in the child"


async def test_feeds_parse_in_threads_when_the_parser_process_is_off(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.feeds["/a"] = Feed(rss([("1", OTHER, "https://news.example.test/1")]))
    settings = settings_for(feed_server, sqlite_url, "/a")
    settings = settings.model_copy(
        update={"poll": settings.poll.model_copy(update={"parse_worker": False})}
    )
    async with app_for(settings) as app:
        await _disable_watchlist_sources(app)
        feed_server.feeds["/a"] = Feed(
            rss([("2", CANOLA, "https://news.example.test/2"), ("1", OTHER, "x")])
        )
        first = await app.pipeline.run_cycle(ignore_schedule=True)
        assert first.new_items == 2 and app.parser is None


async def test_same_story_from_two_feeds_is_one_item(feed_server: FeedServer, db_url: str) -> None:
    feed_server.feeds["/a"] = Feed(rss([("a0", OTHER, "https://news.example.test/0")]))
    feed_server.feeds["/b"] = Feed(rss([("b0", OTHER, "https://news.example.test/00")]))
    async with app_for(settings_for(feed_server, db_url, "/a", "/b")) as app:
        await _disable_watchlist_sources(app)
        await app.pipeline.run_cycle(ignore_schedule=True)
        feed_server.feeds["/a"] = Feed(
            rss(
                [
                    ("a1", CANOLA, "https://news.example.test/s?utm_medium=rss"),
                    ("a0", OTHER, "https://news.example.test/0"),
                ]
            )
        )
        feed_server.feeds["/b"] = Feed(
            rss(
                [
                    ("b1", CANOLA, "https://news.example.test/s#top"),
                    ("b0", OTHER, "https://news.example.test/00"),
                ]
            )
        )
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert cycle.new_items == 1
        assert len([r for r in cycle.reports if r.match.watchlist == "canola"]) == 1


async def test_old_items_are_stored_but_never_reported(
    feed_server: FeedServer, db_url: str
) -> None:
    old = format_datetime(datetime.now(UTC) - timedelta(days=5), usegmt=True)
    body = rss([("1", OTHER, "https://news.example.test/1")])
    feed_server.feeds["/a"] = Feed(body)
    async with app_for(settings_for(feed_server, db_url, "/a")) as app:
        await _disable_watchlist_sources(app)
        await app.pipeline.run_cycle(ignore_schedule=True)
        stale = rss([("9", CANOLA, "https://news.example.test/9")]).replace(
            b"</link><description>", f"</link><pubDate>{old}</pubDate><description>".encode()
        )
        feed_server.feeds["/a"] = Feed(stale)
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert cycle.new_items == 1 and cycle.reports == ()


async def test_validators_and_unchanged_bodies_skip_parsing(
    feed_server: FeedServer, db_url: str
) -> None:
    body = rss([("1", OTHER, "https://news.example.test/1")])
    feed_server.feeds["/etag"] = Feed(body, etag='"abc"')
    feed_server.feeds["/plain"] = Feed(body)
    async with app_for(settings_for(feed_server, db_url, "/etag", "/plain")) as app:
        await _disable_watchlist_sources(app)
        await app.pipeline.run_cycle(ignore_schedule=True)
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        outcomes = {p.feed.name: p.outcome for p in cycle.polls}
        assert outcomes == {"etag": Outcome.NOT_MODIFIED, "plain": Outcome.UNCHANGED}
        assert feed_server.request_headers["/etag"][1]["If-None-Match"] == '"abc"'


async def test_failures_cost_only_their_feed(feed_server: FeedServer, db_url: str) -> None:
    feed_server.feeds["/good"] = Feed(rss([("1", OTHER, "https://news.example.test/1")]))
    feed_server.handlers["/gone"] = status(410)
    feed_server.handlers["/limited"] = status(429, {"Retry-After": "3600"})
    feed_server.handlers["/broken"] = status(500)
    feed_server.feeds["/html"] = Feed((FEEDS / "unreadable.xml").read_bytes())
    feed_server.feeds["/malformed"] = Feed((FEEDS / "malformed.xml").read_bytes())
    paths = ("/good", "/gone", "/limited", "/broken", "/html", "/malformed")
    async with app_for(settings_for(feed_server, db_url, *paths)) as app:
        await _disable_watchlist_sources(app)
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        outcomes = {p.feed.name: p.outcome for p in cycle.polls}
        assert outcomes == {
            "good": Outcome.OK,
            "gone": Outcome.GONE,
            "limited": Outcome.FAILED,
            "broken": Outcome.FAILED,
            "html": Outcome.FAILED,
            "malformed": Outcome.OK,
        }
        health = {f.name: f for f in await app.store.list_feeds()}
        assert health["gone"].disabled_reason and "410" in health["gone"].disabled_reason
        assert (
            health["broken"].consecutive_failures == 1 and health["broken"].last_error == "HTTP 500"
        )
        assert health["html"].last_error == "this is a web page, not a feed, and it names no feed"
        assert health["malformed"].items_seen >= 3
        again = await app.pipeline.run_cycle(ignore_schedule=True)
        polled = {p.feed.name for p in again.polls}
        assert "gone" not in polled and "limited" not in polled  # disabled; held by Retry-After
        assert {"good", "broken", "html"} <= polled
        assert feed_server.hits["/gone"] == 1 and feed_server.hits["/limited"] == 1


async def test_permanent_redirect_is_remembered(feed_server: FeedServer, db_url: str) -> None:
    feed_server.handlers["/old"] = redirect(301, "/new")
    feed_server.feeds["/new"] = Feed(rss([("1", OTHER, "https://news.example.test/1")]))
    async with app_for(settings_for(feed_server, db_url, "/old")) as app:
        await _disable_watchlist_sources(app)
        await app.pipeline.run_cycle(ignore_schedule=True)
        await app.pipeline.run_cycle(ignore_schedule=True)
        (feed,) = await app.store.list_feeds(active_only=True)
        assert feed.fetch_url == feed_server.url("/new") and feed.url == feed_server.url("/old")
        assert feed_server.hits["/old"] == 1 and feed_server.hits["/new"] == 2


async def test_scheduled_cycle_polls_only_due_feeds(feed_server: FeedServer, db_url: str) -> None:
    feed_server.feeds["/a"] = Feed(rss([("1", OTHER, "https://news.example.test/1")]))
    async with app_for(settings_for(feed_server, db_url, "/a")) as app:
        await _disable_watchlist_sources(app)
        first = await app.pipeline.run_cycle()
        assert len(first.polls) == 1
        second = await app.pipeline.run_cycle()
        assert second.polls == ()  # next slot is up to one interval away
        (feed,) = await app.store.list_feeds(active_only=True)
        assert feed.next_poll_at is not None
        # the feed's phase at least half an interval on
        wait = feed.next_poll_at - datetime.now(UTC)
        assert timedelta(minutes=7) < wait <= timedelta(minutes=22, seconds=30)


async def _disable_watchlist_sources(app: App) -> None:
    """Keep the bundled watchlists' news-search feeds out of these tests (no internet)."""
    keep = [f for f in await app.store.list_feeds() if f.origin == "config"]
    await app.store.sync_feeds([FeedSpec(f.url, f.name, "config") for f in keep], datetime.now(UTC))


async def test_a_feed_asking_to_wait_forever_costs_only_its_own_poll(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    huge = {"Cache-Control": "max-age=99999999999999999999", "Retry-After": "9" * 30}
    feed_server.feeds["/greedy"] = Feed(rss([("1", OTHER, "https://news.example.test/1")]),
                                       headers=huge)  # fmt: skip
    feed_server.feeds["/fine"] = Feed(rss([("2", OTHER, "https://news.example.test/2")]))
    async with app_for(settings_for(feed_server, sqlite_url, "/greedy", "/fine")) as app:
        summary = await app.pipeline.run_cycle(ignore_schedule=True)
        feeds = {f.name: f for f in await app.store.list_feeds()}
    assert summary.count(Outcome.OK) == 2
    greedy = feeds["greedy"]
    assert greedy.hold_until is not None and feeds["fine"].last_success_at is not None


async def test_pollers_stopping_end_no_batch_of_polls_to_write() -> None:
    """The last pollers stop one by one (a None each in the queue); their polls are still
    written as one batch, not one transaction each."""
    done: asyncio.Queue[PollResult | None] = asyncio.Queue()
    polls = [
        PollResult(feed_state(), Outcome.NOT_MODIFIED, FetchResult(304), datetime.now(UTC))
        for _ in range(3)
    ]
    for entry in (polls[0], None, polls[1], None, None, polls[2], None):
        done.put_nowait(entry)
    assert await _next_batch(done, 3) == polls
    assert await _next_batch(done, 0) == []  # a poller stopped: the caller looks again
