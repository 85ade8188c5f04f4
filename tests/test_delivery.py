"""Alerts and digests through the outbox: real feed server, real SQLite and PostgreSQL,
recording adapter."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from feedserver import Feed, FeedServer, rss
from recording import ManualClock, RecordingAdapter, Sent
from test_stories import unusual_words

from bot.chat.message import message_from_json
from bot.cli.main import main
from bot.core.config import DeliverySettings, FeedConfig, Settings, SubscriptionConfig
from bot.core.errors import ConfigError, DeliveryError
from bot.core.models import DeliveryState
from bot.delivery.queue import Waiting
from bot.matching.watchlists import Watchlist, load_configured_watchlists
from bot.service.app import App, open_app
from bot.storage.schema import items, matches, stories

CHANNEL = "discord:111111111111111111"
OTHER_CHANNEL = "discord:222222222222222222"
CANOLA = "China imposes 100% tariff on Canadian canola oil"
STRAIT = "Canadian frigate sails through the Taiwan Strait"
JAPAN = "Canada and Japan sign security of information agreement"
CALM = "Local bakery wins regional bread award"
# Monday 2026-11-23 06:00 in Toronto (11:00 UTC)
START = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
ALERTS = SubscriptionConfig(channel=CHANNEL, watchlists=["canola"])  # alerts of canola


def settings(
    server: FeedServer, db_url: str, *subs: SubscriptionConfig, **delivery: Any
) -> Settings:
    return Settings(
        default_feeds=False,
        feeds=[
            FeedConfig(url=server.url("/a"), name="Outlet A"),
            FeedConfig(url=server.url("/b"), name="Outlet B"),
        ],
        database_url=db_url,
        subscriptions=list(subs),
        delivery=DeliverySettings(**delivery),
    )


@asynccontextmanager
async def running(
    config: Settings, adapter: RecordingAdapter, clock: ManualClock
) -> AsyncIterator[App]:
    async with open_app(
        config, watchlists_without_sources(config), {"discord": adapter}, clock, deliver=True
    ) as app:
        yield app


def watchlists_without_sources(config: Settings) -> list[Watchlist]:
    """The configured watchlists without their news-search feeds (no internet in tests)."""
    return [replace(w, sources=()) for w in load_configured_watchlists(config)]


async def poll_canola_after_baseline(feed_server: FeedServer, app: App, clock: ManualClock) -> None:
    """The first poll of feeds /a and /b (nothing is news), then CANOLA appears on /a and
    is polled and delivered."""
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    await poll_and_deliver(app, clock)
    publish(feed_server, "/a", CANOLA)
    await poll_and_deliver(app, clock)


async def poll_and_deliver(app: App, clock: ManualClock) -> None:
    """One poll cycle, then route, queue digests and deliver what is due."""
    await app.pipeline.run_cycle(ignore_schedule=True)
    await app.dispatcher.tick()
    await app.dispatcher.drain()
    clock.advance(timedelta(minutes=1))


def publish(server: FeedServer, path: str, *titles: str) -> None:
    """Serve `titles` (newest first) plus the calm baseline item from feed `path`."""
    slug = path.strip("/")
    entries = [
        (f"{slug}-{t}", t, f"https://{slug}.example.test/{abs(hash(t))}") for t in titles
    ] + [(f"{slug}-calm", CALM, f"https://{slug}.example.test/calm")]
    server.feeds[path] = Feed(rss(entries, title=f"Outlet {slug.upper()}"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def test_a_story_from_two_outlets_is_alerted_once_per_channel(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(
        feed_server, db_url,
        ALERTS,
        SubscriptionConfig(channel=CHANNEL, watchlists=["canada-china", "canola"], name="both"),
        SubscriptionConfig(channel=OTHER_CHANNEL, watchlists=["canola"]),
    )  # fmt: skip
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)  # first poll: nothing is news
        assert adapter.sent == []
        publish(feed_server, "/a", CANOLA + " - CBC News")
        publish(feed_server, "/b", CANOLA + " | Reuters")
        await poll_and_deliver(app, clock)
        await poll_and_deliver(app, clock)
    assert sorted(s.channel for s in adapter.sent) == [CHANNEL, OTHER_CHANNEL]
    message = adapter.sent[0].message
    (entry,) = message.sections[0].entries
    assert entry.url is not None and entry.url.startswith("https://")
    assert set(entry.also) | {entry.source} == {"Outlet A", "Outlet B"}
    assert adapter.sent[0].nonce != adapter.sent[1].nonce


async def test_retryable_errors_back_off_then_send_once(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    adapter.fail(CHANNEL, DeliveryError("HTTP 503", retryable=True))
    adapter.fail(CHANNEL, DeliveryError("HTTP 429", retryable=True, retry_after=120))
    config = settings(feed_server, db_url, ALERTS)
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA)
        await poll_and_deliver(app, clock)  # 503: back off about 5 s
        (row,) = await app.outbox.queue.deliveries_of("alert")
        assert row.state is DeliveryState.PENDING and row.last_error == "HTTP 503"
        assert row.attempts == 1 and row.next_attempt_at > clock.now - timedelta(minutes=1)
        await poll_and_deliver(app, clock)  # a minute later: 429, Retry-After 120 s
        (row,) = await app.outbox.queue.deliveries_of("alert")
        assert row.last_error == "HTTP 429" and row.attempts == 2
        assert row.next_attempt_at - clock.now >= timedelta(seconds=50)
        await poll_and_deliver(app, clock)  # still within Retry-After: not attempted
        assert adapter.attempts == 2
        clock.advance(timedelta(minutes=2))
        await poll_and_deliver(app, clock)
        await poll_and_deliver(app, clock)
        (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.SENT and row.message_id == "m1" and row.attempts == 3
    assert adapter.titles() == [CANOLA]


async def test_permanent_error_stops_that_channel_only(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    adapter.fail(CHANNEL, DeliveryError("403 Missing Access", retryable=False))
    config = settings(
        feed_server, db_url,
        SubscriptionConfig(channel=CHANNEL, watchlists=["canola", "taiwan-strait"]),
        SubscriptionConfig(channel=OTHER_CHANNEL, watchlists=["canola", "taiwan-strait"]),
    )  # fmt: skip
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA, STRAIT)
        await poll_and_deliver(app, clock)
        await poll_and_deliver(app, clock)
        rows = await app.outbox.queue.deliveries_of("alert")
        subs = await app.outbox.subscriptions.list_active(CHANNEL)
    states = sorted((r.channel, r.state.value) for r in rows)
    assert states == [(CHANNEL, "failed"), (CHANNEL, "pending"),
                      (OTHER_CHANNEL, "sent"), (OTHER_CHANNEL, "sent")]  # fmt: skip
    assert subs[0].disabled_reason == "403 Missing Access"
    assert sorted(adapter.titles(OTHER_CHANNEL)) == sorted([CANOLA, STRAIT])
    assert adapter.titles(CHANNEL) == []


async def test_retries_give_up_after_retry_for(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    adapter.fail(CHANNEL, DeliveryError("timeout", retryable=True), times=1000)
    config = settings(feed_server, db_url, ALERTS)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        for _ in range(30):  # keeps retrying for 48 hours, backing off up to 30 minutes
            clock.advance(timedelta(hours=2))
            await app.dispatcher.tick()
            await app.dispatcher.drain()
        (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.FAILED
    assert row.last_error is not None and row.last_error.startswith("gave up after 2 days")
    assert 20 <= row.attempts <= 30


async def test_pacing_spaces_a_burst_per_channel(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter(min_interval=0.1)
    config = settings(
        feed_server, db_url,
        SubscriptionConfig(channel=CHANNEL, watchlists=["canola", "taiwan-strait", "canada-japan"]),
    )  # fmt: skip
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA, STRAIT, JAPAN)
        await poll_and_deliver(app, clock)
    times = [s.at for s in adapter.sent]
    assert len(times) == 3
    assert all(b - a >= 0.099 for a, b in itertools.pairwise(times))


DIGEST_ONLY = SubscriptionConfig(
    channel=CHANNEL, watchlists=["canola", "taiwan-strait"], alerts=False,
    digest="0 8 * * *", timezone="America/Toronto",
)  # fmt: skip


async def test_digest_holds_each_story_once_and_survives_a_failed_digest(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, DIGEST_ONLY)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        assert adapter.sent == []  # digest only
        clock.now = datetime(2026, 11, 23, 13, 0, 30, tzinfo=UTC)  # 08:00:30 in Toronto
        await poll_and_deliver(app, clock)
        assert [s.message.tone.value for s in adapter.sent] == ["digest"]
        assert _entry_titles(adapter, 0) == [CANOLA]
        # day 2: one new story; the digest fails and keeps failing until day 3's digest
        publish(feed_server, "/b", STRAIT)
        await poll_and_deliver(app, clock)
        adapter.fail(CHANNEL, DeliveryError("HTTP 502", retryable=True), times=1000)
        clock.now = datetime(2026, 11, 24, 13, 0, 30, tzinfo=UTC)
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", JAPAN + " and canola tariffs lifted")
        await poll_and_deliver(app, clock)
        adapter.clear_failures()  # the platform is back just before day 3's digest
        clock.now = datetime(2026, 11, 25, 13, 0, 30, tzinfo=UTC)
        await poll_and_deliver(app, clock)
        rows = await app.outbox.queue.deliveries_of("digest")
    assert [r.state.value for r in rows] == ["sent", "superseded", "sent"]
    assert len(adapter.sent) == 2
    second = _entry_titles(adapter, 1)
    assert STRAIT in second and CANOLA not in second and len(second) == len(set(second))


async def cut_off_day_1_digest(
    feed_server: FeedServer, app: App, adapter: RecordingAdapter, clock: ManualClock
) -> None:
    """CANOLA is news; at day 1's digest time the platform takes the digest's first
    part and fails, and from then on fails every attempt."""
    await poll_canola_after_baseline(feed_server, app, clock)
    adapter.fail(CHANNEL, DeliveryError("HTTP 502", retryable=True), accepted=1)
    adapter.fail(CHANNEL, DeliveryError("HTTP 502", retryable=True), times=1000)
    clock.now = datetime(2026, 11, 23, 13, 0, 30, tzinfo=UTC)  # 08:00:30 in Toronto
    await poll_and_deliver(app, clock)


async def test_a_digest_cut_off_halfway_posts_only_the_rest_and_is_never_superseded(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, DIGEST_ONLY)
    async with running(config, adapter, clock) as app:
        await cut_off_day_1_digest(feed_server, app, adapter, clock)
        (cut,) = await app.outbox.queue.deliveries_of("digest")
        assert cut.parts_sent == 1 and cut.payload is not None
        # a new story, then day 2's digest time, while day 1's digest is still failing
        publish(feed_server, "/b", STRAIT)
        await poll_and_deliver(app, clock)
        clock.now = datetime(2026, 11, 24, 13, 0, 30, tzinfo=UTC)
        await poll_and_deliver(app, clock)
        adapter.clear_failures()
        # a digest asked for now goes out while day 1's waits out a backoff
        await app.outbox.queue.mark_retry(cut.id, "HTTP 502", clock.now + timedelta(minutes=30))
        (sub,) = await app.outbox.subscriptions.list_active(CHANNEL)
        await app.outbox.digests.queue_now(sub.id, clock.now)
        await app.dispatcher.tick()
        await app.dispatcher.drain()
        assert adapter.sent and not adapter.sent[0].skip, "it went out before day 1's rest"
        clock.advance(timedelta(hours=1))  # past every backoff
        await poll_and_deliver(app, clock)
        rows = await app.outbox.queue.deliveries_of("digest")
    assert rows[0].state is DeliveryState.SENT
    (rest,) = [s for s in adapter.sent if s.skip]
    # day 1's digest goes on from its second part, as it was built
    assert rest.skip == 1 and rest.message == message_from_json(cut.payload)
    assert _titles(rest) == [CANOLA]
    # the others start after day 1's window, though day 1's was not through yet
    assert [t for sent in adapter.sent if not sent.skip for t in _titles(sent)] == [STRAIT]


async def test_a_digest_cut_off_halfway_outlasts_retry_for_and_loses_nothing(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, DIGEST_ONLY)
    async with running(config, adapter, clock) as app:
        await cut_off_day_1_digest(feed_server, app, adapter, clock)
        publish(feed_server, "/b", STRAIT)
        await poll_and_deliver(app, clock)
        for _ in range(72):  # the channel fails for three days, past retry_for (48 h)
            clock.advance(timedelta(hours=1))
            await poll_and_deliver(app, clock)
        adapter.clear_failures()
        clock.advance(timedelta(hours=6))  # past the longest backoff
        await poll_and_deliver(app, clock)
        rows = await app.outbox.queue.deliveries_of("digest")
    # day 1's digest was never given up; its rest went out once the channel was back
    assert rows[0].state is DeliveryState.SENT and rows[0].parts_sent == 1
    assert [s.skip for s in adapter.sent].count(1) == 1
    titles = [t for sent in adapter.sent for t in _titles(sent)]
    assert sorted(titles) == sorted([CANOLA, STRAIT]), "every story once"


async def test_a_digest_rebuilt_with_more_stories_is_not_taken_for_the_first(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, DIGEST_ONLY)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        # the first attempt may have reached the platform (a timeout) with nothing recorded
        adapter.fail(CHANNEL, DeliveryError("Discord did not answer", retryable=True))
        clock.now = datetime(2026, 11, 23, 13, 0, 30, tzinfo=UTC)
        await poll_and_deliver(app, clock)
        publish(feed_server, "/b", STRAIT)
        clock.advance(timedelta(hours=1))
        await poll_and_deliver(app, clock)
    first, second = adapter.nonces
    assert _entry_titles(adapter, 0) == [CANOLA, STRAIT]
    # a platform that drops a repeated nonce must not drop the bigger digest
    assert second != first


async def test_empty_digest_is_not_sent_unless_asked(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    quiet = SubscriptionConfig(
        channel=CHANNEL, watchlists=["canola"], alerts=False, digest="0 8 * * *",
        timezone="America/Toronto",
    )  # fmt: skip
    chatty = quiet.model_copy(update={"channel": OTHER_CHANNEL, "nothing_new": True})
    config = settings(feed_server, db_url, quiet, chatty)
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)
        clock.now = datetime(2026, 11, 23, 13, 0, 30, tzinfo=UTC)
        await poll_and_deliver(app, clock)
        rows = await app.outbox.queue.deliveries_of("digest")
    assert sorted((r.channel, r.state.value) for r in rows) == [
        (CHANNEL, "empty"), (OTHER_CHANNEL, "sent"),
    ]  # fmt: skip
    assert adapter.titles() and adapter.sent[0].channel == OTHER_CHANNEL


async def test_quiet_hours_hold_alerts_until_they_end_or_give_them_to_the_digest(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    held = SubscriptionConfig(
        channel=CHANNEL, watchlists=["canola"], quiet_hours="22:00-07:00",
        timezone="America/Toronto",
    )  # fmt: skip
    digested = held.model_copy(update={"channel": OTHER_CHANNEL, "digest": "0 8 * * *"})
    config = settings(feed_server, db_url, held, digested)
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:  # 06:00 in Toronto: quiet
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA)
        await poll_and_deliver(app, clock)
        assert adapter.sent == []
        (row,) = await app.outbox.queue.deliveries_of("alert")
        assert row.channel == CHANNEL
        assert row.next_attempt_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 07:00
        clock.now = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
        await poll_and_deliver(app, clock)
        assert adapter.titles(CHANNEL) == [CANOLA]
        clock.now = datetime(2026, 11, 23, 13, 0, 5, tzinfo=UTC)
        await poll_and_deliver(app, clock)
    assert adapter.sent[-1].channel == OTHER_CHANNEL
    assert _entry_titles(adapter, len(adapter.sent) - 1) == [CANOLA]


async def test_runtime_subscriptions_survive_restarts_and_config_changes(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    first = settings(
        feed_server, db_url,
        ALERTS,
        SubscriptionConfig(channel=OTHER_CHANNEL, watchlists=["canola"]),
    )  # fmt: skip
    async with running(first, adapter, clock) as app:
        subs = app.outbox.subscriptions
        await subs.subscribe(OTHER_CHANNEL, "taiwan-strait", clock())
        await subs.subscribe(OTHER_CHANNEL, "canada-japan", clock(), digest="0 9 * * *")
    second = settings(feed_server, db_url, ALERTS)
    async with running(second, adapter, clock) as app:
        subs = app.outbox.subscriptions
        other = await subs.list_active(OTHER_CHANNEL)
        assert sorted((s.origin, s.watchlists) for s in other) == [
            ("runtime", ("canada-japan",)), ("runtime", ("taiwan-strait",)),
        ]  # fmt: skip
        assert [s.watchlists for s in await subs.list_active(CHANNEL)] == [("canola",)]
        assert await subs.unsubscribe(OTHER_CHANNEL, "taiwan-strait") == 1
        (left,) = await subs.list_active(OTHER_CHANNEL)
    assert left.digest == "0 9 * * *" and left.next_digest_at is not None


async def test_a_story_sent_before_unsubscribing_is_not_sent_again_after(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url)
    async with running(config, adapter, clock) as app:
        subs = app.outbox.subscriptions
        await subs.subscribe(OTHER_CHANNEL, "canola", clock())
        await poll_canola_after_baseline(feed_server, app, clock)
        assert await subs.unsubscribe(OTHER_CHANNEL, "canola") == 1
        assert await subs.unsubscribe(OTHER_CHANNEL, "canola") == 0
        await subs.subscribe(OTHER_CHANNEL, "canola", clock())
        publish(feed_server, "/b", CANOLA + " | Reuters")
        await poll_and_deliver(app, clock)
        await poll_and_deliver(app, clock)
    assert adapter.titles() == [CANOLA]


async def test_matches_stored_before_a_crash_are_routed_at_the_next_start(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, ALERTS)
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA)
        await app.pipeline.run_cycle(ignore_schedule=True)  # stored; the bot dies here
    async with running(config, adapter, clock) as app:
        await app.dispatcher.tick()
        await app.dispatcher.drain()
    assert adapter.titles() == [CANOLA]


async def test_a_routing_transaction_that_fails_leaves_no_phantom_story(
    feed_server: FeedServer, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stories filed in memory by a transaction that rolled back are forgotten: the next
    tick groups the same items under stories that exist, and the alert goes out once."""
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, ALERTS)
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", CANOLA)
        await app.pipeline.run_cycle(ignore_schedule=True)
        build = app.dispatcher._alert

        def broken(story: Any) -> Any:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(app.dispatcher, "_alert", broken)
        with pytest.raises(RuntimeError):
            await app.dispatcher.tick()
        monkeypatch.setattr(app.dispatcher, "_alert", build)
        publish(feed_server, "/b", CANOLA + " - Reuters")
        await poll_and_deliver(app, clock)
        async with app.store.engine.connect() as conn:
            orphans = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(items)
                    .outerjoin(stories, stories.c.id == items.c.story_id)
                    .where(items.c.story_id.is_not(None), stories.c.id.is_(None))
                )
            ).scalar_one()
            grouped = (
                await conn.execute(
                    sa.select(sa.func.count(sa.distinct(items.c.story_id))).where(
                        items.c.title.like("China imposes%")
                    )
                )
            ).scalar_one()
    assert orphans == 0 and grouped == 1
    assert adapter.titles() == [CANOLA]


