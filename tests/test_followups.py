"""Alerts that grow with their story: edits and thread replies through the outbox, on the
fake Discord and Slack APIs driven by the real discord.py and slack-sdk, on SQLite and
PostgreSQL, across a restart."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import discord
import pytest
import sqlalchemy as sa
from fakediscord import CHANNEL_ID, Call, FakeDiscord, Reply, guild
from fakeslack import FakeSlack
from feedserver import FeedServer
from recording import ManualClock, RecordingAdapter
from sqlalchemy.ext.asyncio import create_async_engine
from test_delivery import CANOLA, START, poll_and_deliver, publish, watchlists_without_sources

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from bot.chat.adapter import Adapter
from bot.chat.message import Entry, Message, Section, Tone, grown_alert
from bot.core.channels import parse_channel
from bot.core.config import DeliverySettings, FeedConfig, Settings, SubscriptionConfig
from bot.core.environment import DiscordSettings, SlackSettings
from bot.core.errors import DeliveryError
from bot.core.models import Delivery, DeliveryState
from bot.service.app import App, open_app
from bot.storage.schema import deliveries

DISCORD = f"discord:{CHANNEL_ID}"
SLACK = "slack:C0123456789"
MESSAGES = f"/channels/{CHANNEL_ID}/messages"
EDITS = rf"/channels/{CHANNEL_ID}/messages/\d+"
INTERVAL = timedelta(minutes=10)


@pytest.fixture(autouse=True)
def no_platform_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Discord or Slack variable from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(("WIREWATCH_DISCORD_", "WIREWATCH_SLACK_")):
            monkeypatch.delenv(name)


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord(guilds=[guild()]).start()
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", server.gateway)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


def discord_adapter(fake: FakeDiscord) -> dict[str, Adapter]:
    settings = DiscordSettings(token="bot-token", api_url=fake.api, guild_id=None)
    return {"discord": DiscordAdapter(settings)}


def slack_adapter(fake: FakeSlack) -> dict[str, Adapter]:
    settings = SlackSettings(
        bot_token="xoxb-test", app_token="xapp-1-test", signing_secret="s",
        api_url=f"{fake.url}/api/", socket_mode=True,
    )  # fmt: skip
    return {"slack": SlackAdapter(settings)}


OUTLETS = "abcdefghijklmnopqrstuvwxyz"


def config(server: FeedServer, db_url: str, sub: SubscriptionConfig, outlets: int = 4) -> Settings:
    """Feeds /a, /b, … (`outlets` of them, named "Outlet A", …) and one subscription; every
    feed starts out serving only its calm item."""
    names = [f"{OUTLETS[n % 26]}{n // 26 or ''}" for n in range(outlets)]
    settings = Settings(
        default_feeds=False,
        feeds=[FeedConfig(url=server.url(f"/{n}"), name=f"Outlet {n.upper()}") for n in names],
        database_url=db_url,
        subscriptions=[sub],
        delivery=DeliverySettings(followups_min_interval=INTERVAL),
    )
    for n in names:
        publish(server, f"/{n}")
    return settings


@asynccontextmanager
async def running(
    settings: Settings, adapters: dict[str, Adapter], clock: ManualClock
) -> AsyncIterator[App]:
    async with open_app(
        settings, watchlists_without_sources(settings), adapters, clock, deliver=True
    ) as app:
        yield app


async def sent_times(db_url: str, ids: list[int]) -> list[datetime]:
    """When these deliveries were sent, in order."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            query = sa.select(deliveries.c.sent_at).where(deliveries.c.id.in_(ids))
            return sorted((await conn.execute(query)).scalars())
    finally:
        await engine.dispose()


async def alerted(server: FeedServer, app: App, clock: ManualClock) -> None:
    """The baseline poll, then CANOLA from /a, polled and alerted."""
    await poll_and_deliver(app, clock)
    publish(server, "/a", CANOLA)
    await poll_and_deliver(app, clock)


async def another_outlet(server: FeedServer, app: App, clock: ManualClock, path: str) -> None:
    """`path` reports CANOLA too: polled, then polled again once the follow-up interval
    has passed (the follow-up is due)."""
    publish(server, path, CANOLA)
    await poll_and_deliver(app, clock)
    clock.advance(INTERVAL)
    await poll_and_deliver(app, clock)


async def followups(app: App) -> list[Delivery]:
    return await app.outbox.queue.deliveries_of("followup")


def embed_title(call: Call) -> str:
    return str(call.body["embeds"][0]["title"])


# --- Discord ---------------------------------------------------------------------------------


