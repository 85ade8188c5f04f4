"""Retention on SQLite and PostgreSQL, with time injected: what goes when, what never
goes, seen keys that keep a pruned item from coming back as new, and SQLite's space
returned."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from feedserver import Feed, FeedServer, rss

from bot.chat.message import build_alert
from bot.cli.main import main
from bot.core.config import FeedConfig, Settings
from bot.core.models import (
    DeliveryState,
    Evidence,
    FeedSpec,
    FetchResult,
    Item,
    Match,
    Outcome,
    PollResult,
    Schedule,
)
from bot.delivery.outbox import Outbox
from bot.matching.stories import StoryIndex
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import open_app
from bot.storage.retention import Pruned, Pruner, RetentionPolicy
from bot.storage.schema import deliveries, items, seen_keys, stories
from bot.storage.store import Store

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CHANNEL = "discord:111111111111111111"
OTHER_CHANNEL = "discord:222222222222222222"
HEADLINES = {
    "c": "China imposes 100% tariff on Canadian canola oil",
    "f": "Canola growers brace as Beijing widens anti-dumping probe",
    "g": "Ottawa and Tokyo sign canola export deal in Osaka",
    "h": "Canola futures slump to a four-year low in Winnipeg",
}


@asynccontextmanager
async def store_on(db_url: str) -> AsyncIterator[Store]:
    store = await Store.open(db_url)
    try:
        yield store
    finally:
        await store.close()


def canola(item: Item) -> tuple[Match, ...]:
    evidence = (Evidence("canola", "canola", "title", "canola", 100),)
    return (Match("canola", 9.0, True, evidence),) if "anola" in item.title else ()


async def poll(store: Store, at: datetime, keys: str) -> None:
    """One successful poll of the only feed at `at`, carrying an item per letter of
    `keys` (a letter of HEADLINES is a canola headline, any other matches nothing)."""
    (feed,) = await store.list_feeds()
    carried = tuple(
        Item(k, HEADLINES.get(k, f"Calm news {k}"), "", f"https://news.test/{k}", None, "A")
        for k in keys
    )
    result = PollResult(
        feed, Outcome.OK, FetchResult(status=200), at, carried, keys,
        matches=tuple(canola(i) for i in carried),
    )  # fmt: skip
    await store.record_polls([(result, Schedule(at, None, 0))], timedelta(hours=48))


async def route(outbox: Outbox, at: datetime) -> None:
    await outbox.router.route(StoryIndex(), lambda story: build_alert(story, {}), at)


async def send(outbox: Outbox, story_title: str, at: datetime) -> None:
    """Mark the alerts of the story titled `story_title` sent."""
    async with outbox.queue.engine.connect() as conn:
        story = (
            await conn.execute(sa.select(stories.c.id).where(stories.c.title == story_title))
        ).scalar_one()
    for delivery in await outbox.queue.deliveries_of("alert"):
        if delivery.story_id == story:
            claimed = await outbox.queue.claim(delivery.id, at)
            assert claimed is not None
            await outbox.queue.mark_sent(claimed, f"m{delivery.id}", at)


async def left(store: Store) -> tuple[str, set[str], set[str], list[str]]:
    """The item keys left, the seen keys, the story titles, and the deliveries' states."""
    async with store.engine.connect() as conn:
        keys = "".join(sorted((await conn.execute(sa.select(items.c.key))).scalars()))
        seen = set((await conn.execute(sa.select(seen_keys.c.key))).scalars())
        titles = set((await conn.execute(sa.select(stories.c.title))).scalars())
        states = (
            await conn.execute(sa.select(deliveries.c.state).order_by(deliveries.c.id))
        ).scalars()
        return keys, seen, titles, list(states)


