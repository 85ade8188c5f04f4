"""The store: migrations at every start, WAL, feed list sync, de-duplication."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import FeedSpec, FetchResult, Item, Outcome, PollResult
from bot.polling import Schedule
from bot.schema import MIGRATIONS
from bot.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_migrations_run_once_and_sqlite_uses_wal(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'w.db'}"
    for _ in range(2):  # a restart applies nothing twice
        store = await Store.open(url)
        await store.close()
    with sqlite3.connect(tmp_path / "nested" / "w.db") as conn:
        versions = [r[0] for r in conn.execute("select version from schema_version")]
        mode = conn.execute("pragma journal_mode").fetchone()[0]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert mode == "wal"


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


async def test_items_round_trip_as_sqlalchemy_writes_them(db_url: str, tmp_path: Path) -> None:
    """Items go in through the driver's executemany; they must read back exactly."""
    store = await Store.open(db_url)
    try:
        await store.sync_feeds([FeedSpec("https://a.example.test/rss", "A", "config")], NOW)
        (feed,) = await store.list_feeds()
        published = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        item = Item("k1", "Tïtle “quoted”", "Summary", "https://a.example.test/1", published, "A")
        poll = PollResult(feed, Outcome.OK, FetchResult(status=200), NOW, (item,), "h")
        await store.record_polls(
            [(poll, Schedule(NOW, None, 0))], timedelta(hours=48), lambda _: []
        )
        (stored,) = await store.items_since(NOW - timedelta(seconds=1))
        assert stored.item == item and stored.first_seen == NOW and stored.reportable is False
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "wirewatch.db") as conn:
        (text,) = conn.execute("select published_at from items").fetchone()
    assert text == "2026-11-20 08:30:00.000000"  # SQLAlchemy's own SQLite format
