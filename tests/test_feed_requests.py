"""A feed's own request settings on the wire, a site that refuses the bot, and a feed
that answers with nothing new (issue #22). Real feed server, real store, the real
commands that show feed health."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web
from feedserver import Feed, FeedServer, redirect, rss
from rich.console import Console
from test_end_to_end import wirewatch

from bot import USER_AGENT
from bot.chat.commands import Caller
from bot.cli.reports import print_feed_health
from bot.core.config import FeedConfig, PollSettings, Settings
from bot.core.models import FeedState
from bot.feeds.feed_admin import FeedRefused, Request
from bot.feeds.feed_health import REFUSED_ANYWAY, REFUSED_HINT
from bot.feeds.fetch import ACCEPT, Fetcher, FetchLimits
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import App, open_app

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)
BODY = rss([("g1", "Canola duties lifted", "https://news.example.test/a")])
NOW = datetime.now(UTC).replace(microsecond=0)


@asynccontextmanager
async def app_with(db_url: str, *feeds: FeedConfig) -> AsyncIterator[App]:
    settings = Settings(
        default_feeds=False, watchlist_sources=False, database_url=db_url, feeds=list(feeds)
    )
    async with open_app(settings, load_configured_watchlists(settings)) as app:
        yield app


def refuses_bots(request: web.Request) -> web.Response:
    """A site behind bot protection: 403 unless the client looks like a browser."""
    if request.headers.get("User-Agent", "").startswith("Mozilla/5.0"):
        return web.Response(body=BODY, content_type="application/rss+xml")
    return web.Response(status=403, text="Forbidden")


async def refusing(request: web.Request) -> web.StreamResponse:
    return refuses_bots(request)


def dated(*ages: timedelta) -> bytes:
    """An RSS body whose items were published `ages` before NOW."""
    items = "".join(
        f"<item><guid>d{n}</guid><title>Item {n}</title><link>https://news.example.test/d{n}"
        f"</link><pubDate>{format_datetime(NOW - age)}</pubDate></item>"
        for n, age in enumerate(ages)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Dated</title>{items}'
        "</channel></rss>"
    ).encode()


def health_lines(
    feeds: list[FeedState], stale_after: timedelta = timedelta(days=90)
) -> dict[str, str]:
    """`wirewatch feeds` for scripts, as {feed name: status}."""
    out = io.StringIO()
    print_feed_health(Console(file=out, width=300), feeds, NOW, stale_after)
    return {line.split("\t")[1]: line.split("\t")[0] for line in out.getvalue().splitlines()}


async def never_admin() -> bool:
    return False


async def test_a_feed_s_user_agent_and_headers_go_on_the_wire_headers_to_its_host_only(
    feed_server: FeedServer,
) -> None:
    feed_server.feeds["/f"] = Feed(BODY)
    feed_server.handlers["/same"] = redirect(301, "/f")
    feed_server.handlers["/away"] = redirect(302, f"http://localhost:{feed_server.port}/f")
    own = [("Accept", "application/rss+xml, */*"), ("Cookie", "consent=yes")]
    async with Fetcher(FetchLimits()) as fetcher:
        results = [
            await fetcher.fetch(feed_server.url("/f")),
            await fetcher.fetch(feed_server.url("/f"), user_agent=BROWSER, headers=own),
            await fetcher.fetch(feed_server.url("/same"), user_agent=BROWSER, headers=own),
            await fetcher.fetch(feed_server.url("/away"), user_agent=BROWSER, headers=own),
        ]
    assert [r.status for r in results] == [200] * 4
    plain, mine, same_host, other_host = feed_server.request_headers["/f"]
    assert plain["User-Agent"] == USER_AGENT and plain["Accept"] == ACCEPT
    assert "Cookie" not in plain
    for sent in (mine, same_host):
        assert sent["User-Agent"] == BROWSER
        assert (sent["Accept"], sent["Cookie"]) == ("application/rss+xml, */*", "consent=yes")
    assert feed_server.request_headers["/away"][0]["Cookie"] == "consent=yes"
    assert other_host["User-Agent"] == BROWSER  # the User-Agent on every hop
    assert "Cookie" not in other_host and other_host["Accept"] == ACCEPT  # the headers not


async def test_a_site_refusing_the_bot_says_so_until_the_config_sends_a_browser_s_user_agent(
    feed_server: FeedServer, db_url: str
) -> None:
    feed_server.handlers["/feed/"] = refusing
    url = feed_server.url("/feed/")
    async with app_with(db_url, FeedConfig(url=url, name="Producer")) as app:
        await app.pipeline.run_cycle(ignore_schedule=True)
        (feed,) = await app.store.list_feeds(active_only=True)
        assert (feed.last_status, feed.user_agent) == (403, None)
        assert health_lines([feed]) == {"Producer": f"failing: {REFUSED_HINT}"}
        reply = await app.commands.answer_text(Caller("console", "U1", never_admin), "feeds")
        assert f"Producer: failing (1 in a row) — HTTP 403 — {REFUSED_HINT}" in reply.message.text
        assert "0 of 1 feed healthy, 1 failing" in reply.message.text
    assert feed_server.request_headers["/feed/"][0]["User-Agent"] == USER_AGENT
    # the operator chooses to look like a browser for this feed: restarted with it
    browser = FeedConfig(url=url, name="Producer", user_agent=BROWSER, headers={"DNT": "1"})
    async with app_with(db_url, browser) as app:
        summary = await app.pipeline.run_cycle(ignore_schedule=True)
        assert summary.new_items == 1
        (feed,) = await app.store.list_feeds(active_only=True)
        assert (feed.user_agent, feed.headers) == (BROWSER, (("DNT", "1"),))
        assert health_lines([feed]) == {"Producer": "ok"}
    last = feed_server.request_headers["/feed/"][-1]
    assert (last["User-Agent"], last["DNT"]) == (BROWSER, "1")
    # taken out of the config again, the bot names itself again
    async with app_with(db_url, FeedConfig(url=url, name="Producer")) as app:
        (feed,) = await app.store.list_feeds(active_only=True)
        assert (feed.user_agent, feed.headers) == (None, ())


async def test_a_refusal_despite_an_own_user_agent_points_at_the_address(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.handlers["/wall"] = refusing
    config = FeedConfig(url=feed_server.url("/wall"), name="Wall", user_agent="NotABrowser/1")
    async with app_with(sqlite_url, config) as app:
        await app.pipeline.run_cycle(ignore_schedule=True)
        (feed,) = await app.store.list_feeds(active_only=True)
        assert health_lines([feed]) == {"Wall": f"failing: {REFUSED_ANYWAY}"}


async def test_feeds_add_and_test_send_their_user_agent_and_keep_it(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.handlers["/feed/"] = refusing
    url = feed_server.url("/feed/")
    async with app_with(sqlite_url) as app:
        try:
            await app.feeds.add(url, origin="cli")
        except FeedRefused as exc:
            assert exc.refused_client and "HTTP 403" in str(exc)
        else:
            raise AssertionError("a 403 was added")
        request = Request(BROWSER, (("Accept", "application/rss+xml"),))
        preview = await app.feeds.preview(url, request=request)
        assert preview.item_count == 1
        added = await app.feeds.add(url, origin="cli", request=request)
        assert added.preview is not None and added.known is None
        (feed,) = await app.store.list_feeds(active_only=True)
        assert (feed.origin, feed.user_agent, feed.headers) == (
            "cli",
            BROWSER,
            (("Accept", "application/rss+xml"),),
        )
        summary = await app.pipeline.run_cycle(ignore_schedule=True)
        assert summary.new_items == 1  # the poll sends the stored settings too
    assert feed_server.request_headers["/feed/"][-1]["Accept"] == "application/rss+xml"


async def test_a_feed_with_no_item_or_only_old_ones_is_stale_not_healthy(
    feed_server: FeedServer, db_url: str
) -> None:
    feed_server.feeds["/empty"] = Feed(rss([]))
    feed_server.feeds["/frozen"] = Feed(dated(timedelta(days=120), timedelta(days=400)))
    feed_server.feeds["/fresh"] = Feed(dated(timedelta(days=120), timedelta(hours=3)))
    feed_server.feeds["/undated"] = Feed(BODY)
    configs = [FeedConfig(url=feed_server.url(f"/{n}"), name=n) for n in ("empty", "frozen")]
    configs += [FeedConfig(url=feed_server.url(f"/{n}"), name=n) for n in ("fresh", "undated")]
    async with app_with(db_url, *configs) as app:
        await app.pipeline.run_cycle(ignore_schedule=True)
        feeds = await app.store.list_feeds(active_only=True)
        by_name = {f.name: f for f in feeds}
        assert by_name["empty"].last_item_count == 0 and by_name["empty"].newest_item_at is None
        assert by_name["frozen"].last_item_count == 2
        assert by_name["frozen"].newest_item_at == NOW - timedelta(days=120)
        assert health_lines(feeds) == {
            "empty": "stale: its last body held no item",
            "frozen": "stale: its newest item is 120 days old",
            "fresh": "ok",
            "undated": "ok",
        }
        assert health_lines(feeds, stale_after=timedelta(days=200))["frozen"] == "ok"
        reply = await app.commands.answer_text(Caller("console", "U1", never_admin), "feeds")
        text = reply.message.text
        assert text.startswith("2 of 4 feeds healthy, 0 failing, 2 stale")
        assert "frozen: stale: its newest item is 120 days old" in text
        # the feed comes back to life: its next body says so, an unchanged one keeps it
        feed_server.feeds["/frozen"] = Feed(dated(timedelta(hours=1)))
        await app.pipeline.run_cycle(ignore_schedule=True)
        await app.pipeline.run_cycle(ignore_schedule=True)
        frozen = await app.store.find_feed(feed_server.url("/frozen"))
        assert frozen is not None and frozen.last_item_count == 1
        assert health_lines([frozen]) == {"frozen": "ok"}


async def test_a_chat_add_of_a_site_refusing_the_bot_says_who_can_help(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    feed_server.handlers["/feed/"] = refusing
    settings = Settings(
        default_feeds=False, watchlist_sources=False, database_url=sqlite_url,
        poll=PollSettings(allow_private=["127.0.0.1"]),
    )  # fmt: skip

    async def admin() -> bool:
        return True

    async with open_app(settings, load_configured_watchlists(settings)) as app:
        caller = Caller("console", "U1", admin)
        reply = await app.commands.answer_text(caller, f"feeds add {feed_server.url('/feed/')}")
        assert await app.store.list_feeds() == []
    assert "HTTP 403" in reply.message.text
    assert "its operator can add it with its own user_agent" in reply.message.text


@pytest.mark.slow
async def test_the_command_line_sends_a_user_agent_and_headers_and_checks_them(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.handlers["/feed/"] = refusing
    url = feed_server.url("/feed/")
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\nwatchlist_sources: false\n")
    code, _, err = await wirewatch("feeds", "add", url, cwd=tmp_path)
    assert code == 2 and "HTTP 403" in err and '--user-agent "Mozilla/5.0 ..."' in err, err
    for bad, problem in (
        ("Accept text/xml", "--header 'Accept text/xml': write it as 'Name: value'"),
        ("Host: x.test", "headers.Host: Host cannot be set per feed"),
        ("X-A: caf\u00e9", "headers.X-A: a header's value must be printable ASCII"),
    ):
        code, _, err = await wirewatch("feeds", "test", url, "--header", bad, cwd=tmp_path)
        assert code == 2 and problem in err and "Traceback" not in err, err
    code, out, err = await wirewatch(
        "feeds", "add", url, "--user-agent", BROWSER, "--header", "Accept: text/xml", cwd=tmp_path
    )
    assert code == 0 and "added Test Feed" in out, err
    code, out, err = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0 and "1 ok" in out, err
    code, out, _ = await wirewatch("feeds", cwd=tmp_path)
    assert out.startswith("ok\tTest Feed\t")
    last = feed_server.request_headers["/feed/"][-1]
    assert (last["User-Agent"], last["Accept"]) == (BROWSER, "text/xml")