async def test_discord_alert_is_edited_in_place_paced_never_posted_twice_across_a_restart(
    fake_discord: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    settings = config(
        feed_server, db_url, SubscriptionConfig(channel=DISCORD, watchlists=["canola"])
    )
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA)
        await poll_and_deliver(app, clock)  # the alert
        (post,) = fake_discord.of("POST", MESSAGES)
        publish(feed_server, "/b", CANOLA)
        await poll_and_deliver(app, clock)  # a follow-up queued, due 10 min after the post
        publish(feed_server, "/c", CANOLA)
        await poll_and_deliver(app, clock)  # folded into the one waiting
        (waiting,) = await followups(app)
        assert waiting.state is DeliveryState.PENDING and fake_discord.of("PATCH", EDITS) == []
    # a restart between the post and the edit: ids and the follow-up are in the database
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        publish(feed_server, "/d", CANOLA)
        await poll_and_deliver(app, clock)
        assert fake_discord.of("PATCH", EDITS) == []
        clock.advance(INTERVAL)
        await poll_and_deliver(app, clock)
        (edit,) = fake_discord.of("PATCH", EDITS)
        (done,) = await followups(app)
    assert len(fake_discord.of("POST", MESSAGES)) == 1  # never a second post
    assert edit.path == f"{MESSAGES}/{done.message_id}"
    assert done.message_id in fake_discord.messages
    assert post.body["embeds"][0]["title"] == embed_title(edit)
    embed = edit.body["embeds"][0]
    assert CANOLA in embed["title"]
    text = str(edit.body["embeds"])
    assert "also: Outlet B, Outlet C, Outlet D" in text and "4 outlets · latest report" in text
    assert edit.body["allowed_mentions"] == {"parse": []}
    assert done.state is DeliveryState.SENT


