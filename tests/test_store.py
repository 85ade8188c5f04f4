"""The store on SQLite and PostgreSQL: migrations at every start, WAL, feed list sync,
de-duplication, what exactly is stored."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.core.config import SubscriptionConfig
from bot.core.models import FeedSpec, FeedState, FetchResult, Item, Outcome, PollResult, Schedule
from bot.delivery.outbox import Outbox
from bot.delivery.subscriptions import Subscriptions
from bot.matching.stories import StoryIndex
from bot.storage.database_url import DatabaseUrlError, async_database_url
from bot.storage.schema import (
    MIGRATIONS,
    feeds,
    items,
    matches,
    metadata,
    schema_version,
    seen_keys,
    subscriptions,
)
from bot.storage.store import INDEXED_BYTES, Store, _ids_by_pair, _pairs_query, open_engine

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_migrations_run_once(db_url: str) -> None:
    for _ in range(2):  # a restart applies nothing twice
        store = await Store.open(db_url)
        try:
            async with store.engine.connect() as conn:
                result = await conn.exec_driver_sql("select version from schema_version")
                versions = sorted(r[0] for r in result)
        finally:
            await store.close()
    assert versions == list(range(1, len(MIGRATIONS) + 1))


async def test_a_version_1_database_is_upgraded_with_its_history(db_url: str) -> None:
    """The later steps' ALTER TABLE on each backend: a database as version 1 left it (no
    stories, no routing) gains the new tables and columns, and its matches count as
    routed when they were matched, so an upgrade announces no history; its feeds lose
    their validators, so that their next poll reads what their bodies hold (v8)."""
    engine = open_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: metadata.create_all(c, tables=[schema_version]))
            await conn.run_sync(MIGRATIONS[0])
            dropped = (
                ("items", "story_id"), ("matches", "routed_at"), ("feeds", "parse_warning"),
                ("feeds", "title"), ("feeds", "user_agent"), ("feeds", "request_headers"),
                ("feeds", "newest_item_at"), ("feeds", "last_item_count"),
                ("feeds", "last_parsed_at"),
            )  # fmt: skip
            for table, column in dropped:
                await conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
            await conn.execute(schema_version.insert().values(version=1))
            feed = await conn.scalar(
                feeds.insert()
                .values(
                    url="https://a.example.test/rss",
                    name="A",
                    origin="config",
                    created_at=NOW,
                    etag='"v1"',
                    last_modified="Mon, 23 Nov 2026 00:00:00 GMT",
                    body_hash="h",
                )
                .returning(feeds.c.id)
            )
            item_row = {"feed_id": feed, "key": "k", "title": "T", "summary": "", "source": "A",
                        "first_seen": NOW, "reportable": True}  # fmt: skip
            item = await conn.scalar(items.insert().values(item_row).returning(items.c.id))
            match_row = {"item_id": item, "watchlist": "canola", "score": 9.0, "alert": True,
                         "evidence": [], "reported": True, "matched_at": NOW}  # fmt: skip
            await conn.execute(matches.insert().values(match_row))
    finally:
        await engine.dispose()
    store = await Store.open(db_url)
    try:
        async with store.engine.connect() as conn:
            routed = (await conn.execute(sa.select(matches.c.routed_at))).scalar_one()
            story = (await conn.execute(sa.select(items.c.story_id))).scalar_one()
            versions = (await conn.execute(sa.select(schema_version.c.version))).scalars().all()
        subscriptions = await Outbox.on(store.engine).subscriptions.list_active()
        (feed,) = await store.list_feeds()
    finally:
        await store.close()
    assert routed == NOW and story is None and subscriptions == []
    assert (feed.etag, feed.last_modified, feed.body_hash) == (None, None, None)
    assert (feed.user_agent, feed.headers, feed.newest_item_at, feed.last_item_count) == (
        None, (), None, None,
    )  # fmt: skip
    assert sorted(versions) == list(range(1, len(MIGRATIONS) + 1))


async def test_the_story_index_holds_only_items_of_a_story(db_url: str) -> None:
    """Most items never join a story: the index skips them, and story lookups use it."""
    store = await Store.open(db_url)
    try:
        async with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                definition = await conn.scalar(
                    sa.text("SELECT sql FROM sqlite_master WHERE name = 'ix_items_story'")
                )
                plan = await conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT source FROM items WHERE story_id IN (1, 2)"
                )
                assert any("ix_items_story" in row[-1] for row in plan)
            else:
                definition = await conn.scalar(
                    sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_items_story'")
                )
    finally:
        await store.close()
    assert "WHERE" in definition and "story_id IS NOT NULL" in definition


async def test_sqlite_makes_its_folder_and_uses_wal(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'nested' / 'w.db'}")  # plain URL too
    await store.close()
    with sqlite3.connect(tmp_path / "nested" / "w.db") as conn:
        mode = conn.execute("pragma journal_mode").fetchone()[0]
    assert mode == "wal"


def test_database_urls_get_the_async_drivers() -> None:
    assert async_database_url("sqlite:///data/w.db") == "sqlite+aiosqlite:///data/w.db"
    assert async_database_url("sqlite+aiosqlite:////abs/w.db") == "sqlite+aiosqlite:////abs/w.db"
    for plain in ("postgresql://u:p@db/w", "postgres://u:p@db/w", "postgresql+asyncpg://u:p@db/w"):
        assert async_database_url(plain) == "postgresql+asyncpg://u:p@db/w"
    for bad in ("mysql://u:p@db/w", "postgresql+psycopg2://u:p@db/w", "not a url"):
        with pytest.raises(DatabaseUrlError):
            async_database_url(bad)


async def test_feed_list_sync_keeps_history_and_opml_imports(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        a = FeedSpec("https://a.example.test/rss", "A", "config", timedelta(minutes=5))
        b = FeedSpec("https://b.example.test/rss", "B", "default", verified=False)
        await store.sync_feeds([a, b], NOW)
        added = await store.add_feeds([FeedSpec("https://c.example.test/rss", "C", "opml")], NOW)
        assert added == ["https://c.example.test/rss"]
        assert (
            await store.add_feeds([FeedSpec("https://c.example.test/rss", "C", "opml")], NOW) == []
        )
        await store.sync_feeds([a], NOW)  # b no longer declared; the OPML import stays
        active = {f.name: f for f in await store.list_feeds(active_only=True)}
        assert set(active) == {"A", "C"}
        assert active["A"].interval == timedelta(minutes=5)
        everything = {f.name: f for f in await store.list_feeds()}
        assert everything["B"].active is False and everything["B"].verified is False
        due = await store.due_feeds(NOW)
        assert {f.name for f in due} == {"A", "C"}
    finally:
        await store.close()


async def test_workers_starting_at_once_declare_the_same_feeds_and_subscriptions(
    postgres_db_url: str,
) -> None:
    """Workers sharing PostgreSQL each sync the config at start: none may fail on a row
    another inserted between its read and its write (it once stopped one of three)."""
    specs = [FeedSpec(f"https://f{n}.example.test/rss", f"F{n}", "config") for n in range(50)]
    configs = [
        SubscriptionConfig(channel=f"slack:C{n:010d}", watchlists=["canola"]) for n in range(20)
    ]
    stores = [await Store.open(postgres_db_url) for _ in range(4)]
    try:
        for _ in range(5):
            await asyncio.gather(*(s.sync_feeds(specs, NOW) for s in stores))
            await asyncio.gather(*(Subscriptions(s.engine).sync(configs, NOW) for s in stores))
            adding = [
                FeedSpec(f"https://{n}.added.example.test/rss", "A", "opml") for n in range(9)
            ]
            added = await asyncio.gather(*(s.add_feeds(adding, NOW) for s in stores))
            assert sorted(url for urls in added for url in urls) == sorted(s.url for s in adding)
            async with stores[0].engine.begin() as conn:  # gone, so the next round inserts anew
                await conn.execute(feeds.delete())
                await conn.execute(subscriptions.delete())
        await asyncio.gather(*(s.sync_feeds(specs, NOW) for s in stores))
        assert len(await stores[0].list_feeds(active_only=True)) == len(specs)
    finally:
        for store in stores:
            await store.close()


async def test_items_round_trip_as_sqlalchemy_writes_them(db_url: str) -> None:
    """Items go in through the driver's executemany; they must read back exactly, and
    timestamps are stored as UTC wall-clock time: SQLAlchemy's own text format on SQLite,
    a timestamp without time zone on PostgreSQL (whose session time zone is not UTC here)."""
    store = await Store.open(db_url)
    try:
        feed = await _one_feed(store)
        published = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        item = Item("k1", "Tïtle “quoted”", "Summary", "https://a.example.test/1", published, "A")
        await _poll(store, feed, item)
        (stored,) = await store.items_since(NOW - timedelta(seconds=1))
        async with store.engine.connect() as conn:
            raw = (await conn.exec_driver_sql("select published_at from items")).scalar_one()
    finally:
        await store.close()
    assert stored.item == item and stored.first_seen == NOW and stored.reportable is False
    if db_url.startswith("sqlite"):
        assert raw == "2026-11-20 08:30:00.000000"  # SQLAlchemy's own SQLite format
    else:
        assert raw == datetime(2026, 11, 20, 8, 30)


async def test_items_too_long_to_index_are_stored_and_known_again(db_url: str) -> None:
    """PostgreSQL refuses index entries over 2704 bytes; such a key is stored as its hash
    and such a URL dropped, the same on both backends, so the next poll knows the item."""
    store = await Store.open(db_url)
    try:
        feed = await _one_feed(store)
        key = "".join(chr(0x4E00 + (n * 7919) % 20000) for n in range(1000))  # 3000 bytes
        url = "https://a.example.test/" + "x" * INDEXED_BYTES
        item = Item(key, "Title", "Summary", url, None, "A")
        await _poll(store, feed, item)
        (feed,) = await store.list_feeds()
        await _poll(store, feed, item)
        (stored,) = await store.items_since(NOW - timedelta(seconds=1))
    finally:
        await store.close()
    assert stored.item.key.startswith("sha256:") and stored.item.url is None
    assert stored.item.title == "Title"


# keys that differ only in what a careless comparison would ignore or a quoting mix up
ODD_KEYS = ("k", "K", "k ", " k", "", "k'1", 'k"2', "k%", "k_", "ключ", "🙂", "x" * 500)


@pytest.mark.parametrize("table", [items, seen_keys], ids=["items", "seen_keys"])
async def test_the_pair_lookup_finds_exactly_the_stored_pairs(db_url: str, table: sa.Table) -> None:
    """The (feed, key) lookup behind de-duplication returns the id of every stored pair
    asked for and nothing else, over more pairs than one query takes: present and absent
    keys across many feeds, a key stored for one feed asked for another, keys that only
    an exact comparison tells apart."""
    store = await Store.open(db_url)
    try:
        specs = [FeedSpec(f"https://f{n}.example.test/rss", f"F{n}", "config") for n in range(60)]
        await store.sync_feeds(specs, NOW)
        feed_ids = sorted(f.id for f in await store.list_feeds())
        stored = [(f, f"item-{f}-{n}") for f in feed_ids for n in range(0, 24, 2)]
        stored += [(feed_ids[0], "shared")] + [(feed_ids[1], k) for k in ODD_KEYS[::2]]
        common: dict[str, object] = {"url": None, "seen_at": NOW}
        if table is items:
            common = {"url": None, "title": "T", "summary": "", "source": "S",
                      "reportable": False, "first_seen": NOW}  # fmt: skip
        async with store.engine.begin() as conn:
            await conn.execute(
                table.insert(), [{"feed_id": f, "key": k} | common for f, k in stored]
            )
            ids = {(r.feed_id, r.key): r.id for r in await conn.execute(sa.select(table))}
        asked = {(f, f"item-{f}-{n}") for f in feed_ids for n in range(24)}  # half stored
        asked |= {(f, "shared") for f in feed_ids[:5]}
        asked |= {(f, k) for f in feed_ids[:3] for k in ODD_KEYS}
        async with store.engine.connect() as conn:
            found = await _ids_by_pair(conn, table, asked)
            nothing = await _ids_by_pair(conn, table, [])
            one = await _ids_by_pair(conn, table, [(feed_ids[0], "shared")])
    finally:
        await store.close()
    assert len(asked) > 1000 and nothing == {}
    assert found == {pair: ids[pair] for pair in asked if pair in ids}
    assert len(found) == 60 * 12 + 1 + len(ODD_KEYS[::2])
    assert one == {(feed_ids[0], "shared"): ids[(feed_ids[0], "shared")]}


async def test_the_pair_lookup_probes_the_unique_index_once_per_pair(db_url: str) -> None:
    """The lookup's plan walks the pairs asked for and finds each by equality on the
    unique (feed_id, key) index: not every feed asked with every key asked, and no scan
    of the items table."""
    store = await Store.open(db_url)
    try:
        async with store.engine.begin() as conn:
            sql = _pairs_query(conn.dialect, items, 8)
            params = tuple(v for n in range(8) for v in (n, f"k{n}"))
            if conn.dialect.name == "sqlite":
                explain = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                plan = list(explain.scalars(3))
            else:  # the planner is told that scans cost too much: is the index usable?
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                await conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
                explain = await conn.exec_driver_sql(f"EXPLAIN {sql}", params)
                plan = [line.strip() for line in explain.scalars()]
    finally:
        await store.close()
    if db_url.startswith("sqlite"):
        assert "SCAN items" not in " ".join(plan), plan
        assert any(
            line.startswith("SEARCH items USING") and "(feed_id=? AND key=?)" in line
            for line in plan
        ), plan
    else:
        conditions = [line for line in plan if line.startswith("Index Cond:")]
        assert any("uq_items_feed_key" in line for line in plan), plan
        assert plan[0].startswith("Nested Loop") and "Values Scan" in plan[1], plan
        assert len(conditions) == 1 and "ANY" not in conditions[0], plan
        assert "(feed_id = " in conditions[0] and "(key = " in conditions[0], plan


async def test_reads_of_recent_items_never_scan_the_items_table(tmp_path: Path) -> None:
    """Search, backtests and the story index a starting bot loads read recent items
    through the first_seen index, on SQLite, which has no statistics to tell it that
    the range is small: ordered by id, it scanned every stored item instead."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    statements: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        statement, parameters = args[2], args[3]
        if " items" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await store.items_since(NOW)
        await store.recent_items(NOW)
        await store.recent_items(NOW, "canola")
        await Outbox.on(store.engine).router.load_story_index(StoryIndex(), NOW)
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        async with store.engine.connect() as conn:
            plans = [
                list((await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).scalars(3))
                for sql, params in statements
            ]
    finally:
        await store.close()
    assert len(plans) == 4
    for plan in plans:
        assert not any(line.startswith("SCAN items") for line in plan), plan


async def _one_feed(store: Store) -> FeedState:
    await store.sync_feeds([FeedSpec("https://a.example.test/rss", "A", "config")], NOW)
    (feed,) = await store.list_feeds()
    return feed


async def _poll(store: Store, feed: FeedState, item: Item) -> None:
    poll = PollResult(feed, Outcome.OK, FetchResult(status=200), NOW, (item,), "h", matches=((),))
    await store.record_polls([(poll, Schedule(NOW, None, 0))], timedelta(hours=48))