async def test_a_channel_with_no_adapter_is_named_once_and_its_alert_waits(
    feed_server: FeedServer, db_url: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, ALERTS)
    async with running(config, adapter, clock) as app:
        await app.outbox.subscriptions.subscribe("slack:C0123456789", "canola", clock())
        await poll_canola_after_baseline(feed_server, app, clock)
        for _ in range(5):
            await app.dispatcher.tick()
        counts = await app.outbox.queue.counts()
    assert caplog.text.count("no slack adapter is configured") == 1
    assert adapter.titles() == [CANOLA] and counts[DeliveryState.PENDING] == 1


async def unrouted(app: App) -> int:
    """The matches stored and not yet routed."""
    async with app.store.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(matches.c.routed_at.is_(None))
        return int((await conn.execute(query)).scalar_one())


async def test_a_backlog_is_routed_a_batch_per_tick_while_earlier_stories_go_out(
    feed_server: FeedServer, db_url: str, clock: ManualClock
) -> None:
    # A flood of headlines differing by one unusual word (each a story of its own) once
    # stalled the delivery tick until all of it was routed: no alert went out and the
    # heartbeat that /readyz reads stopped.
    adapter = RecordingAdapter()
    config = settings(feed_server, db_url, ALERTS)
    flood = [f"China imposes tariff on Canadian canola {w}" for w in unusual_words(450)]
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        app.dispatcher.route_batch = 100
        await app.pipeline.run_cycle(ignore_schedule=True)  # the first poll: nothing is news
        publish(feed_server, "/a", CANOLA)
        await app.pipeline.run_cycle(ignore_schedule=True)
        publish(feed_server, "/b", *flood)
        await app.pipeline.run_cycle(ignore_schedule=True)
        stored = await unrouted(app)  # each item matches canola and canada-china
        assert stored == 2 * (1 + len(flood))
        await app.tick()
        await app.dispatcher.drain()
        assert adapter.titles()[0] == CANOLA  # out while most of the flood waits
        left = await unrouted(app)
        assert left == stored - 100
        while left:
            await app.tick()
            assert (await app.readiness()).ready
            before, left = left, await unrouted(app)
            assert before - left == min(before, 100)
        await app.dispatcher.drain()
    assert sorted(adapter.titles()) == sorted([CANOLA, *flood])