async def test_an_edit_of_a_deleted_alert_is_given_up_and_nothing_is_reposted(
    fake_discord: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    settings = config(
        feed_server, db_url, SubscriptionConfig(channel=DISCORD, watchlists=["canola"])
    )
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        await alerted(feed_server, app, clock)
        fake_discord.messages.clear()  # someone deleted the alert
        await another_outlet(feed_server, app, clock, "/b")
        (gone,) = await followups(app)
        (sub,) = await app.outbox.subscriptions.list_active(DISCORD)
        for outlet in ("/c", "/d"):  # more outlets: the alert is gone, nothing more is tried
            await another_outlet(feed_server, app, clock, outlet)
        states = [f.state for f in await followups(app)]
    assert len(fake_discord.of("PATCH", EDITS)) == 1
    assert len(fake_discord.of("POST", MESSAGES)) == 1  # the alert was never posted again
    assert gone.state is DeliveryState.FAILED
    assert gone.last_error is not None and "Unknown Message" in gone.last_error
    assert "left as it is" in gone.last_error
    assert sub.disabled_reason is None  # the channel keeps delivering
    assert states == [DeliveryState.FAILED]


async def test_a_failed_edit_is_retried(
    fake_discord: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    settings = config(
        feed_server, db_url, SubscriptionConfig(channel=DISCORD, watchlists=["canola"])
    )
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        await alerted(feed_server, app, clock)
        (alert,) = await app.outbox.queue.deliveries_of("alert")
        path = f"{MESSAGES}/{alert.message_id}"
        fake_discord.script[f"PATCH {path}"] = [Reply(503, {"message": "busy", "code": 0})]
        publish(feed_server, "/b", CANOLA)
        await poll_and_deliver(app, clock)
        clock.advance(INTERVAL)
        await poll_and_deliver(app, clock)  # 503: back to pending, with backoff
        (retrying,) = await followups(app)
        assert retrying.state is DeliveryState.PENDING and retrying.attempts == 1
        assert retrying.last_error is not None and "503" in retrying.last_error
        await poll_and_deliver(app, clock)  # a minute later: the retry goes through
        (done,) = await followups(app)
    assert done.state is DeliveryState.SENT and done.attempts == 2
    assert len(fake_discord.of("PATCH", path)) == 2
    assert len(fake_discord.of("POST", MESSAGES)) == 1


async def test_forty_outlets_in_an_hour_make_a_handful_of_edits(
    fake_discord: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    settings = config(
        feed_server, db_url, SubscriptionConfig(channel=DISCORD, watchlists=["canola"]), 41
    )
    paths = ["/" + f.url.rsplit("/", 1)[1] for f in settings.feeds]
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, paths[0], CANOLA)
        await poll_and_deliver(app, clock)
        for burst in range(10):  # 4 more outlets every 6 minutes (one poll: a minute)
            for path in paths[1 + 4 * burst : 5 + 4 * burst]:
                publish(feed_server, path, CANOLA)
            await poll_and_deliver(app, clock)
            clock.advance(timedelta(minutes=5))
        clock.advance(INTERVAL)
        await poll_and_deliver(app, clock)  # the last one waiting goes out
        rows = await followups(app)
    edits = fake_discord.of("PATCH", EDITS)
    assert len(fake_discord.of("POST", MESSAGES)) == 1
    assert 3 <= len(edits) <= 7, len(edits)  # paced 10 minutes apart over about an hour
    assert all(r.state is DeliveryState.SENT for r in rows) and len(rows) == len(edits)
    sent_at = await sent_times(db_url, [r.id for r in rows])
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(sent_at))
    last = str(edits[-1].body["embeds"])
    assert "41 outlets" in last and "+35 more" in last  # 40 others: 5 named, 35 counted


async def test_discord_thread_replies_open_one_thread_across_a_restart(
    fake_discord: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    sub = SubscriptionConfig(channel=DISCORD, watchlists=["canola"], followups="thread")
    settings = config(feed_server, db_url, sub)
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        await alerted(feed_server, app, clock)
        (alert,) = await app.outbox.queue.deliveries_of("alert")
        publish(feed_server, "/b", CANOLA)
        await poll_and_deliver(app, clock)
        clock.advance(INTERVAL)
        await poll_and_deliver(app, clock)  # the thread, and its first reply
    async with running(settings, discord_adapter(fake_discord), clock) as app:
        publish(feed_server, "/c", CANOLA)
        await another_outlet(feed_server, app, clock, "/d")
        (alert,) = await app.outbox.queue.deliveries_of("alert")
    thread = f"/channels/{alert.thread_id}/messages"
    assert alert.thread_id == alert.message_id  # Discord: a message's thread has its id
    (opened,) = fake_discord.of("POST", rf"{MESSAGES}/\d+/threads")
    assert opened.body["name"] == CANOLA
    first, second = fake_discord.of("POST", thread)
    assert "Outlet B" in str(first.body) and "Outlet C" not in str(first.body)
    assert "Outlet C" in str(second.body) and "Outlet D" in str(second.body)
    assert "Outlet B" not in str(second.body["embeds"][0]["title"])
    assert first.body["nonce"] != second.body["nonce"]
    assert len(fake_discord.of("POST", MESSAGES)) == 1 and fake_discord.of("PATCH", EDITS) == []


# --- Slack -----------------------------------------------------------------------------------


async def test_slack_alert_is_updated_in_place_across_a_restart(
    fake_slack: FakeSlack, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    settings = config(feed_server, db_url, SubscriptionConfig(channel=SLACK, watchlists=["canola"]))
    async with running(settings, slack_adapter(fake_slack), clock) as app:
        await alerted(feed_server, app, clock)
        publish(feed_server, "/b", CANOLA)
        publish(feed_server, "/c", CANOLA)
        await poll_and_deliver(app, clock)
    async with running(settings, slack_adapter(fake_slack), clock) as app:
        await another_outlet(feed_server, app, clock, "/d")
    (post,) = fake_slack.posted()
    (update,) = fake_slack.updated()
    (ts,) = fake_slack.messages
    assert update["ts"] == ts and update["channel"] == "C0123456789"
    assert "also: Outlet B, Outlet C, Outlet D" in str(update["blocks"])
    assert "4 outlets · latest report" in str(update["blocks"])
    assert "thread_ts" not in post


async def test_slack_thread_replies_and_a_deleted_message_is_not_reposted(
    fake_slack: FakeSlack, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    sub = SubscriptionConfig(channel=SLACK, watchlists=["canola"], followups="thread")
    settings = config(feed_server, db_url, sub)
    async with running(settings, slack_adapter(fake_slack), clock) as app:
        await alerted(feed_server, app, clock)
        await another_outlet(feed_server, app, clock, "/b")
        publish(feed_server, "/c", CANOLA)
        await another_outlet(feed_server, app, clock, "/d")
    alert, *replies = fake_slack.posted()
    alert_ts = next(iter(fake_slack.messages))
    assert "thread_ts" not in alert and [r["thread_ts"] for r in replies] == [alert_ts] * 2
    first, second = (str(r["blocks"]) for r in replies)
    assert "Outlet B" in first and "Outlet C" not in first
    assert "Outlet C" in second and "Outlet D" in second
    assert fake_slack.updated() == []


async def test_slack_update_of_a_missing_message_is_given_up(
    fake_slack: FakeSlack, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    settings = config(feed_server, db_url, SubscriptionConfig(channel=SLACK, watchlists=["canola"]))
    async with running(settings, slack_adapter(fake_slack), clock) as app:
        await alerted(feed_server, app, clock)
        fake_slack.messages.clear()
        await another_outlet(feed_server, app, clock, "/b")
        (gone,) = await followups(app)
    assert gone.state is DeliveryState.FAILED
    assert gone.last_error == "Slack: message_not_found (permanent; the alert is left as it is)"
    assert len(fake_slack.posted()) == 1 and len(fake_slack.updated()) == 1


# --- where follow-ups are off --------------------------------------------------------------


@pytest.mark.parametrize("channel", ["slack-webhook:news", "console"])
async def test_channels_that_cannot_edit_queue_no_followup(
    channel: str, feed_server: FeedServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_SLACK_WEBHOOK_NEWS", "https://hooks.slack.com/services/T0/B0/x")
    clock = ManualClock(START)
    settings = config(
        feed_server, sqlite_url, SubscriptionConfig(channel=channel, watchlists=["canola"])
    )
    recording = RecordingAdapter(platform=channel.split(":")[0].removesuffix("-webhook"))
    async with running(settings, {recording.platform: recording}, clock) as app:
        await alerted(feed_server, app, clock)
        await another_outlet(feed_server, app, clock, "/b")
        assert await followups(app) == []
    assert recording.titles() == [CANOLA]


@pytest.mark.parametrize(
    ("channel", "mode", "problem"),
    [
        ("slack-webhook:news", "edit", "not possible on slack-webhook channels (possible: off)"),
        ("console", "thread", "not possible on console channels"),
        ("discord-webhook:news", "thread", "(possible: edit, off)"),
    ],
)
def test_a_followup_mode_the_channel_cannot_take_is_a_config_error(
    channel: str, mode: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        SubscriptionConfig(channel=channel, watchlists=["canola"], followups=mode)  # type: ignore[arg-type]


def test_a_grown_alert_names_five_outlets_and_counts_the_rest() -> None:
    entry = Entry("Headline", "https://a.example.test/1", "Outlet A", None, "canola", 5.0)
    alert = Message("Headline", Tone.ALERT, sections=(Section("Canola", (entry,)),), timezone="UTC")
    outlets = [f"Outlet {c}" for c in "ABCDEFGHI"]
    grown = grown_alert(alert, outlets, START)
    (grown_entry,) = grown.sections[0].entries
    assert grown_entry.also == (
        "Outlet B",
        "Outlet C",
        "Outlet D",
        "Outlet E",
        "Outlet F",
        "+3 more",
    )
    assert grown.footer.startswith("9 outlets · latest report ")
    assert grown.title == alert.title and grown_entry.url == entry.url


async def test_a_discord_webhook_alert_is_edited_through_its_webhook(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook_id, token = 1234567890123456789, "w" * 68
    url = f"https://discord.com/api/webhooks/{hook_id}/{token}"
    monkeypatch.setenv("WIREWATCH_DISCORD_WEBHOOK_NEWS", url)
    adapter = DiscordAdapter(DiscordSettings(api_url=fake_discord.api))
    channel = parse_channel("discord-webhook:news")
    entry = Entry(CANOLA, "https://a.example.test/1", "Outlet A", None, "canola", 5.0)
    alert = Message(CANOLA, Tone.ALERT, sections=(Section("Canola", (entry,)),))
    try:
        message_id = await adapter.send(channel, alert, "ww1")
        await adapter.edit(channel, message_id, grown_alert(alert, ["Outlet A", "Outlet B"], START))
        (edit,) = fake_discord.of("PATCH", rf"/webhooks/{hook_id}/{token}/messages/\d+")
        assert edit.path.endswith(f"/messages/{message_id}") and edit.auth == ""
        assert "also: Outlet B" in str(edit.body["embeds"])
        fake_discord.messages.clear()
        with pytest.raises(DeliveryError) as gone:
            await adapter.edit(channel, message_id, alert)
        with pytest.raises(DeliveryError) as no_thread:
            await adapter.open_thread(channel, message_id, CANOLA)
    finally:
        await adapter.close()
    assert not gone.value.retryable and "Unknown Message" in gone.value.reason
    assert not no_thread.value.retryable
    assert len(fake_discord.of("POST", rf"/webhooks/{hook_id}/{token}")) == 1