async def test_each_kind_goes_after_its_own_time_and_what_is_needed_stays(db_url: str) -> None:
    async with store_on(db_url) as store:
        outbox = Outbox.on(store.engine)
        await store.sync_feeds([FeedSpec("https://a.test/rss", "A", "config")], T0)
        await outbox.subscriptions.subscribe(CHANNEL, "canola", T0)
        # a digest subscription from the start: nothing it has not covered goes
        await outbox.subscriptions.subscribe(OTHER_CHANNEL, "canola", T0, digest="0 8 * * *")
        await poll(store, T0, "ab")  # the first poll: recorded, not reported
        for hour, keys in enumerate(("cd", "f", "g", "h"), start=1):
            await poll(store, T0 + timedelta(hours=hour), keys)
            await route(outbox, T0 + timedelta(hours=hour))
        for key in "fgh":  # c's alert stays pending
            await send(outbox, HEADLINES[key], T0 + timedelta(hours=5))

        batches: list[tuple[str, int]] = []
        pruner = Pruner(store.engine, RetentionPolicy(batch=2))
        would = await pruner.prune(T0 + 91 * DAY, dry_run=True)
        assert await left(store) == (
            "abcdfgh",
            set(),
            set(HEADLINES.values()),
            ["pending", *["sent"] * 3],
        )
        done = await pruner.prune(T0 + 91 * DAY, progress=lambda k, n: batches.append((k, n)))
        assert would == Pruned(items=3) and done.rows == 3  # a, b, d: unmatched, 90 days old
        assert batches == [("items", 2), ("items", 3)]  # two rows a batch at most
        keys, seen, titles, states = await left(store)
        assert keys == "cfgh" and seen == {"a", "b", "d"}

        # sent alerts go after 180 days (h's, the newest row of the table, stays)
        assert await pruner.prune(T0 + 181 * DAY) == Pruned(deliveries=2)
        assert (await left(store))[3] == ["pending", "sent"]

        # matched items and their stories after two years; not while a digest still
        # has to cover them, nor c, whose alert is pending, nor the newest item and story
        late = T0 + 731 * DAY
        assert await pruner.prune(late, dry_run=True) == Pruned()
        await outbox.subscriptions.unsubscribe(OTHER_CHANNEL, "canola")
        assert await pruner.prune(late, dry_run=True) == Pruned(matched_items=2, stories=2)
        assert await pruner.prune(late) == Pruned(matched_items=2, stories=2)
        keys, seen, titles, states = await left(store)
        assert keys == "ch" and seen == {"a", "b", "d", "f", "g"}
        assert titles == {HEADLINES["c"], HEADLINES["h"]}
        assert states == ["pending", "sent"]
        pending = [
            d for d in await outbox.queue.deliveries_of() if d.state is DeliveryState.PENDING
        ]
        assert [d.story_id for d in pending] != [None]  # its story is still there


async def test_a_seen_key_stays_while_its_feed_carries_the_item(db_url: str) -> None:
    async with store_on(db_url) as store:
        await store.sync_feeds([FeedSpec("https://a.test/rss", "A", "config")], T0)
        await poll(store, T0, "ab")
        await poll(store, T0 + DAY, "abz")  # z: the newest item, which stays
        pruner = Pruner(store.engine, RetentionPolicy(seen_keys=30 * DAY))
        assert await pruner.prune(T0 + 100 * DAY) == Pruned(items=2)
        await poll(store, T0 + 101 * DAY, "abz")  # still carried: not new, seen again
        assert (await left(store))[:2] == ("z", {"a", "b"})
        await poll(store, T0 + 105 * DAY, "bz")  # a has left the feed
        assert await pruner.prune(T0 + 120 * DAY) == Pruned()  # a was seen 19 days ago
        assert await pruner.prune(T0 + 132 * DAY) == Pruned(seen_keys=1)  # now a goes
        assert (await left(store))[1] == {"b"}  # b was in the feed's last body
        await poll(store, T0 + 133 * DAY, "abz")  # a, gone for long, is new again; b is not
        assert (await left(store))[:2] == ("az", {"b"})


