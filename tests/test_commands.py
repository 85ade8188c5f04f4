"""The `/news` command core driven directly, with no platform: the table, the text grammar,
argument checks, permissions and error replies. Real SQLite store, bundled watchlists."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from feedserver import Feed, FeedServer, redirect, rss

from bot.chat.commands import ArgKind, Caller, CommandError, Reply
from bot.chat.message import Tone
from bot.core.config import PollSettings, Settings
from bot.core.models import FeedState
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import open_app
from bot.service.commands import SPECS, Commands

CHANNEL = "slack:C0123456789"


class Asker:
    """A caller whose admin status is fixed, counting how often it was asked."""

    def __init__(self, admin: bool) -> None:
        self.admin = admin
        self.asked = 0

    async def __call__(self) -> bool:
        self.asked += 1
        return self.admin

    def caller(self) -> Caller:
        return Caller(CHANNEL, "U1", self)


@pytest.fixture
async def core(sqlite_url: str) -> AsyncIterator[Commands]:
    config = Settings(default_feeds=False, database_url=sqlite_url)
    async with open_app(config, load_configured_watchlists(config)) as app:
        yield app.commands


def text_of(reply: Reply) -> str:
    return "\n".join([reply.message.title, reply.message.text])


def test_the_table_names_each_subcommand_once_and_marks_the_admin_ones() -> None:
    names = [spec.name for spec in SPECS]
    assert len(names) == len(set(names))
    assert {spec.name for spec in SPECS if spec.admin} == {
        "subscribe", "unsubscribe", "digest", "feeds add", "feeds remove",
    }  # fmt: skip
    search = next(spec for spec in SPECS if spec.name == "search")
    assert search.usage() == "search <query> [watchlist] [days]"
    assert [a.kind for a in search.args] == [ArgKind.REST, ArgKind.WATCHLIST, ArgKind.INT]


async def test_help_is_derived_from_the_table(core: Commands) -> None:
    reply = await core.answer_text(Asker(False).caller(), "")
    assert reply.message.title == "wirewatch /news" and not reply.public
    for spec in SPECS:
        assert f"/news {spec.usage()}" in reply.message.text
    assert (
        "subscribe, unsubscribe, digest, feeds add and feeds remove need channel admin rights."
        in reply.message.text
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("search canola tariffs", {"query": "canola tariffs", "watchlist": None, "days": 7}),
        ("search canola tariffs canola", {"query": "canola tariffs", "watchlist": "canola",
                                          "days": 7}),
        ("search canola tariffs canola 30", {"query": "canola tariffs", "watchlist": "canola",
                                             "days": 30}),
        ("search canola", {"query": "canola", "watchlist": None, "days": 7}),
        ("search 2026", {"query": "2026", "watchlist": None, "days": 7}),
    ],
)  # fmt: skip
async def test_the_text_grammar_takes_trailing_options_only_when_they_fit(
    core: Commands, text: str, expected: dict[str, object]
) -> None:
    spec = next(spec for spec in SPECS if spec.name == "search")
    words = text.split()[1:]
    assert spec.bind_words(words, core._fits) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("search x", "query needs 2 characters or more"),
        ("search tariffs canola 999", "days must be between 1 and 90, not 999"),
        ("watchlist", "watchlist is required: /news watchlist <watchlist>"),
        ("watchlist canola taiwan-strait", "usage: /news watchlist <watchlist>"),
        ("watchlists now", "usage: /news watchlists"),
        ("frobnicate", "unknown subcommand 'frobnicate'"),
        ('test "unclosed', "check the quotes"),
        ("test", "text is required"),
        ("watchlist nope", "unknown watchlist 'nope'"),
        ("why ftp://example.test/x", "is not an http(s) link: /news why <url>"),
        ("feeds add", "url is required: /news feeds add <url>"),
        ("feeds add a b", "usage: /news feeds add <url>"),
        ("feeds nope", "usage: /news feeds"),
    ],
)
async def test_bad_arguments_get_a_private_warning_saying_what_is_expected(
    core: Commands, text: str, error: str
) -> None:
    reply = await core.answer_text(Asker(False).caller(), text)
    assert reply.message.tone is Tone.WARNING and not reply.public
    assert error in reply.message.text


async def test_typed_values_are_checked_as_text_is(core: Commands) -> None:
    asker = Asker(True)
    reply = await core.answer("subscribe", asker.caller(), {"watchlist": "canola", "mode": "x"})
    assert "mode must be alert or digest, not 'x'" in reply.message.text
    reply = await core.answer("search", asker.caller(), {"query": "canola", "days": 0})
    assert "days must be between 1 and 90, not 0" in reply.message.text
    reply = await core.answer("search", asker.caller(), {"query": "canola", "colour": "red"})
    assert "search takes no colour" in reply.message.text


async def test_an_admin_subcommand_asks_the_platform_and_refuses_others(core: Commands) -> None:
    refused = Asker(False)
    reply = await core.answer_text(refused.caller(), "subscribe canola")
    assert refused.asked == 1 and reply.message.tone is Tone.WARNING and not reply.public
    assert "needs Manage Channels (Discord) or an admin (Slack)" in reply.message.text
    assert await core.outbox.subscriptions.list_active(CHANNEL) == []

    allowed = Asker(True)
    reply = await core.answer_text(allowed.caller(), 'subscribe canola digest "0 8 * * *"')
    assert reply.public and reply.message.title == "Subscribed"
    (sub,) = await core.outbox.subscriptions.list_active(CHANNEL)
    assert sub.digest == "0 8 * * *" and sub.timezone == "UTC"


async def test_a_lookup_never_asks_whether_the_caller_is_an_admin(core: Commands) -> None:
    asker = Asker(False)
    for text in ("watchlists", "latest canola", "subscriptions", "feeds", "test canola tariff"):
        reply = await core.answer_text(asker.caller(), text)
        assert reply.message.tone is Tone.INFO and not reply.public, text
    assert asker.asked == 0


async def test_a_handler_that_fails_answers_an_internal_error_and_logs_it(
    core: Commands, caplog: pytest.LogCaptureFixture
) -> None:
    async with core.store.engine.begin() as conn:  # `feeds` can no longer read its table
        await conn.execute(sa.text("ALTER TABLE feeds RENAME TO feeds_gone"))
    with caplog.at_level(logging.ERROR):
        reply = await core.answer("feeds", Asker(False).caller(), {})
    assert reply.message.tone is Tone.ERROR and not reply.public
    assert reply.message.text == "Internal error; the bot logged it."
    assert "/news feeds failed" in caplog.text


async def chat_feeds(core: Commands) -> list[FeedState]:
    return [f for f in await core.store.list_feeds(active_only=True) if f.origin == "chat"]


@pytest.fixture
async def loopback_core(sqlite_url: str) -> AsyncIterator[Commands]:
    """The core of a bot whose operator lets chat-added feeds reach 127.0.0.1."""
    poll = PollSettings(allow_private=["127.0.0.1"])
    config = Settings(default_feeds=False, database_url=sqlite_url, poll=poll)
    async with open_app(config, load_configured_watchlists(config)) as app:
        yield app.commands


async def test_feeds_add_answers_in_public_with_the_preview_and_remove_undoes_it(
    loopback_core: Commands, feed_server: FeedServer
) -> None:
    feed_server.feeds["/feed.xml"] = Feed(rss([
        ("2", "China imposes 100% tariff on Canadian canola oil", "https://news.example.test/2"),
        ("1", "Regional transit authority approves new bus routes", "https://news.example.test/1"),
    ], title="Loopback Wire"))  # fmt: skip
    feed_server.feeds["/"] = Feed(
        b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" '
        b'href="/feed.xml"></head><body></body></html>', content_type="text/html",
    )  # fmt: skip
    admin = Asker(True)
    reply = await loopback_core.answer_text(admin.caller(), f"feeds add {feed_server.url('/')}")
    assert admin.asked == 1 and reply.public and reply.message.tone is Tone.INFO
    assert reply.message.title == "Feed added: Loopback Wire"
    assert f"The page {feed_server.url('/')} names this feed." in reply.message.text
    (section,) = reply.message.sections
    first = section.entries[0]
    assert first.watchlist and "canola" in first.watchlist.split(", ")
    assert any(line.startswith("matches canola (score") for line in first.evidence)
    (feed,) = await chat_feeds(loopback_core)
    assert (feed.origin, feed.url) == ("chat", feed_server.url("/feed.xml"))
    feed_server.handlers["/meta"] = redirect(302, "http://169.254.169.254/latest/meta-data/")
    meta = await loopback_core.answer(
        "feeds add", admin.caller(), {"url": feed_server.url("/meta")}
    )
    assert "169.254.169.254: a cloud metadata address" in meta.message.text

    again = await loopback_core.answer("feeds add", admin.caller(), {"url": feed_server.url("/")})
    assert again.message.title == "Feed already polled"
    reply = await loopback_core.answer_text(
        admin.caller(), f"feeds remove {feed_server.url('/feed.xml')}"
    )
    assert reply.public and reply.message.title == "Feed removed"
    assert await chat_feeds(loopback_core) == []


async def test_feeds_add_and_remove_need_a_channel_admin_and_the_guard_holds(
    core: Commands, feed_server: FeedServer
) -> None:
    feed_server.feeds["/feed.xml"] = Feed(rss([("1", "x", "https://news.example.test/1")]))
    refused = Asker(False)
    for text in (f"feeds add {feed_server.url('/feed.xml')}", "feeds remove 1"):
        reply = await core.answer_text(refused.caller(), text)
        assert "needs Manage Channels" in reply.message.text and not reply.public
    admin = Asker(True).caller()
    for url, reason in (
        (feed_server.url("/feed.xml"), "127.0.0.1: a loopback address"),
        ("http://0x7f.1/feed", "127.0.0.1 (written 0x7f.1): a loopback address"),
        ("file:///etc/passwd", "only http and https feeds can be added from chat"),
    ):
        reply = await core.answer("feeds add", admin, {"url": url})
        assert reply.message.tone is Tone.WARNING and not reply.public
        assert reply.message.text.startswith("not added: ") and reason in reply.message.text
    assert feed_server.hits["/feed.xml"] == 0
    assert [f for f in await core.store.list_feeds() if f.origin == "chat"] == []
    reply = await core.answer_text(admin, "feeds remove https://news.example.test/feed")
    assert "not removed: no feed 'https://news.example.test/feed' is polled" in reply.message.text


def test_a_command_error_is_the_reply_text() -> None:
    assert str(CommandError("days must be between 1 and 90")) == "days must be between 1 and 90"


async def test_a_watchlist_named_in_capitals_is_the_same_watchlist(core: Commands) -> None:
    admin = Asker(True)
    await core.answer_text(admin.caller(), 'subscribe canola digest "0 8 * * *"')
    reply = await core.answer_text(admin.caller(), "digest Canola")
    assert reply.message.title == "Digest" and reply.public
    reply = await core.answer_text(Asker(False).caller(), "search tariffs Canola")
    assert reply.message.tone is Tone.INFO and "in canola" in reply.message.text


@pytest.mark.parametrize(
    "text", ["test China's canola tariffs", "search l'Italie", r"test a\\b canola tariff"]
)
async def test_apostrophes_and_backslashes_in_text_are_text(core: Commands, text: str) -> None:
    reply = await core.answer_text(Asker(False).caller(), text)
    assert reply.message.tone is Tone.INFO, reply.message.text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('subscribe canola digest "0 0 30 2 *"', "never fires again"),
        ("search canola 10²", None),  # not a number: part of the query, not an error
        ("search canola --5", None),
    ],
)
async def test_odd_arguments_get_an_answer_never_an_internal_error(
    core: Commands, text: str, says: str | None
) -> None:
    reply = await core.answer_text(Asker(True).caller(), text)
    assert reply.message.tone is not Tone.ERROR, reply.message.text
    if says:
        assert reply.message.tone is Tone.WARNING and says in reply.message.text
