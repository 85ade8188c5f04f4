"""The Discord adapter on the real discord.py, against a fake Discord on 127.0.0.1: REST
sends, webhooks, error mapping into the outbox, and `/news` driven by raw
INTERACTION_CREATE payloads over a local gateway."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from fakediscord import (
    ADMIN_ROLE,
    ALERT_ROLE,
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_CHANNELS,
    FakeDiscord,
    Reply,
    error,
    guild,
    interaction,
    rate_limited,
)
from feedserver import Feed, FeedServer, rss
from recording import ManualClock, NoCommands
from sample_messages import long_digest
from test_delivery import (
    CANOLA,
    START,
    poll_canola_after_baseline,
    settings,
    watchlists_without_sources,
)

from adapters.discord import DiscordAdapter
from adapters.discord_render import (
    DESCRIPTION_LIMIT,
    MAX_EMBEDS,
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    clean,
    escape,
    render,
)
from bot.chat.adapter import Adapter
from bot.chat.message import Entry, Message, Section, Tone
from bot.core.channels import ChannelRef, parse_channel
from bot.core.config import PollSettings, Settings, SubscriptionConfig
from bot.core.environment import DiscordSettings
from bot.core.errors import ConfigError, DeliveryError
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import App, open_app
from bot.service.preflight import configured_platforms
from bot.service.roles import GatewayLease
from bot.storage.leases import Leases
from bot.storage.store import Store

CHANNEL = ChannelRef("discord", str(CHANNEL_ID))
MESSAGES = f"/channels/{CHANNEL_ID}/messages"
WEBHOOK_ID = 1234567890123456789
WEBHOOK_TOKEN = "w" * 68
WEBHOOK_URL = f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
FOLLOWUP = rf"/webhooks/{APP_ID}/itok-\d+"
URL = "https://news.example.test/canola?id=1"


@pytest.fixture(autouse=True)
def no_discord_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Discord variable from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("WIREWATCH_DISCORD_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The fake, with discord.py's REST base and gateway restored after the test (the
    adapter sets the REST base itself from its settings)."""
    server = await FakeDiscord(guilds=[guild()]).start()
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", server.gateway)
    try:
        yield server
    finally:
        await server.stop()


def adapter_for(fake: FakeDiscord, **overrides: Any) -> DiscordAdapter:
    values: dict[str, Any] = {"token": "bot-token", "api_url": fake.api, "guild_id": GUILD_ID}
    return DiscordAdapter(DiscordSettings(**(values | overrides)))


async def started(fake: FakeDiscord, **overrides: Any) -> DiscordAdapter:
    """An adapter logged in and connected to the fake gateway, with no command core
    (for tests that only send)."""
    adapter = adapter_for(fake, **overrides)
    await adapter.start(NoCommands())
    await fake.wait_for(lambda: fake.identify is not None)
    return adapter


async def until_connected(adapter: Adapter) -> None:
    """Wait until the adapter reports its gateway connection up."""
    for _ in range(500):
        if await adapter.check_connection() is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(await adapter.check_connection())


def alert(title: str = CANOLA, url: str = URL, role: str | None = None) -> Message:
    entry = Entry(
        title, url, "Western Producer", datetime(2026, 11, 23, 8, 10, tzinfo=UTC), "canola",
        10.0, ('canola: "canola oil" (title)', 'trade: "tariff" (title)'), ("CBC News",),
    )  # fmt: skip
    return Message(title, Tone.ALERT, "Beijing said the duty starts Friday.",
                   (Section("Canola trade and tariffs", (entry,)),), mention_role=role)  # fmt: skip


def embeds_text(body: dict[str, Any]) -> str:
    return json.dumps(body["embeds"], ensure_ascii=False)


# --- sending ---------------------------------------------------------------------------------