async def test_a_pruned_item_still_in_its_feed_is_not_new_again(
    feed_server: FeedServer, db_url: str
) -> None:
    """End to end: a loopback feed, the real pipeline, time injected through the clock."""
    now = [T0]
    calm = ("1", "Local bakery wins regional bread award", "https://news.example.test/1")
    fresh = ("2", "Harbour ferry timetable changes next week", "https://news.example.test/2")
    later = ("3", "Town council approves new library hours", "https://news.example.test/3")
    feed_server.feeds["/a"] = Feed(rss([calm]))
    settings = Settings(
        default_feeds=False, feeds=[FeedConfig(url=feed_server.url("/a"))], database_url=db_url
    )
    async with open_app(
        settings, load_configured_watchlists(settings), clock=lambda: now[0]
    ) as app:
        await app.store.sync_feeds(
            [FeedSpec(feed_server.url("/a"), "a", "config")], now[0]
        )  # the watchlists' own feeds left out
        assert (await app.pipeline.run_cycle(ignore_schedule=True)).new_items == 1
        feed_server.feeds["/a"] = Feed(rss([fresh, calm]))
        now[0] += DAY
        assert (await app.pipeline.run_cycle(ignore_schedule=True)).new_items == 1
        now[0] += 100 * DAY
        assert await Pruner(app.store.engine).prune(now[0]) == Pruned(items=1)
        assert await app.store.count_items() == 1
        feed_server.feeds["/a"] = Feed(rss([later, fresh, calm]))  # still carries item 1
        now[0] += timedelta(hours=1)
        cycle = await app.pipeline.run_cycle(ignore_schedule=True)
        assert cycle.new_items == 1 and await app.store.count_items() == 2


async def test_sqlite_returns_the_pruned_pages(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    async with store_on(url) as store:
        await store.sync_feeds([FeedSpec("https://a.test/rss", "A", "config")], T0)
        (feed,) = await store.list_feeds()
        bulky = tuple(
            Item(f"k{n}", f"Calm news {n}", "x" * 2000, f"https://news.test/{n}", None, "A")
            for n in range(600)
        )
        result = PollResult(
            feed, Outcome.OK, FetchResult(status=200), T0, bulky, "b",
            matches=((),) * len(bulky),
        )  # fmt: skip
        await store.record_polls([(result, Schedule(T0, None, 0))], timedelta(hours=48))
        pruner = Pruner(store.engine)
        assert await pruner.auto_vacuum() == "incremental"  # a new file
        async with store.engine.connect() as conn:
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
        done = await pruner.prune(T0 + 100 * DAY)
        async with store.engine.connect() as conn:
            free = (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one()
            after = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
    assert done.items == 599 and done.pages > 200
    assert free == 0 and after < pages // 4  # the file holds a quarter of what it did


async def test_an_older_sqlite_file_changes_mode_at_a_full_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # as an earlier version made it: no auto_vacuum
        conn.execute("CREATE TABLE t (x)")
    async with store_on(f"sqlite+aiosqlite:///{path}") as store:
        pruner = Pruner(store.engine)
        assert await pruner.auto_vacuum() == "none"
        await pruner.vacuum()
        assert await pruner.auto_vacuum() == "incremental"


def test_the_prune_command_counts_then_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("wirewatch.yaml").write_text("default_feeds: false\nretention: {items: 30d}\n")
    old = datetime.now(UTC) - 40 * DAY

    async def fill() -> None:
        async with store_on(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'wirewatch.db'}") as s:
            await s.sync_feeds([FeedSpec("https://a.test/rss", "A", "config")], old)
            await poll(s, old, "abdj")
            await poll(s, old + 20 * DAY, "abdjk")  # k: 20 days old, and the newest

    asyncio.run(fill())
    assert main(["prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete from sqlite" in out
    assert re.search(r"items that matched nothing +4\n", out), out
    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"items that matched nothing +4\n", out), out
    assert "predates" not in out  # a new file is in incremental auto_vacuum mode
    assert main(["prune"]) == 0
    assert re.search(r"items that matched nothing +0\n", capsys.readouterr().out)
    Path("wirewatch.yaml").write_text("default_feeds: false\nretention: off\n")
    assert main(["prune"]) == 0
    assert "retention is off" in capsys.readouterr().out
    assert main(["prune", "--vacuum", "--dry-run"]) == 0  # a dry run vacuums nothing either
    assert "retention is off" in capsys.readouterr().out


def test_a_dry_run_in_a_fresh_folder_makes_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("wirewatch.yaml").write_text("default_feeds: false\n")
    assert main(["prune", "--dry-run"]) == 0
    assert "no database at data/wirewatch.db yet: nothing to prune" in capsys.readouterr().out
    assert not Path("data").exists()
