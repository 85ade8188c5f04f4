"""`wirewatch migrate-db`: an installation moves to another database (SQLite to SQLite
always, SQLite to PostgreSQL when a server is configured) with its history, subscriptions
and outbox, and the moved installation carries on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.chat.message import build_alert
from bot.cli.main import main
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
from bot.storage.schema import metadata, seen_keys
from bot.storage.store import Store, open_engine

T0 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
CHANNEL = "discord:111111111111111111"
CANOLA = "China imposes 100% tariff on Canadian canola oil"


@pytest.fixture(autouse=True)
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wirewatch` reads ./wirewatch.yaml if present: run in an empty folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def source(tmp_path: Path) -> str:
    """A SQLite installation with some history (plain URL, as a user would type it)."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    await populate(url)
    return url


async def populate(url: str) -> None:
    """Two feeds polled twice, a canola story routed and alerted (the alert sent), a
    calm item, an alert and a digest subscription, and a digest still pending."""
    store = await Store.open(url)
    outbox = Outbox.on(store.engine)
    try:
        await store.sync_feeds(
            [
                FeedSpec("https://a.example.test/rss", "Outlet A", "config"),
                FeedSpec("https://b.example.test/rss", "Outlet B", "config"),
            ],
            T0,
        )
        await poll_every_feed(store, T0, "calm")  # the first poll reports nothing
        await outbox.subscriptions.subscribe(CHANNEL, "canola", T0)
        digest = await outbox.subscriptions.subscribe(CHANNEL, "canola", T0, digest="0 8 * * *")
        later = T0 + timedelta(minutes=15)
        await poll_every_feed(store, later, CANOLA)
        await outbox.router.route(StoryIndex(), lambda story: build_alert(story, {}), later)
        (alert,) = await outbox.queue.deliveries_of("alert")
        claimed = await outbox.queue.claim(alert.id, later)
        assert claimed is not None and claimed.first_attempt_at == later
        await outbox.queue.mark_sent(alert, "message-1", later)
        await outbox.digests.queue_now(digest.id, later)
        async with store.engine.begin() as conn:  # the key of an item retention pruned
            feed_id = (await store.list_feeds())[0].id
            row = {"feed_id": feed_id, "key": "old", "url": "https://a.example.test/old",
                   "seen_at": later}  # fmt: skip
            await conn.execute(seen_keys.insert().values(row))
    finally:
        await store.close()


async def poll_every_feed(store: Store, at: datetime, title: str) -> None:
    """One successful poll of each feed, each bringing one item titled `title`."""
    polls = []
    for feed in await store.list_feeds():
        slug = feed.url.split("/")[2]
        item = Item(f"{slug}-{title}", title, "", f"https://{slug}/{abs(hash(title))}", at, slug)
        poll = PollResult(
            feed, Outcome.OK, FetchResult(status=200), at, (item,), title,
            matches=(match_canola(item),),
        )  # fmt: skip
        polls.append((poll, Schedule(at, None, 0)))
    await store.record_polls(polls, timedelta(hours=48))


def match_canola(item: Item) -> tuple[Match, ...]:
    if "canola" not in item.title:
        return ()
    return (Match("canola", 9.0, True, (Evidence("canola", "canola", "title", "canola", 100),)),)


async def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the schema, as SQLAlchemy reads it, in key order."""
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: [
                    dict(row._mapping)
                    for row in await conn.execute(
                        sa.select(table).order_by(*(table.primary_key.columns or table.c))
                    )
                ]
                for table in metadata.sorted_tables
            }
    finally:
        await engine.dispose()


def plain(url: str) -> str:
    """The URL without its async driver, as a user would give it."""
    parsed = make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=False)


async def migrate_db(*args: str) -> int:
    return await asyncio.to_thread(main, ["migrate-db", *args])


async def test_every_table_moves_and_the_installation_carries_on(
    source: str, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await snapshot(source)
    assert await migrate_db("--from", source, "--to", plain(db_url)) == 0
    out, err = capsys.readouterr()
    assert await snapshot(db_url) == before
    assert all(before[name] for name in ("items", "matches", "stories", "deliveries", "seen_keys"))
    assert "items: 4/4" in err and "deliveries: 2/2" in err
    assert "copied 14 rows in 7 tables" in out

    store = await Store.open(db_url)
    outbox = Outbox.on(store.engine)
    try:
        (pending,) = await outbox.queue.due(T0 + timedelta(hours=1))
        await store.sync_feeds([FeedSpec("https://c.example.test/rss", "Outlet C", "config")], T0)
        new_feed = next(f for f in await store.list_feeds() if f.name == "Outlet C")
        sub = await outbox.subscriptions.subscribe(CHANNEL, "taiwan-strait", T0)
        (alert,) = await outbox.queue.deliveries_of("alert")
    finally:
        await store.close()
    assert pending.kind == "digest" and pending.state is DeliveryState.PENDING
    assert alert.state is DeliveryState.SENT and alert.message_id == "message-1"
    assert new_feed.id == 3 and sub.id == 3  # ids continue after the copied ones


async def test_a_target_with_data_is_refused_unless_forced(
    source: str, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = await Store.open(db_url)
    try:
        await store.sync_feeds([FeedSpec("https://z.example.test/rss", "Z", "config")], T0)
    finally:
        await store.close()
    assert await migrate_db("--from", source, "--to", db_url) == 2
    _, err = capsys.readouterr()
    assert "holds data already (rows in feeds: 1)" in err and "--force" in err
    assert "Traceback" not in err
    assert [f["name"] for f in (await snapshot(db_url))["feeds"]] == ["Z"]

    assert await migrate_db("--from", source, "--to", db_url, "--force") == 0
    assert await snapshot(db_url) == await snapshot(source)


async def test_bad_arguments_exit_2_and_an_unreachable_server_1(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    cases = [
        (["--to", "mysql://u:p@127.0.0.1/w"], 2, "unsupported database URL scheme 'mysql'"),
        (["--to", source.replace("sqlite:", "sqlite+aiosqlite:")], 2, "the same database"),
        (["--from", f"sqlite:///{tmp_path / 'missing.db'}"], 2, "no SQLite database at"),
        (["--from", f"sqlite:///{empty}"], 2, "not a wirewatch database"),
        (["--to", "postgresql://u:secret@127.0.0.1:1/w"], 1, "target postgresql://u:***@"),
    ]
    for args, code, message in cases:
        given = dict(zip(args[::2], args[1::2], strict=True))
        argv = ["--from", given.get("--from", source), "--to", given.get("--to", "sqlite:///t.db")]
        assert await migrate_db(*argv) == code, args
        _, err = capsys.readouterr()
        assert message in err and "Traceback" not in err and "secret" not in err, err
    assert not (tmp_path / "missing.db").exists()
