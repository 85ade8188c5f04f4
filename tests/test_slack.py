"""The Slack adapter on the real slack-sdk and slack-bolt, against a fake Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from fakeslack import FakeSlack, Reply
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
from test_end_to_end import offline_watchlists, wirewatch

from adapters import slack
from adapters.slack import COMMAND, MAX_BLOCKS, SCOPES, SlackAdapter, render
from bot.chat.message import Entry, Message, Section, Tone
from bot.core.channels import ChannelRef, parse_channel
from bot.core.config import PollSettings, Settings, SubscriptionConfig
from bot.core.environment import SlackSettings
from bot.core.errors import DeliveryError
from bot.core.web_settings import WebSettings
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import App, open_app

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-signing-secret"
CHANNEL = ChannelRef("slack", "C0123456789")
HOSTILE = "<!channel> <!here> <@U0BOSS> <!subteam^S1|@team> <http://evil.example|click> & *x*"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    try:
        yield slack
    finally:
        await slack.stop()


def adapter_for(fake: FakeSlack, **overrides: Any) -> SlackAdapter:
    values: dict[str, Any] = {
        "bot_token": "xoxb-test",
        "app_token": "xapp-1-test",
        "signing_secret": SECRET,
        "api_url": f"{fake.url}/api/",
        "socket_mode": False,
    }
    return SlackAdapter(SlackSettings(**(values | overrides)))


def alert(title: str = CANOLA, url: str = "https://news.example.test/canola?id=1") -> Message:
    entry = Entry(
        title, url, "Western Producer", datetime(2026, 11, 23, 8, 10, tzinfo=UTC), "canola",
        10.0, ('canola: "canola oil" (title)', 'trade: "tariff" (title)'), ("CBC News",),
    )  # fmt: skip
    return Message(title, Tone.ALERT, "Beijing said the duty starts Friday.",
                   (Section("Canola trade and tariffs", (entry,)),))  # fmt: skip


async def test_an_alert_posts_exactly_these_blocks(fake: FakeSlack) -> None:
    adapter = adapter_for(fake)
    ts = await adapter.send(CHANNEL, alert(), "ww1")
    await adapter.close()
    (body,) = fake.posted()
    assert ts == "1795000000.000001"
    assert body["_auth"] == "Bearer xoxb-test"
    assert body["channel"] == "C0123456789" and body["text"] == CANOLA
    assert body["unfurl_links"] is False and "link_names" not in body and "parse" not in body
    assert body["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "emoji": False, "text": CANOLA}},
        {"type": "section", "text": {"type": "plain_text", "emoji": False,
         "text": "\U0001f6a8 Beijing said the duty starts Friday."}},
        {"type": "section", "text": {"type": "mrkdwn", "verbatim": True,
                                     "text": "*Canola trade and tariffs*"}},
        {"type": "section", "text": {"type": "mrkdwn", "verbatim": True,
         "text": f"• *<https://news.example.test/canola?id=1|{CANOLA}>*"}},
        {"type": "context", "elements": [{"type": "plain_text", "emoji": False, "text":
         "Western Producer · 2026-11-23 08:10 UTC · score 10\n"
         'matched canola: "canola oil" (title); trade: "tariff" (title)\nalso: CBC News'}]},
    ]  # fmt: skip


async def test_hostile_headlines_cannot_ping_or_link(fake: FakeSlack) -> None:
    adapter = adapter_for(fake)
    message = alert(HOSTILE + "\u200b" * 3, "https://news.example.test/a|b>c")
    await adapter.send(CHANNEL, message, "ww1")
    (body,) = fake.posted()
    header, *parsed = body["blocks"]  # a header is plain_text: Slack parses no markup in it
    assert header["type"] == "header" and "\u200b" not in header["text"]["text"]
    raw = json.dumps(parsed)
    assert "<!" not in raw and "<@" not in raw and "<http://evil" not in raw
    assert "&lt;!channel&gt;" in raw and "&amp;" in raw and "\\u200b" not in raw
    link = body["blocks"][3]["text"]["text"]
    assert link.startswith("• *<https://news.example.test/a%7Cb%3Ec|&lt;!channel&gt;")
    assert "<!" not in body["text"] and "<@" not in body["text"]


async def test_a_headline_in_mrkdwn_syntax_is_shown_as_written_not_formatted(
    fake: FakeSlack,
) -> None:
    headline = "*Breaking* _now_ ~old~ `x` ```rm -rf``` \uff0awide\uff0a :rotating_light: 9:30:00"
    message = alert(headline)
    message = Message(message.title, message.tone, "*bold* summary", message.sections)
    adapter = adapter_for(fake)
    await adapter.send(CHANNEL, message, "ww1")
    (body,) = fake.posted()
    header, summary, _heading, link, context = body["blocks"]
    assert header["text"] == {"type": "plain_text", "emoji": False, "text": headline}
    assert summary["text"] == {
        "type": "plain_text", "emoji": False, "text": "\U0001f6a8 *bold* summary"
    }  # fmt: skip
    shown = (
        "\u2217Breaking\u2217 \u02cdnow\u02cd \u223cold\u223c \u02cbx\u02cb "
        "\u02cb\u02cb\u02cbrm -rf\u02cb\u02cb\u02cb \ufe61wide\ufe61 "
        "\u2236rotating\u02cdlight: 9\u223630:00"
    )
    assert link["text"]["text"] == f"• *<https://news.example.test/canola?id=1|{shown}>*"
    assert body["text"] == shown  # the notification text is mrkdwn too
    assert context["elements"][0]["type"] == "plain_text"


def test_plain_mentions_in_a_headline_are_neutralised_in_mrkdwn() -> None:
    (payload,) = render(alert("@channel @here @everyone @Channel vote"))
    link = payload["blocks"][3]["text"]["text"]
    assert "|\uff20channel \uff20here \uff20everyone \uff20Channel vote>" in link
    assert payload["text"] == "\uff20channel \uff20here \uff20everyone \uff20Channel vote"


@pytest.mark.parametrize(
    "invisible",
    ["\u061c", "\u180e", "\ufff9", "\ufffa", "\ufffb", *map(chr, range(0x206A, 0x2070)),
     "\U000e0001", "\U000e0041", "\U000e007f", "\u3164", "\u00ad", "\u202e", "\u2066"],
)  # fmt: skip
def test_an_invisible_character_in_any_field_never_reaches_slack(invisible: str) -> None:
    text = f"can{invisible}ola"
    entry = Entry(text, "https://news.example.test/1", text, None, "canola", 80, (text,), (text,))
    message = Message(text, Tone.ALERT, text, (Section(text, (entry,)),), text)
    (payload,) = render(message)
    sent = json.dumps(payload, ensure_ascii=False)
    assert invisible not in sent and "canola" in sent


async def test_a_long_digest_is_split_within_every_limit_and_keeps_every_link(
    fake: FakeSlack,
) -> None:
    digest = long_digest(200)
    entries = digest.sections[0].entries
    adapter = adapter_for(fake)
    await adapter.send(CHANNEL, digest, "ww1")
    posts = fake.posted()
    assert len(posts) == len(render(digest)) >= 5
    seen = ""
    for n, body in enumerate(posts, start=1):
        assert len(body["blocks"]) <= MAX_BLOCKS
        assert body["text"].endswith(f"({n}/{len(posts)})")
        for block in body["blocks"]:
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
            seen += json.dumps(block)
    for entry in entries:
        assert entry.url is not None and json.dumps(entry.url)[1:-1] in seen
    assert "+7 more" in seen


async def test_429_is_retried_by_the_sdk_then_left_to_the_outbox(fake: FakeSlack) -> None:
    limited = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
    fake.script["chat.postMessage"] = [limited]
    adapter = adapter_for(fake)
    assert await adapter.send(CHANNEL, alert(), "ww1")  # the SDK's handler retried once
    fake.script["chat.postMessage"] = [limited, limited]
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(CHANNEL, alert(), "ww2")
    assert raised.value.retryable and raised.value.retry_after == 0.0
    assert len(fake.posted()) == 4


@pytest.mark.parametrize(
    ("error", "status", "retryable"),
    [("channel_not_found", 200, False), ("not_in_channel", 200, False),
     ("invalid_auth", 200, False), ("internal_error", 500, True), ("fatal_error", 200, True)],
)  # fmt: skip
async def test_api_errors_map_to_permanent_or_retryable(
    fake: FakeSlack, error: str, status: int, retryable: bool
) -> None:
    fake.script["chat.postMessage"] = [(status, {"ok": False, "error": error}, {})]
    with pytest.raises(DeliveryError) as raised:
        await adapter_for(fake).send(CHANNEL, alert(), "ww1")
    assert raised.value.retryable is retryable
    assert error in raised.value.reason or (status == 500 and "HTTP 500" in raised.value.reason)


@pytest.mark.parametrize("webhook", [False, True])
async def test_a_message_cut_off_halfway_is_resumed_where_it_stopped(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, webhook: bool
) -> None:
    monkeypatch.setenv("WIREWATCH_SLACK_WEBHOOK_TRADE_DESK", f"{fake.url}/hooks/trade")
    channel = parse_channel("slack-webhook:trade-desk") if webhook else CHANNEL
    digest = long_digest(200)
    # the platform takes two parts, then fails with a 500
    refusal: Reply = (500, {"ok": False, "error": "internal_error", "text": "internal_error"}, {})
    fake.script["hook:trade" if webhook else "chat.postMessage"] = [None, None, refusal]
    accepted: list[int] = []

    async def part_sent(n: int) -> None:
        accepted.append(n)

    adapter = adapter_for(fake)
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(channel, digest, "ww7", on_part=part_sent)
    assert raised.value.retryable and accepted == [1, 2]
    await adapter.send(channel, digest, "ww7", skip=accepted[-1], on_part=part_sent)
    posts = [body for _, body in fake.hooks] if webhook else fake.posted()
    del posts[2]  # the one refused
    total = len(render(digest))
    assert accepted == list(range(1, total)), "each part but the last reported, once"
    assert [p["text"].rsplit("(", 1)[1] for p in posts] == [
        f"{n}/{total})" for n in range(1, total + 1)
    ], "each part once, in order"


async def test_incoming_webhook_delivery_needs_no_app(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_SLACK_WEBHOOK_TRADE_DESK", f"{fake.url}/hooks/trade")
    adapter = SlackAdapter(SlackSettings())
    hook = parse_channel("slack-webhook:trade-desk")
    assert await adapter.send(hook, alert(HOSTILE), "ww7") == "webhook-ww7"
    ((name, body),) = fake.hooks
    assert name == "trade" and body["blocks"][0]["type"] == "header"
    assert "<!channel>" not in json.dumps([body["text"], body["blocks"][1:]])
    fake.script["hook:trade"] = [(404, {"text": "no_service"}, {})]
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(hook, alert(), "ww8")
    assert not raised.value.retryable and "no_service" in raised.value.reason
    with pytest.raises(DeliveryError, match="WIREWATCH_SLACK_WEBHOOK_OTHER"):
        await adapter.send(parse_channel("slack-webhook:other"), alert(), "ww9")


async def test_not_in_channel_stops_the_subscription_in_the_outbox(
    fake: FakeSlack, feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(START)
    fake.script["chat.postMessage"] = [(200, {"ok": False, "error": "not_in_channel"}, {})]
    config = settings(
        feed_server, db_url, SubscriptionConfig(channel=str(CHANNEL), watchlists=["canola"])
    )
    adapter = adapter_for(fake, socket_mode=True)
    watchlists = watchlists_without_sources(config)
    async with open_app(config, watchlists, {"slack": adapter}, clock, deliver=True) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        (row,) = await app.outbox.queue.deliveries_of("alert")
        (sub,) = await app.outbox.subscriptions.list_active(str(CHANNEL))
    assert row.state.value == "failed" and row.last_error == "Slack: not_in_channel (permanent)"
    assert sub.disabled_reason == "Slack: not_in_channel"


# --- /news over HTTP (signed requests) and Socket Mode -------------------------------------


def signed(
    text: str,
    response_url: str | None,
    *,
    user: str = "U1",
    ts: int | None = None,
    secret: str = SECRET,
    trigger: str | None = None,
) -> tuple[str, dict[str, str]]:
    """A slash command as Slack sends it, signed with `secret`; each has its own
    trigger_id (as from Slack) unless `trigger` names one; no response_url when None."""
    form = {"token": "unused", "team_id": "T1", "team_domain": "t", "channel_id": "C0123456789",
            "channel_name": "news", "user_id": user, "user_name": "alice", "command": "/news",
            "text": text, "api_app_id": "A1", "response_url": response_url,
            "trigger_id": trigger or f"1.2.{uuid.uuid4().hex}"}  # fmt: skip
    body = urllib.parse.urlencode({k: v for k, v in form.items() if v is not None})
    stamp = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": f"v0={digest}",
    }


@asynccontextmanager
async def bot_with_slack(
    fake: FakeSlack, db_url: str, adapter: SlackAdapter, poll: PollSettings | None = None
) -> AsyncIterator[tuple[App, str]]:
    config = Settings(
        default_feeds=False, database_url=db_url, web=WebSettings(port=0),
        poll=poll or PollSettings(),
    )  # fmt: skip
    async with open_app(
        config, load_configured_watchlists(config), {"slack": adapter}, deliver=True
    ) as app:
        assert app.web is not None  # the bot's own web server serves /slack/events
        yield app, f"http://127.0.0.1:{app.web.port}/slack/events"


async def answer(fake: FakeSlack, count: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        if len(fake.responses) >= count:
            return fake.responses
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer posted to response_url: {fake.calls}")


async def test_signed_slash_commands_are_answered_and_forged_ones_refused(
    fake: FakeSlack, db_url: str
) -> None:
    async with (
        bot_with_slack(fake, db_url, adapter_for(fake)) as (_, url),
        aiohttp.ClientSession() as http,
    ):
        body, headers = signed("watchlists", f"{fake.url}/response/1")
        started = time.monotonic()
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200
        assert time.monotonic() - started < 3  # acked within Slack's deadline
        (reply,) = await answer(fake)
        assert reply["response_type"] == "ephemeral"
        assert "canola" in json.dumps(reply["blocks"])
        forged = dict(headers, **{"X-Slack-Signature": "v0=" + "0" * 64})
        async with http.post(url, data=body, headers=forged) as resp:
            assert resp.status == 401
        stale_body, stale = signed("help", f"{fake.url}/response/2", ts=int(time.time()) - 360)
        async with http.post(url, data=stale_body, headers=stale) as resp:
            assert resp.status == 401
        bad_body, bad = signed("search tariffs canola 999", f"{fake.url}/response/3")
        async with http.post(url, data=bad_body, headers=bad) as resp:
            assert resp.status == 200
        replies = await answer(fake, 2)
    assert "days must be between 1 and 90" in json.dumps(replies[1])


async def test_subscribe_needs_a_workspace_admin(fake: FakeSlack, db_url: str) -> None:
    fake.users["UADMIN"] = {"id": "UADMIN", "is_admin": True}
    async with (
        bot_with_slack(fake, db_url, adapter_for(fake)) as (app, url),
        aiohttp.ClientSession() as http,
    ):
        body, headers = signed("subscribe canola", f"{fake.url}/response/1", user="U1")
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200
        (refused,) = await answer(fake)
        assert refused["response_type"] == "ephemeral" and "needs" in json.dumps(refused)
        body, headers = signed(
            'subscribe canola digest "0 8 * * mon-fri" America/Toronto',
            f"{fake.url}/response/2", user="UADMIN",
        )  # fmt: skip
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200
        replies = await answer(fake, 2)
        (sub,) = await app.outbox.subscriptions.list_active("slack:C0123456789")
    assert replies[1]["response_type"] == "in_channel"
    assert sub.digest == "0 8 * * mon-fri" and sub.timezone == "America/Toronto"


async def test_feeds_add_by_a_workspace_admin_answers_in_channel_with_the_preview(
    fake: FakeSlack, feed_server: FeedServer, db_url: str
) -> None:
    fake.users["UADMIN"] = {"id": "UADMIN", "is_admin": True}
    feed_server.feeds["/feed.xml"] = Feed(
        rss([("1", CANOLA, "https://news.example.test/1")], title="Loopback Wire")
    )
    allow = PollSettings(allow_private=["127.0.0.1"])
    async with (
        bot_with_slack(fake, db_url, adapter_for(fake), allow) as (app, url),
        aiohttp.ClientSession() as http,
    ):
        for n, user in enumerate(("U1", "UADMIN"), 1):
            body, headers = signed(
                f"feeds add {feed_server.url('/feed.xml')}", f"{fake.url}/response/{n}", user=user
            )
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200
            replies = await answer(fake, n)
        feeds = await app.store.list_feeds(active_only=True)
    refused, added = replies
    assert refused["response_type"] == "ephemeral" and "needs" in json.dumps(refused)
    assert added["response_type"] == "in_channel"
    assert "Feed added: Loopback Wire" in json.dumps(added) and "canola" in json.dumps(added)
    assert [f.url for f in feeds if f.origin == "chat"] == [feed_server.url("/feed.xml")]


async def test_socket_mode_acks_an_envelope_and_answers(fake: FakeSlack, db_url: str) -> None:
    adapter = adapter_for(fake, socket_mode=True, signing_secret=None)
    async with bot_with_slack(fake, db_url, adapter):
        assert adapter.routes() == []  # nothing served over HTTP in Socket Mode
        fake.envelopes.put_nowait({
            "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
            "payload": {"team_id": "T1", "channel_id": "C0123456789", "user_id": "U1",
                        "command": "/news", "text": "help",
                        "response_url": f"{fake.url}/response/9", "trigger_id": "1.2"},
        })  # fmt: skip
        ack = await asyncio.wait_for(fake.acks.get(), 10)
        (reply,) = await answer(fake)
    assert ack["envelope_id"] == "env-1"
    assert ("apps.connections.open", "Bearer xapp-1-test") in [
        (m, b["_auth"]) for m, b in fake.calls
    ]
    assert "/news search" in json.dumps(reply)


def test_the_app_manifest_matches_the_adapter() -> None:
    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND and not command["should_escape"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == SCOPES
    assert manifest["settings"]["socket_mode_enabled"] is True


async def test_a_revoked_token_stops_startup_with_slacks_reason(fake: FakeSlack) -> None:
    fake.script["auth.test"] = [(200, {"ok": False, "error": "invalid_auth"}, {})]
    adapter = adapter_for(fake)
    with pytest.raises(DeliveryError, match="invalid_auth") as caught:
        await adapter.start(NoCommands())
    assert not caught.value.retryable


async def test_wirewatch_run_stops_on_a_revoked_token_with_a_clear_error(
    fake: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.script["auth.test"] = [(200, {"ok": False, "error": "invalid_auth"}, {})]
    monkeypatch.setenv("WIREWATCH_SLACK_BOT_TOKEN", "xoxb-revoked")
    monkeypatch.setenv("WIREWATCH_SLACK_APP_TOKEN", "xapp-1-test")
    monkeypatch.setenv("WIREWATCH_SLACK_API_URL", f"{fake.url}/api/")
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\n")
    code, _, err = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 2, err
    assert "wirewatch: cannot start: Slack: invalid_auth" in err and "Traceback" not in err


async def test_admin_status_is_asked_again_after_a_while(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.users["U1"] = {"id": "U1", "is_admin": True}
    adapter = adapter_for(fake)
    assert await adapter._is_admin("U1")
    fake.users["U1"] = {"id": "U1", "is_admin": False}  # demoted
    assert await adapter._is_admin("U1")  # still trusted: asked a moment ago
    monkeypatch.setattr(slack, "ADMIN_CACHE_SECONDS", 0.0)
    assert not await adapter._is_admin("U1")


def test_a_url_too_long_for_a_link_is_shown_whole_on_its_own() -> None:
    long_url = "https://news.example.test/canola-tariff-" + "x" * 1950 + "?id=1&page=2"
    (payload,) = render(alert(url=long_url))  # the store keeps URLs up to 2,000 bytes
    texts = [b["elements"][0]["text"] for b in payload["blocks"] if b["type"] == "context"]
    assert "<https://" not in json.dumps(payload["blocks"])
    assert long_url in texts  # plain text: shown exactly as it is