async def test_run_once_routes_and_sends_a_backlog_bigger_than_a_tick(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, sqlite_url, ALERTS)
    flood = [f"China imposes tariff on Canadian canola {w}" for w in unusual_words(250)]
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(config, adapter, clock) as app:
        app.dispatcher.route_batch = 100
        app.dispatcher.due_batch = 40  # `run --once` once sent only the first hand-out
        await app.pipeline.run_cycle(ignore_schedule=True)
        publish(feed_server, "/a", *flood)
        await app.pipeline.run_cycle(ignore_schedule=True)
        await app.dispatcher.flush()  # as `run --once` does
        assert await unrouted(app) == 0
        assert await app.outbox.queue.waiting(clock()) == Waiting(0, 0, None, 0)
    assert sorted(adapter.titles()) == sorted(flood)


async def test_run_once_says_which_deliveries_wait_and_why(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, sqlite_url, ALERTS)
    adapter.fail(CHANNEL, DeliveryError("HTTP 502", retryable=True), times=1)
    publish(feed_server, "/a")
    async with running(config, adapter, clock) as app:
        await app.pipeline.run_cycle(ignore_schedule=True)
        publish(feed_server, "/a", CANOLA)
        await app.pipeline.run_cycle(ignore_schedule=True)
        await app.dispatcher.flush()
        waiting = await app.outbox.queue.waiting(clock())
    assert adapter.titles() == []
    assert (waiting.later, waiting.retrying, waiting.stopped) == (1, 1, 0)
    assert waiting.next_at is not None and waiting.next_at > clock()