async def test_an_alert_posts_exactly_this_payload(fake: FakeDiscord) -> None:
    adapter = await started(fake)
    message_id = await adapter.send(CHANNEL, alert(), "ww1")
    await adapter.close()
    (call,) = fake.of("POST", MESSAGES)
    assert message_id == "1000000000000000001" and call.auth == "Bot bot-token"
    assert call.body == {
        "content": None,
        "tts": False,
        "nonce": "ww1",
        "enforce_nonce": True,
        "allowed_mentions": {"parse": []},
        "components": [],
        "embeds": [
            {"type": "rich", "color": 0xE74C3C, "flags": 0, "title": CANOLA,
             "description": "Beijing said the duty starts Friday."},
            {"type": "rich", "color": 0xE74C3C, "flags": 0, "title": "Canola trade and tariffs",
             "description": f"**[{CANOLA}]({URL})**\n"
             "Western Producer · 2026-11-23 08:10 UTC · score 10\n"
             'matched canola: "canola oil" \\(title\\); trade: "tariff" \\(title\\)\n'
             "also: CBC News"},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("feed_text", "inert"),
    [
        ("@everyone and @here", "@\u200deveryone and @\u200dhere"),
        ("<@&123> <@456> <#789> <t:1:R>", "\\<@&123\\> \\<@456\\> \\<#789\\> \\<t:1:R\\>"),
        ("[x](http://evil.example)", "\\[x\\]\\(<http://evil.example>\\)"),
        ("[y]( http://evil.example )", "\\[y\\]\\( <http://evil.example> \\)"),
        ("**bold** __u__ ~~s~~ ||spoiler|| `c`",
         "\\*\\*bold\\*\\* \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\|\\|spoiler\\|\\| \\`c\\`"),
        ("# head\n> quote\n- item\n-# small\n1. first",
         "\\# head\n\\> quote\n\\- item\n\\-# small\n1\\. first"),
        ("ev\u200beryone @\u200bhere \u202egnp.exe \ufeffbom", "everyone @\u200dhere gnp.exe bom"),
        ("back\\slash", "back\\\\slash"),
        ("see https://en.wikipedia.org/wiki/Canola_(plant) now",
         "see <https://en.wikipedia.org/wiki/Canola_(plant)> now"),
        ("http://x.example/[a](http://evil.example)",
         "<http://x.example/>\\[a\\]\\(<http://evil.example>\\)"),
    ],
)  # fmt: skip
def test_feed_text_is_escaped_so_nothing_pings_links_or_formats(feed_text: str, inert: str) -> None:
    assert escape(clean(feed_text)) == inert


async def test_a_hostile_headline_cannot_ping_anyone(fake: FakeDiscord) -> None:
    adapter = await started(fake)
    hostile = "@everyone <@&123> [x](http://evil.example) " + "\u200b" * 3 + "x" * 5000
    await adapter.send(CHANNEL, alert(hostile, "https://news.example.test/a)b"), "ww1")
    await adapter.close()
    (call,) = fake.of("POST", MESSAGES)
    header, section = call.body["embeds"]
    assert call.body["allowed_mentions"] == {"parse": []} and call.body["content"] is None
    assert len(header["title"]) == TITLE_LIMIT and header["title"].endswith("…")
    assert header["title"].startswith("@\u200deveryone \\<@&123\\> \\[x\\]\\(<http://evil")
    assert "\u200b" not in embeds_text(call.body)
    assert "(https://news.example.test/a%29b)**" in section["description"]


async def test_a_long_digest_is_split_within_every_limit_and_keeps_every_link(
    fake: FakeDiscord,
) -> None:
    digest = long_digest(60)
    entries = digest.sections[0].entries
    adapter = await started(fake)
    await adapter.send(CHANNEL, digest, "ww7")
    await adapter.close()
    posts = fake.of("POST", MESSAGES)
    assert len(posts) == len(render(digest)) >= 10
    assert [p.body["nonce"] for p in posts[:3]] == ["ww7", "ww7.2", "ww7.3"]
    seen = ""
    for n, call in enumerate(posts, start=1):
        embeds = call.body["embeds"]
        assert 1 <= len(embeds) <= MAX_EMBEDS and call.body["allowed_mentions"] == {"parse": []}
        assert embeds[-1]["footer"]["text"] == f"f · {n}/{len(posts)}"
        total = 0
        for embed in embeds:
            assert len(embed.get("title", "")) <= TITLE_LIMIT
            assert len(embed.get("description", "")) <= DESCRIPTION_LIMIT
            total += len(embed.get("title", "")) + len(embed.get("description", ""))
            total += len(embed.get("footer", {}).get("text", ""))
        assert total <= MESSAGE_LIMIT
        seen += embeds_text(call.body)
    for entry in entries:
        assert entry.url is not None and f"]({entry.url})**" in seen
    assert "+7 more" in seen and "Canola (continued)" in seen


@pytest.mark.parametrize("webhook", [False, True])
async def test_a_message_cut_off_halfway_is_resumed_where_it_stopped(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, webhook: bool
) -> None:
    monkeypatch.setenv("WIREWATCH_DISCORD_WEBHOOK_TRADE_DESK", WEBHOOK_URL)
    path = f"/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}" if webhook else MESSAGES
    channel = parse_channel("discord-webhook:trade-desk") if webhook else CHANNEL
    digest = long_digest(30)
    total = len(render(digest))
    # the platform takes two parts, then refuses the third
    fake.script[f"POST {path}"] = [None, None, error(403, "Missing Access", 50001)]
    accepted: list[int] = []

    async def part_sent(n: int) -> None:
        accepted.append(n)

    adapter = await started(fake)
    with pytest.raises(DeliveryError):
        await adapter.send(channel, digest, "ww7", on_part=part_sent)
    assert accepted == [1, 2]
    await adapter.send(channel, digest, "ww7", skip=accepted[-1], on_part=part_sent)
    await adapter.close()
    assert accepted == list(range(1, total)), "each part but the last reported, once"
    posts = fake.of("POST", path)
    del posts[2]  # the one refused
    footers = [p.body["embeds"][-1]["footer"]["text"] for p in posts]
    assert footers == [f"f · {n}/{total}" for n in range(1, total + 1)], "each part once"
    if not webhook:  # a bot's parts keep their own nonces across the retry
        assert [p.body["nonce"] for p in posts[1:4]] == ["ww7.2", "ww7.3", "ww7.4"]


async def test_a_429_is_waited_out_by_discord_py_and_the_message_goes_through(
    fake: FakeDiscord,
) -> None:
    fake.script[f"POST {MESSAGES}"] = [rate_limited(0.3)]
    adapter = await started(fake)
    assert await adapter.send(CHANNEL, alert(), "ww1")
    await adapter.close()
    limited, sent = fake.of("POST", MESSAGES)
    assert sent.at - limited.at >= 0.3
    assert limited.body == sent.body and sent.body["nonce"] == "ww1"


@pytest.mark.parametrize(
    ("reply", "retryable", "reason"),
    [
        (error(403, "Missing Access", 50001), False, "Discord 403: Missing Access (code 50001)"),
        (error(404, "Unknown Channel", 10003), False, "Discord 404: Unknown Channel (code 10003)"),
        (error(503, "upstream unavailable", 0), True, "Discord 503: upstream unavailable"),
        (rate_limited(45.0), True, "Discord rate limit (429)"),
        (Reply(200, {}, delay=1.0), True, "Discord did not answer within 0.2 s"),
    ],
)
async def test_errors_map_to_permanent_or_retryable(
    fake: FakeDiscord, reply: Reply, retryable: bool, reason: str
) -> None:
    fake.script[f"POST {MESSAGES}"] = [reply]
    adapter = await started(fake, timeout=0.2 if reply.delay else 5.0)
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(CHANNEL, alert(), "ww1")
    await adapter.close()
    assert raised.value.retryable is retryable and raised.value.reason == reason
    assert raised.value.retry_after == (45.0 if reply.status == 429 else None)


async def test_webhook_delivery_needs_no_bot_and_pings_nobody(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_DISCORD_WEBHOOK_TRADE_DESK", WEBHOOK_URL)
    adapter = DiscordAdapter(DiscordSettings(api_url=fake.api))
    await adapter.start(NoCommands())
    hook = parse_channel("discord-webhook:trade-desk")
    assert await adapter.send(hook, alert("@everyone look"), "ww7") == "1000000000000000001"
    assert await adapter.check_connection() is None
    (call,) = fake.calls
    assert (call.method, call.path, call.query) == (
        "POST", f"/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}", {"wait": "1", "with_components": "0"}
    )  # fmt: skip
    assert call.auth == "" and call.body["allowed_mentions"] == {"parse": []}
    assert "content" not in call.body and "nonce" not in call.body
    assert call.body["embeds"][0]["title"] == "@\u200deveryone look"
    fake.script[f"POST /webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"] = [
        error(404, "Unknown Webhook", 10015)
    ]
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(hook, alert(), "ww8")
    assert not raised.value.retryable and "Unknown Webhook" in raised.value.reason
    with pytest.raises(DeliveryError, match="WIREWATCH_DISCORD_WEBHOOK_OTHER"):
        await adapter.send(parse_channel("discord-webhook:other"), alert(), "ww9")
    monkeypatch.setenv("WIREWATCH_DISCORD_WEBHOOK_OTHER", "https://example.test/hook")
    with pytest.raises(DeliveryError, match="not a Discord webhook URL"):
        await adapter.send(parse_channel("discord-webhook:other"), alert(), "ww10")
    await adapter.close()
    await adapter.close()


async def test_a_subscription_role_is_the_only_mention_an_alert_makes(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_DISCORD_WEBHOOK_DESK", WEBHOOK_URL)
    adapter = await started(fake)
    await adapter.send(CHANNEL, alert("@everyone <@&1>", role=str(ALERT_ROLE)), "ww1")
    await adapter.send(parse_channel("discord-webhook:desk"), alert(role=str(ALERT_ROLE)), "ww2")
    await adapter.close()
    (bot, hook) = [c.body for c in fake.calls if c.method == "POST"]
    for body in (bot, hook):
        assert body["content"] == f"<@&{ALERT_ROLE}>"
        assert body["allowed_mentions"] == {"parse": [], "roles": [ALERT_ROLE]}
    assert bot["embeds"][0]["title"] == "@\u200deveryone \\<@&1\\>"


# --- through the outbox ----------------------------------------------------------------------


@asynccontextmanager
async def one_alert_attempted(
    fake: FakeDiscord, feed_server: FeedServer, db_url: str, subscription: SubscriptionConfig
) -> AsyncIterator[App]:
    """The bot, after one CANOLA alert to `subscription` was attempted."""
    clock = ManualClock(START)
    config = settings(feed_server, db_url, subscription)
    adapter = adapter_for(fake)
    async with open_app(
        config, watchlists_without_sources(config), {"discord": adapter}, clock, deliver=True
    ) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        yield app


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (error(403, "Missing Access", 50001), "Discord 403: Missing Access (code 50001)"),
        (error(404, "Unknown Channel", 10003), "Discord 404: Unknown Channel (code 10003)"),
    ],
)
async def test_forbidden_or_unknown_channel_stops_the_subscription_in_the_outbox(
    fake: FakeDiscord, feed_server: FeedServer, db_url: str, reply: Reply, reason: str
) -> None:
    fake.script[f"POST {MESSAGES}"] = [reply]
    sub = SubscriptionConfig(channel=str(CHANNEL), watchlists=["canola"])
    async with one_alert_attempted(fake, feed_server, db_url, sub) as app:
        (row,) = await app.outbox.queue.deliveries_of("alert")
        (stopped,) = await app.outbox.subscriptions.list_active(str(CHANNEL))
    assert row.state.value == "failed" and row.last_error == f"{reason} (permanent)"
    assert stopped.disabled_reason == reason


async def test_an_alert_from_the_outbox_pings_its_subscriptions_role(
    fake: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    sub = SubscriptionConfig(
        channel=str(CHANNEL), watchlists=["canola"], mention_role=str(ALERT_ROLE)
    )
    async with one_alert_attempted(fake, feed_server, db_url, sub) as app:
        (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state.value == "sent" and row.message_id == "1000000000000000001"
    (call,) = fake.of("POST", MESSAGES)
    assert call.body["content"] == f"<@&{ALERT_ROLE}>" and call.body["nonce"].startswith("ww")
    assert call.body["allowed_mentions"] == {"parse": [], "roles": [ALERT_ROLE]}
    assert CANOLA in call.body["embeds"][0]["title"]


def test_a_mention_role_is_a_discord_role_id_on_a_discord_channel() -> None:
    from_yaml = {"channel": str(CHANNEL), "watchlists": ["canola"], "mention_role": ALERT_ROLE}
    assert SubscriptionConfig.model_validate(from_yaml).mention_role == str(ALERT_ROLE)
    with pytest.raises(ValueError, match="not a Discord role id"):
        SubscriptionConfig(channel=str(CHANNEL), watchlists=["canola"], mention_role="@here")
    with pytest.raises(ValueError, match="for Discord channels"):
        SubscriptionConfig(channel="slack:C0123456789", watchlists=["c"], mention_role="1" * 18)


# --- /news -------------------------------------------------------------------------------------


@asynccontextmanager
async def bot(
    fake: FakeDiscord, db_url: str, poll: PollSettings | None = None, **overrides: Any
) -> AsyncIterator[App]:
    """The bot running with the Discord adapter, connected to the fake gateway."""
    config = Settings(default_feeds=False, database_url=db_url, poll=poll or PollSettings())
    adapter = adapter_for(fake, **overrides)
    async with open_app(
        config, load_configured_watchlists(config), {"discord": adapter}, deliver=True
    ) as app:
        await fake.wait_for(lambda: fake.identify is not None)
        yield app


async def run(fake: FakeDiscord, payload: dict[str, Any], posts: int = 1) -> list[Any]:
    """Dispatch an interaction over the gateway; wait for its callback and `posts`
    followups; returns [callback body, followup bodies…]."""
    token = payload["token"]
    fake.events.put_nowait(("INTERACTION_CREATE", payload))
    await fake.wait_for(
        lambda: len([c for c in fake.calls if token in c.path and c.method == "POST"]) > posts
    )
    return [c.body for c in fake.calls if token in c.path and c.method == "POST"]


async def test_gateway_identify_has_no_privileged_intent_and_commands_sync_to_the_guild(
    fake: FakeDiscord, db_url: str
) -> None:
    async with bot(fake, db_url) as app:
        await until_connected(app.adapters["discord"])
    assert fake.identify is not None and fake.identify["token"] == "bot-token"
    assert fake.identify["intents"] == discord.Intents(guilds=True).value  # nothing privileged
    (sync,) = fake.of("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    (news,) = sync.body
    assert news["name"] == "news" and news["type"] == 1
    subcommands = {o["name"]: o for o in news["options"]}
    assert list(subcommands) == [
        "search", "latest", "watchlists", "watchlist", "why", "test", "subscribe",
        "unsubscribe", "subscriptions", "digest", "feeds", "help",
    ]  # fmt: skip
    search = {o["name"]: o for o in subcommands["search"]["options"]}
    assert search["query"] | {"description": ""} == {
        "type": 3, "name": "query", "description": "", "required": True,
        "min_length": 2, "max_length": 200,
    }  # fmt: skip
    assert search["watchlist"]["autocomplete"] is True and not search["watchlist"]["required"]
    assert (search["days"]["type"], search["days"]["min_value"], search["days"]["max_value"]) == (
        4, 1, 90,
    )  # fmt: skip
    mode = {o["name"]: o for o in subcommands["subscribe"]["options"]}["mode"]
    assert [c["value"] for c in mode["choices"]] == ["alert", "digest"]
    # `feeds`, `feeds add` and `feeds remove`: one subcommand, its action a choice
    feeds = {o["name"]: o for o in subcommands["feeds"]["options"]}
    assert list(feeds) == ["action", "url"] and not any(o["required"] for o in feeds.values())
    assert [c["value"] for c in feeds["action"]["choices"]] == ["add", "remove"]
    assert len(feeds["action"]["description"]) <= 100 and feeds["url"]["max_length"] == 2000


async def test_commands_sync_globally_without_a_guild_id(fake: FakeDiscord) -> None:
    adapter = await started(fake, guild_id=None)
    await adapter.close()
    assert fake.of("PUT", rf"/applications/{APP_ID}/commands")
    assert not fake.of("PUT", rf"/applications/{APP_ID}/guilds/\d+/commands")


async def test_a_lookup_is_deferred_and_answered_privately(fake: FakeDiscord, db_url: str) -> None:
    async with bot(fake, db_url):
        callback, followup = await run(fake, interaction(1, "watchlists"))
    assert callback == {"type": 5, "data": {"flags": 64}}
    assert followup["flags"] == 64 and followup["allowed_mentions"] == {"parse": []}
    assert followup["embeds"][0]["title"] == "Watchlists" and "canola" in embeds_text(followup)
    (call,) = fake.of("POST", FOLLOWUP)
    assert call.query == {"wait": "1", "with_components": "0"} and call.auth == ""


async def test_subscribe_needs_manage_channels_or_the_admin_role(
    fake: FakeDiscord, db_url: str
) -> None:
    canola = [{"type": 3, "name": "watchlist", "value": "canola"}]
    async with bot(fake, db_url, admin_role=ADMIN_ROLE) as app:
        refused = await run(fake, interaction(1, "subscribe", canola))
        assert not await app.outbox.subscriptions.list_active(f"discord:{CHANNEL_ID}")
        allowed = await run(fake, interaction(2, "subscribe", canola, permissions=MANAGE_CHANNELS))
        digest = [
            *canola,
            {"type": 3, "name": "mode", "value": "digest"},
            {"type": 3, "name": "schedule", "value": "0 8 * * mon-fri"},
            {"type": 3, "name": "timezone", "value": "America/Toronto"},
        ]
        by_role = await run(fake, interaction(3, "subscribe", digest, roles=(ADMIN_ROLE,)))
        subs = await app.outbox.subscriptions.list_active(f"discord:{CHANNEL_ID}")
    assert refused[0] == {"type": 5, "data": {"flags": 64}} and refused[1]["flags"] == 64
    assert "needs Manage Channels" in embeds_text(refused[1])
    for callback, followup in (allowed, by_role):
        assert callback == {"type": 5} and followup.get("flags", 0) == 0
        assert followup["embeds"][0]["title"] == "Subscribed"
    assert [(s.alerts, s.digest, s.timezone) for s in subs] == [
        (True, None, "UTC"), (False, "0 8 * * mon-fri", "America/Toronto"),
    ]  # fmt: skip


async def test_a_bad_argument_is_answered_privately(fake: FakeDiscord, db_url: str) -> None:
    nope = [{"type": 3, "name": "watchlist", "value": "nope"}]
    async with bot(fake, db_url):
        lookup = await run(fake, interaction(1, "watchlist", nope))
        admin = await run(fake, interaction(2, "subscribe", nope, permissions=MANAGE_CHANNELS))
    assert lookup[0] == {"type": 5, "data": {"flags": 64}} and lookup[1]["flags"] == 64
    assert "unknown watchlist 'nope'" in embeds_text(lookup[1])
    assert admin[0] == {"type": 5} and admin[1]["flags"] == 64  # public "thinking…", then:
    assert fake.of("DELETE", rf"/webhooks/{APP_ID}/itok-2/messages/@original")
    assert "unknown watchlist 'nope'" in embeds_text(admin[1])


async def test_feeds_add_by_a_channel_admin_shows_the_preview_in_public(
    fake: FakeDiscord, feed_server: FeedServer, db_url: str
) -> None:
    item = ("1", CANOLA, "https://news.example.test/1")
    feed_server.feeds["/feed.xml"] = Feed(rss([item], title="Loopback Wire"))
    add = [
        {"type": 3, "name": "action", "value": "add"},
        {"type": 3, "name": "url", "value": feed_server.url("/feed.xml")},
    ]
    allow = PollSettings(allow_private=["127.0.0.1"])
    async with bot(fake, db_url, allow) as app:
        refused = await run(fake, interaction(1, "feeds", add))
        added = await run(fake, interaction(2, "feeds", add, permissions=MANAGE_CHANNELS))
        lookup = await run(fake, interaction(3, "feeds"))
        feeds = await app.store.list_feeds(active_only=True)
    assert "needs Manage Channels" in embeds_text(refused[1]) and refused[1]["flags"] == 64
    callback, followup = added
    assert callback == {"type": 5} and followup.get("flags", 0) == 0
    assert followup["embeds"][0]["title"] == "Feed added: Loopback Wire"
    assert "canola" in embeds_text(followup)
    assert [f.url for f in feeds if f.origin == "chat"] == [feed_server.url("/feed.xml")]
    assert lookup[1]["embeds"][0]["title"] == "Feeds" and lookup[1]["flags"] == 64


async def test_autocomplete_offers_watchlist_ids(fake: FakeDiscord, db_url: str) -> None:
    typed = [{"type": 3, "name": "watchlist", "value": "can", "focused": True}]
    async with bot(fake, db_url):
        (callback,) = await run(fake, interaction(1, "latest", typed, autocomplete=True), posts=0)
    assert callback == {
        "type": 8,
        "data": {"choices": [{"name": w, "value": w}
                             for w in ("canada-china", "canada-japan", "canola")]},
    }  # fmt: skip


# --- start-up and settings ---------------------------------------------------------------------


async def test_a_refused_token_stops_startup(fake: FakeDiscord) -> None:
    fake.script["GET /users/@me"] = [error(401, "401: Unauthorized", 0)]
    with pytest.raises(DeliveryError, match="refused the bot token") as raised:
        await adapter_for(fake).start(NoCommands())
    assert not raised.value.retryable


async def test_an_invite_without_the_commands_scope_stops_startup_saying_so(
    fake: FakeDiscord,
) -> None:
    sync = f"PUT /applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    fake.script[sync] = [error(403, "Missing Access", 50001)]
    with pytest.raises(DeliveryError, match=r"needs the applications\.commands scope") as raised:
        await adapter_for(fake).start(NoCommands())
    assert not raised.value.retryable and "Missing Access" in raised.value.reason


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text("file-token\n")
    monkeypatch.setenv("WIREWATCH_DISCORD_TOKEN_FILE", str(secret))
    monkeypatch.setenv("WIREWATCH_DISCORD_GUILD_ID", str(GUILD_ID))
    monkeypatch.setenv("WIREWATCH_DISCORD_ADMIN_ROLE", str(ADMIN_ROLE))
    monkeypatch.setenv("WIREWATCH_DISCORD_API_URL", "http://proxy.internal:8080/api/v10")
    assert DiscordSettings.from_env() == DiscordSettings(
        token="file-token", guild_id=GUILD_ID, api_url="http://proxy.internal:8080/api/v10",
        admin_role=ADMIN_ROLE,
    )  # fmt: skip
    assert "discord" in configured_platforms()
    monkeypatch.setenv("WIREWATCH_DISCORD_GUILD_ID", "my-server")
    with pytest.raises(ConfigError, match="WIREWATCH_DISCORD_GUILD_ID: expected a server id"):
        DiscordSettings.from_env()


def test_webhooks_alone_configure_discord(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not DiscordSettings.from_env().configured()
    assert "discord" not in configured_platforms()
    monkeypatch.setenv("WIREWATCH_DISCORD_WEBHOOK_DESK", WEBHOOK_URL)
    assert DiscordSettings.from_env().configured() and "discord" in configured_platforms()


async def test_auto_sharded_client_opens_the_shards_discord_recommends(fake: FakeDiscord) -> None:
    fake.shards = 2
    adapter = await started(fake)
    try:
        await fake.wait_for(lambda: len(fake.identifies) == 2)
        await until_connected(adapter)
    finally:
        await adapter.close()
    assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
    assert len(fake.of("GET", "/gateway/bot")) == 1


async def test_one_worker_at_a_time_holds_the_gateway_and_another_takes_over(
    fake: FakeDiscord, db_url: str
) -> None:
    """Two workers send over REST; the one holding the gateway lease registers /news and
    opens the gateway; when it stops renewing, the other takes over once the lease ends."""
    store = await Store.open(db_url)
    first, second = adapter_for(fake), adapter_for(fake)
    clock = ManualClock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    try:
        for adapter in (first, second):
            await adapter.start(NoCommands(), gateway=False)
            assert await adapter.check_connection() is None  # ready: it sends over REST
        assert fake.identifies == [] and fake.of("PUT", r"/applications/.*/commands") == []
        leases = Leases(store.engine)
        lease = timedelta(seconds=30)
        a = GatewayLease(leases, "worker-a", {"discord": first}, lease, clock)
        b = GatewayLease(leases, "worker-b", {"discord": second}, lease, clock)
        assert await a.keep() and not await b.keep()
        await fake.wait_for(lambda: len(fake.identifies) == 1)
        await until_connected(first)
        clock.advance(timedelta(seconds=20))
        assert await a.keep() and not await b.keep()  # renewed, still the first's
        clock.advance(timedelta(seconds=31))  # the first stopped renewing: it died
        assert await b.keep()
        await fake.wait_for(lambda: len(fake.identifies) == 2)
        await until_connected(second)
        assert len(fake.of("PUT", r"/applications/.*/commands")) == 2
    finally:
        await first.close()
        await second.close()
        await store.close()


async def test_a_gateway_that_fails_to_open_leaves_sending_alone_and_opens_later(
    fake: FakeDiscord, sqlite_url: str
) -> None:
    """The worker that takes the gateway lease cannot register /news at first (403):
    it keeps sending over REST, and the next renewal opens the gateway."""
    store = await Store.open(sqlite_url)
    adapter = adapter_for(fake)
    clock = ManualClock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    commands = f"PUT /applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    try:
        await adapter.start(NoCommands(), gateway=False)
        lease = GatewayLease(
            Leases(store.engine), "worker-a", {"discord": adapter}, timedelta(seconds=30), clock
        )
        fake.script[commands] = [error(403, "Missing Access", 50001)]
        with pytest.raises(DeliveryError, match="cannot register /news"):
            await lease.keep()
        assert await adapter.send(CHANNEL, alert(), "ww1")  # the client still sends
        assert await lease.keep()
        await fake.wait_for(lambda: len(fake.identifies) == 1)
        await until_connected(adapter)
    finally:
        await adapter.close()
        await store.close()
