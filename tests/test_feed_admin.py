"""The feed list changed without editing YAML: discovery, the preview, add, remove,
disable and enable, feed names from their own titles. Real feed server, real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from feedserver import Feed, FeedServer, redirect, rss

from bot.core.config import FeedConfig, PollSettings, Settings
from bot.core.models import Outcome
from bot.feeds.feed_admin import FeedRefused, preview_lines
from bot.feeds.opml import write_opml
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import App, open_app
from bot.storage.store import OPERATOR_DISABLED

CANOLA = "China imposes 100% tariff on Canadian canola oil"
QUIET = "Regional transit authority approves new bus routes"
ITEMS = [("2", CANOLA, "https://news.example.test/2"), ("1", QUIET, "https://news.example.test/1")]


def page(*links: str, body: str = "") -> Feed:
    head = "".join(
        f'<link rel="alternate" type="application/rss+xml" title="t" href="{href}">'
        for href in links
    )
    html = f"<!doctype html><html><head><title>Blog</title>{head}</head><body>{body}</body></html>"
    return Feed(html.encode(), content_type="text/html; charset=utf-8")


@asynccontextmanager
async def app_with(db_url: str, *feeds: FeedConfig, **poll: object) -> AsyncIterator[App]:
    settings = Settings(
        default_feeds=False, database_url=db_url, feeds=list(feeds),
        poll=PollSettings.model_validate(poll),
    )  # fmt: skip
    watchlists = [replace(w, sources=()) for w in load_configured_watchlists(settings)]
    async with open_app(settings, watchlists) as app:
        yield app


async def test_a_page_url_is_replaced_by_the_first_feed_it_names(
    feed_server: FeedServer, db_url: str
) -> None:
    feed_server.feeds["/blog/"] = page("/feed.xml", "comments.xml")
    feed_server.feeds["/feed.xml"] = Feed(rss(ITEMS, title="The Wire"))
    async with app_with(db_url) as app:
        added = await app.feeds.add(feed_server.url("/blog/"), origin="cli")
        assert added.known is None and added.preview is not None
        preview = added.preview
        assert preview.url == feed_server.url("/feed.xml") and preview.title == "The Wire"
        assert [link.url for link in preview.others] == [feed_server.url("/blog/comments.xml")]
        lines = preview_lines(preview)
        assert f"the page {feed_server.url('/blog/')} names this feed" in lines
        assert f"the page also names: {feed_server.url('/blog/comments.xml')}" in lines
        assert lines[lines.index("2 items; the newest 2:") + 1].startswith(f"• {CANOLA}")
        assert any(line.strip().startswith("matches canola (score") for line in lines)
        (feed,) = await app.store.list_feeds(active_only=True)
        assert (feed.url, feed.name, feed.origin) == (
            feed_server.url("/feed.xml"),
            "The Wire",
            "cli",
        )
        again = await app.feeds.add(feed_server.url("/blog/"), origin="cli")
        assert again.known is not None and again.known.id == feed.id
        direct = await app.feeds.add(feed_server.url("/feed.xml"), origin="cli")
        assert direct.known is not None and direct.preview is None
    assert feed_server.hits["/feed.xml"] == 2  # the direct URL was known before any fetch


async def test_a_page_naming_no_feed_is_refused_unless_guessing_finds_one(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.feeds["/"] = page()
    feed_server.feeds["/rss"] = Feed(rss(ITEMS))
    async with app_with(sqlite_url) as app:
        with pytest.raises(FeedRefused) as refused:
            await app.feeds.add(feed_server.url("/"), origin="cli")
        assert "this is a web page, not a feed, and it names no feed" in str(refused.value)
        assert refused.value.could_guess and refused.value.exit_code == 2
        assert await app.store.list_feeds() == []
        added = await app.feeds.add(feed_server.url("/"), origin="cli", guess=True)
        assert added.preview is not None and added.preview.url == feed_server.url("/rss")
        assert "found at a usual feed path" in preview_lines(added.preview)[1]
    assert feed_server.hits["/feed"] == 1 and feed_server.hits["/atom.xml"] == 0


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/missing", "HTTP 404"),
        ("/garbage", "not a readable feed"),
        ("/bad-links", "names the feeds"),
    ],
)
async def test_what_is_not_a_feed_is_refused_with_the_reason(
    feed_server: FeedServer, sqlite_url: str, path: str, error: str
) -> None:
    feed_server.feeds["/garbage"] = Feed(b"\x00\x01 not xml at all", content_type="text/plain")
    feed_server.feeds["/bad-links"] = page("/missing.xml", "/also-missing.xml")
    async with app_with(sqlite_url) as app:
        with pytest.raises(FeedRefused, match=error):
            await app.feeds.preview(feed_server.url(path))


async def test_remove_disable_and_enable_follow_where_a_feed_came_from(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.feeds["/config.xml"] = Feed(rss(ITEMS, title="Config Wire"))
    feed_server.feeds["/cli.xml"] = Feed(rss(ITEMS, title="CLI Wire"))
    configured = FeedConfig(url=feed_server.url("/config.xml"))
    async with app_with(sqlite_url, configured) as app:
        await app.feeds.add(feed_server.url("/cli.xml"), origin="cli", interval=timedelta(hours=2))
        with pytest.raises(FeedRefused, match="comes from the config file: remove it from"):
            await app.feeds.remove(feed_server.url("/config.xml"))
        config_feed = await app.store.find_feed(feed_server.url("/config.xml"))
        assert config_feed is not None
        feed, changed = await app.feeds.set_enabled(str(config_feed.id), False)
        assert changed and feed.url == feed_server.url("/config.xml")
        assert (await app.feeds.set_enabled(str(config_feed.id), False))[1] is False
        due = await app.store.due_feeds(datetime.now(UTC), ignore_schedule=True)
        assert [f.url for f in due] == [feed_server.url("/cli.xml")]
        with pytest.raises(FeedRefused, match="no feed 'nope' is polled"):
            await app.feeds.set_enabled("nope", True)
        with pytest.raises(FeedRefused, match=r"was added by the bot's operator \(cli\)"):
            await app.feeds.remove(feed_server.url("/cli.xml"), origins=("chat",))
    async with app_with(sqlite_url, configured) as app:  # a restart keeps all of it
        listed = {f.url: f for f in await app.store.list_feeds(active_only=True)}
        assert listed[feed_server.url("/config.xml")].disabled_reason == OPERATOR_DISABLED
        cli = listed[feed_server.url("/cli.xml")]
        assert (cli.origin, cli.interval, cli.name) == ("cli", timedelta(hours=2), "CLI Wire")
        removed = await app.feeds.remove(str(cli.id))
        assert removed.url == feed_server.url("/cli.xml")
        await app.feeds.set_enabled(feed_server.url("/config.xml"), True)
        due = await app.store.due_feeds(datetime.now(UTC))
        assert [f.url for f in due] == [feed_server.url("/config.xml")]
        assert [f.url for f in await app.store.list_feeds(active_only=True)] == [
            feed_server.url("/config.xml")
        ]
        readded = await app.feeds.add(feed_server.url("/cli.xml"), origin="cli")
        assert readded.known is None  # a removed feed comes back when added again


async def test_a_feed_given_no_name_is_named_by_its_own_title_everywhere(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.feeds["/plain.xml"] = Feed(rss([("1", QUIET, "https://news.example.test/1")],
                                                title="Prairie Farm News"))  # fmt: skip
    feed_server.feeds["/named.xml"] = Feed(rss([("9", QUIET, "https://news.example.test/9")]))
    plain = FeedConfig(url=feed_server.url("/plain.xml"))
    named = FeedConfig(url=feed_server.url("/named.xml"), name="My Name")
    async with app_with(sqlite_url, plain, named) as app:
        names = {f.url: f.name for f in await app.store.list_feeds()}
        assert names[plain.url] == plain.url  # not read yet
        await app.pipeline.run_cycle(ignore_schedule=True)
        feed_server.feeds["/plain.xml"] = Feed(rss(ITEMS, title="Prairie Farm News"))
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert {r.item.source for r in cycle.reports} == {"Prairie Farm News"}
        names = {f.url: f.name for f in await app.store.list_feeds()}
        assert names == {plain.url: "Prairie Farm News", named.url: "My Name"}
    async with app_with(sqlite_url, plain, named) as app:  # the config sync keeps the title
        feeds = await app.store.list_feeds(active_only=True)
        assert {f.name for f in feeds} == {"Prairie Farm News", "My Name"}
        assert b'title="Prairie Farm News" xmlUrl="' + plain.url.encode() in write_opml(feeds)


async def test_a_page_reached_by_a_temporary_redirect_resolves_links_where_it_landed(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    """Relative links (the page's feed links, a feed's item links) are read against the
    URL that answered, not the one asked for, as a browser reads them."""
    feed_server.handlers["/old"] = redirect(302, feed_server.url("/news/world/"))
    feed_server.feeds["/news/world/"] = page("feed.xml")
    feed_server.feeds["/news/world/feed.xml"] = Feed(
        b'<rss version="2.0"><channel><title>World</title><item><title>' + CANOLA.encode()
        + b"</title><link>story/1.html</link></item></channel></rss>"
    )  # fmt: skip
    async with app_with(sqlite_url) as app:
        added = await app.feeds.add(feed_server.url("/old"), origin="cli")
        assert added.preview is not None
        assert added.preview.url == feed_server.url("/news/world/feed.xml")
    feed_server.handlers["/moved-feed"] = redirect(302, feed_server.url("/news/world/feed.xml"))
    async with app_with(sqlite_url, FeedConfig(url=feed_server.url("/moved-feed"))) as app:
        await app.pipeline.run_cycle(ignore_schedule=True)
        (stored,) = await app.store.items_since(datetime(2000, 1, 1, tzinfo=UTC))
    assert stored.item.url == feed_server.url("/news/world/story/1.html")


async def test_a_configured_page_url_fails_naming_the_feed_to_use(
    feed_server: FeedServer, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    feed_server.feeds["/site"] = page("https://news.example.test/feed.xml")
    feed_server.handlers["/moved"] = redirect(301, feed_server.url("/site"))
    async with app_with(db_url, FeedConfig(url=feed_server.url("/moved"), name="Site")) as app:
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert cycle.count(Outcome.FAILED) == 1
        (feed,) = await app.store.list_feeds()
    expected = (
        "this is a web page, not a feed; it names the feed https://news.example.test/feed.xml: "
        "use that URL"
    )
    assert feed.last_error == expected
    assert f"Site: failing: {expected}" in caplog.text


async def test_a_chat_feed_is_fetched_guarded_at_every_poll(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.feeds["/feed.xml"] = Feed(rss(ITEMS, title="Loopback Wire"))
    async with app_with(sqlite_url) as app:
        with pytest.raises(FeedRefused, match=r"127\.0\.0\.1: a loopback address"):
            await app.feeds.add(feed_server.url("/feed.xml"), origin="chat")
        assert feed_server.hits["/feed.xml"] == 0
    async with app_with(sqlite_url, allow_private=["127.0.0.1"]) as app:
        added = await app.feeds.add(feed_server.url("/feed.xml"), origin="chat")
        assert added.preview is not None and added.preview.title == "Loopback Wire"
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert cycle.count(Outcome.OK) == 1
    async with app_with(sqlite_url) as app:  # allow_private gone: its polls are refused
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        (poll,) = cycle.polls
        assert poll.outcome is Outcome.FAILED and poll.feed.origin == "chat"
        assert "127.0.0.1: a loopback address" in (poll.fetch.error or "")