def test_subscription_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError) as bad:
        SubscriptionConfig(
            channel="discord:12", watchlists=["canola"], digest="0 25 * * *",
            timezone="Mars/Olympus", quiet_hours="25:00-07:00",
        )  # fmt: skip
    text = str(bad.value)
    for expected in ("Discord channel id", "unknown time zone", "span of hours"):
        assert expected in text
    with pytest.raises(ValueError, match="cron schedule"):
        SubscriptionConfig(channel=CHANNEL, watchlists=["canola"], digest="0 25 * * *")
    with pytest.raises(ValueError, match="alerts, a digest schedule, or both"):
        SubscriptionConfig(channel=CHANNEL, watchlists=["canola"], alerts=False)


async def test_unknown_watchlist_or_platform_stops_startup(db_url: str) -> None:
    config = Settings(
        default_feeds=False,
        database_url=db_url,
        subscriptions=[
            SubscriptionConfig(channel="slack:C0123456789", watchlists=["canola"]),
            SubscriptionConfig(channel=CHANNEL, watchlists=["rugby"]),
        ],
    )
    with pytest.raises(ConfigError) as raised:
        async with open_app(
            config, load_configured_watchlists(config), {"discord": RecordingAdapter()},
            deliver=True,
        ):  # fmt: skip
            pass
    problems = raised.value.problems
    assert any("slack adapter" in p and "subscriptions.0.channel" in p for p in problems)
    assert any("unknown watchlist 'rugby'" in p for p in problems)


def _entry_titles(adapter: RecordingAdapter, index: int) -> list[str]:
    return _titles(adapter.sent[index])


def _titles(sent: Sent) -> list[str]:
    return [e.title for section in sent.message.sections for e in section.entries]


async def test_subscriptions_command_shows_stopped_channels_and_failures(
    feed_server: FeedServer,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adapter = RecordingAdapter()
    adapter.fail(CHANNEL, DeliveryError("404 Unknown Channel", retryable=False))
    config = settings(feed_server, db_url, ALERTS)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
    (tmp_path / "wirewatch.yaml").write_text(
        f"default_feeds: false\ndatabase_url: {db_url}\n"
        "subscriptions:\n  - channel: console\n    watchlists: [canola]\n    digest: 0 8 * * *\n"
    )
    argv = ["subscriptions", "--config", str(tmp_path / "wirewatch.yaml")]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "ok\tconsole\tcanola\talerts + digest" in out
    assert "outbox: 1 failed" in out
    assert f"failed\t2026-11-23 11:01 UTC\t{CHANNEL}\talert\t404 Unknown Channel (permanent)" in out


async def test_weekday_digest_keeps_local_time_across_the_dst_change(
    feed_server: FeedServer, db_url: str
) -> None:
    clock = ManualClock(datetime(2026, 10, 30, 11, 0, tzinfo=UTC))  # Friday 07:00 EDT
    adapter = RecordingAdapter()
    sub = SubscriptionConfig(
        channel=CHANNEL, watchlists=["canola"], alerts=False, digest="0 8 * * mon-fri",
        timezone="America/Toronto", nothing_new=True,
    )  # fmt: skip
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with running(settings(feed_server, db_url, sub), adapter, clock) as app:
        await poll_and_deliver(app, clock)
        clock.now = datetime(2026, 10, 30, 12, 0, 30, tzinfo=UTC)  # Friday 08:00 EDT
        await poll_and_deliver(app, clock)
        assert len(adapter.sent) == 1
        clock.now = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)  # Monday 07:30 EST: not yet
        await poll_and_deliver(app, clock)
        assert len(adapter.sent) == 1
        clock.now = datetime(2026, 11, 2, 13, 0, 30, tzinfo=UTC)  # Monday 08:00 EST
        await poll_and_deliver(app, clock)
        (sub_row,) = await app.outbox.subscriptions.list_active(CHANNEL)
    assert len(adapter.sent) == 2  # the weekend had no digest, Monday's came at 08:00 local
    assert sub_row.next_digest_at == datetime(2026, 11, 3, 13, 0, tzinfo=UTC)


async def test_alerts_and_digests_read_in_the_subscription_s_time_zone(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock
) -> None:
    from adapters.console import render

    adapter = RecordingAdapter()
    config = settings(
        feed_server, sqlite_url,
        SubscriptionConfig(channel=CHANNEL, watchlists=["canola"], timezone="America/Toronto"),
    )  # fmt: skip
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
    (sent,) = adapter.sent
    assert sent.message.timezone == "America/Toronto"
    (section,) = sent.message.sections
    (entry,) = section.entries
    dated = replace(
        sent.message, sections=(replace(section, entries=(replace(entry, published=START),)),)
    )
    assert "2026-11-23 06:00 EST · score " in render(dated)
