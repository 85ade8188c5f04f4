"""Growth benchmark: poll cycles against a database holding millions of items, and the
items table over a simulated year of retention.

    python bench/growth.py [--quick] [--levels 0,1000000,5000000] [--postgres URL]
                           [--backends sqlite,postgresql] [--no-year]

For each level, a fresh database is filled by bulk insert (executemany on SQLite, COPY
on PostgreSQL) with that many old items, spread over the farm's feeds and a thousand
others, one in a hundred matched and grouped into a story. Then a bot per level (all
open at once) polls a loopback farm (bench/feedfarm.py): a cold cycle (every farm
feed's first poll), warm cycles (every feed 304), unchanged cycles (200, the same
bytes), changed cycles (every feed has one new item: the per-feed de-duplication
against everything stored), and the routing of each changed cycle's matches into
stories; each round runs every level's cycle in turn. The result is each cycle's
median at a level over the same cycle's at 0 items in the same run, and the database's
size.

The year: a feed set gains items every simulated day (the clock injected), a body
carrying each feed's last 30, and retention prunes daily; the items table's and the
seen keys' row counts are reported every 30 days, against the items without retention.

PostgreSQL runs when --postgres or $WIREWATCH_TEST_POSTGRES_URL names a server whose
role may create databases (each level gets a database of its own, dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from poll_cycle import CONCURRENCY, set_mode, start_farm
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.config import FeedConfig, PollSettings, RetentionSettings, Settings
from bot.core.models import FeedSpec, FetchResult, Item, Outcome, PollResult, Schedule
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files
from bot.service.app import open_app
from bot.storage.retention import Pruner, RetentionPolicy
from bot.storage.schema import seen_keys
from bot.storage.store import Store

HERE = Path(__file__).resolve().parent
NOW = datetime.now(UTC).replace(microsecond=0)
FILLER_FEEDS = 1000
FILL_CHUNK = 50_000
SUMMARY = "Officials said the ministry would publish the full statement next week. " * 4
CYCLES = ("cold", "warm", "unchanged", "changed", "routing")


# --- filling a database by bulk insert -------------------------------------------------


def filler_rows(count: int, feed_ids: list[int], first_id: int) -> Iterator[tuple[Any, ...]]:
    """`count` old items (id, feed, key, url, title, summary, source, published, first
    seen, reportable), first seen over the past year, oldest first."""
    span = 365 * 86400
    for n in range(count):
        feed = feed_ids[n % len(feed_ids)]
        scatter = (n * 2654435761) % (1 << 32)
        seen = NOW - timedelta(days=1, seconds=span - span * n // max(count, 1))
        yield (
            first_id + n, feed, f"fill-{feed}-{n}",
            f"https://outlet{scatter % 997}.example.test/news/{scatter:08x}/{n}",
            f"Filler headline number {n} about trade and markets", SUMMARY, "Filler",
            seen, seen, False,
        )  # fmt: skip


async def fill(url: str, count: int) -> None:
    """Add filler feeds and `count` items (one in a hundred matched, in a story of its
    own) to the migrated database at `url`, by executemany (SQLite) or COPY."""
    store = await Store.open(url)
    try:
        async with store.engine.begin() as conn:
            farm = list((await conn.execute(sa.text("SELECT id FROM feeds"))).scalars())
            sqlite_file = conn.dialect.name == "sqlite"
            at: Any = _sqlite_time(NOW) if sqlite_file else NOW.replace(tzinfo=None)
            await conn.execute(
                sa.text(
                    "INSERT INTO feeds (url, name, origin, verified, active, "
                    "consecutive_failures, items_seen, created_at) VALUES "
                    "(:url, :name, 'opml', true, false, 0, 0, :at)"
                ),
                [
                    {"url": f"https://filler{n}.example.test/rss", "name": f"f{n}", "at": at}
                    for n in range(FILLER_FEEDS)
                ],
            )
            feed_ids = list((await conn.execute(sa.text("SELECT id FROM feeds"))).scalars())
        assert farm and len(feed_ids) == len(farm) + FILLER_FEEDS
    finally:
        await store.close()
    if count == 0:
        return
    if make_url(url).get_backend_name() == "sqlite":
        _fill_sqlite(make_url(url).database or "", count, feed_ids)
    else:
        await _fill_postgres(url, count, feed_ids)


def _sqlite_time(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")[:26]


def _fill_sqlite(path: str, count: int, feed_ids: list[int]) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        # the URL index is filled in random order: a page cache the size of the indexes
        # keeps a fill of millions to minutes (the file is as a bot's inserts leave it)
        conn.execute("PRAGMA cache_size=-1000000")
        rows = filler_rows(count, feed_ids, 1)
        while chunk_rows := list(itertools.islice(rows, FILL_CHUNK)):
            conn.executemany(
                "INSERT INTO items (id, feed_id, key, url, title, summary, source, "
                "published_at, first_seen, reportable) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(*r[:7], _sqlite_time(r[7]), _sqlite_time(r[8]), r[9]) for r in chunk_rows],
            )
            matched = [r for r in chunk_rows if r[0] % 100 == 0]
            conn.executemany(
                "INSERT INTO stories (id, title, first_seen) VALUES (?,?,?)",
                [(r[0] // 100, r[4], _sqlite_time(r[8])) for r in matched],
            )
            conn.executemany(
                "INSERT INTO matches (item_id, watchlist, score, alert, evidence, reported, "
                "matched_at, routed_at) VALUES (?, 'canola', 5.0, 0, '[]', 0, ?, ?)",
                [(r[0], _sqlite_time(r[8]), _sqlite_time(r[8])) for r in matched],
            )
            conn.executemany(
                "UPDATE items SET story_id = ? WHERE id = ?", [(r[0] // 100, r[0]) for r in matched]
            )
            conn.commit()
    finally:
        conn.close()


async def _fill_postgres(url: str, count: int, feed_ids: list[int]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            rows = filler_rows(count, feed_ids, 1)
            while chunk := list(itertools.islice(rows, FILL_CHUNK)):
                naive = [(*r[:7], r[7].replace(tzinfo=None), r[8].replace(tzinfo=None), r[9])
                         for r in chunk]  # fmt: skip
                matched = [r for r in naive if r[0] % 100 == 0]
                await raw.copy_records_to_table(
                    "stories", records=[(r[0] // 100, r[4], r[8]) for r in matched],
                    columns=["id", "title", "first_seen"],
                )  # fmt: skip
                await raw.copy_records_to_table(
                    "items",
                    records=[(*r, r[0] // 100 if r[0] % 100 == 0 else None) for r in naive],
                    columns=["id", "feed_id", "key", "url", "title", "summary", "source",
                             "published_at", "first_seen", "reportable", "story_id"],
                )  # fmt: skip
                await raw.copy_records_to_table(
                    "matches",
                    records=[(r[0], "canola", 5.0, False, "[]", False, r[8], r[8])
                             for r in matched],
                    columns=["item_id", "watchlist", "score", "alert", "evidence", "reported",
                             "matched_at", "routed_at"],
                )  # fmt: skip
            for table in ("items", "stories", "matches"):
                await raw.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            # as a settled database is, autovacuum done (our tables: the role owns no others)
            await raw.execute("VACUUM ANALYZE feeds, items, stories, matches")
    finally:
        await engine.dispose()


# --- databases ---------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(
    kind: str, workdir: Path, name: str, server: str | None
) -> AsyncIterator[str]:
    """A new, empty database's URL: a SQLite file, or a database on the PostgreSQL server."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'{name}.db'}"
        return
    assert server is not None
    base = make_url(server).set(drivername="postgresql+asyncpg")
    db = f"wirewatch_growth_{os.getpid()}_{name}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            await conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
        try:
            yield base.set(database=db).render_as_string(hide_password=False)
        finally:
            await drop_database(admin, db)
    finally:
        await admin.dispose()


async def drop_database(admin: Any, name: str) -> None:
    """Drop a benchmark database; an autovacuum worker still in it (which our role may
    not end) is waited for a while, and a database left behind is named."""
    for _ in range(30):
        try:
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except sa.exc.DBAPIError:
            await asyncio.sleep(1.0)
    print(f"could not drop the database {name}: drop it by hand", file=sys.stderr)


async def database_bytes(url: str) -> int:
    """The database's size on disk (SQLite: the file and its WAL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    engine = create_async_engine(url, poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            size = await conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
            return int(size or 0)
    finally:
        await engine.dispose()


# --- the cycles, every level in turn -----------------------------------------------------


async def run_levels(
    backend: str, levels: list[int], workdir: Path, server: str | None, args: Any
) -> dict[int, dict[str, float]]:
    """Fill a database per level, then time each cycle at every level in turn (the
    median of `args.repeat`): each round runs the levels one after the other, starting
    with a different level each round, so that a slower minute of the machine falls on
    every level alike rather than on the last one filled."""
    proc, port = start_farm(args.feeds, args.items, workdir)  # a farm at its first generation
    base = f"http://127.0.0.1:{port}"
    urls = [f"{base}/feed/{i}.xml" for i in range(args.feeds)]
    watchlists = [replace(w, sources=()) for w in load_watchlists(watchlist_files(BUNDLED_DIR))]
    times: dict[int, dict[str, list[float]]] = {n: {c: [] for c in CYCLES} for n in levels}
    result: dict[int, dict[str, float]] = {n: {} for n in levels}
    clock = [NOW]
    try:
        async with AsyncExitStack() as databases, AsyncExitStack() as running:
            apps, db_urls = {}, {}
            for level in levels:
                url = await databases.enter_async_context(
                    fresh_database(backend, workdir, f"l{level}", server)
                )
                db_urls[level] = url
                print(f"{backend}: filling {level:,} items…", file=sys.stderr, flush=True)
                store = await Store.open(url)  # the farm's feeds first, the filler over them
                specs = [FeedSpec(u, f"farm {i}", "config") for i, u in enumerate(urls)]
                await store.sync_feeds(specs, NOW)
                await store.close()
                started = time.perf_counter()
                await fill(url, level)
                result[level]["fill_s"] = time.perf_counter() - started
                settings = Settings(
                    default_feeds=False,
                    feeds=[FeedConfig(url=u, name=f"farm {i}") for i, u in enumerate(urls)],
                    database_url=url,
                    poll=PollSettings(concurrency=CONCURRENCY, per_host=CONCURRENCY),
                    retention=RetentionSettings(enabled=False),
                )
                apps[level] = await running.enter_async_context(
                    open_app(settings, watchlists, {}, clock=lambda: clock[0], deliver=True)
                )
            print(f"{backend}: cycles…", file=sys.stderr, flush=True)
            await set_mode(base, "etag")
            for level in levels:
                started = time.perf_counter()
                summary = await apps[level].pipeline.run_cycle(ignore_schedule=True)
                times[level]["cold"].append(time.perf_counter() - started)
                assert len(summary.polls) == len(urls), summary
            for mode, cycle in (("etag", "warm"), ("plain", "unchanged"), ("etag", "changed")):
                await set_mode(base, mode)
                for round_ in range(args.repeat):
                    if cycle == "changed":
                        await advance(base)
                    clock[0] += timedelta(minutes=15)
                    turn = round_ % len(levels)
                    for level in levels[turn:] + levels[:turn]:
                        app = apps[level]
                        started = time.perf_counter()
                        summary = await app.pipeline.run_cycle(ignore_schedule=True)
                        times[level][cycle].append(time.perf_counter() - started)
                        if cycle == "changed":
                            assert summary.new_items == len(urls), summary.new_items
                            started = time.perf_counter()
                            await app.dispatcher.tick(route_all=True)
                            times[level]["routing"].append(time.perf_counter() - started)
            for level in levels:
                result[level] |= {c: statistics.median(t) for c, t in times[level].items()}
                result[level]["items"] = await apps[level].store.count_items()
            await running.aclose()  # the bots stopped: the files as they leave them
            for level in levels:
                result[level]["bytes"] = await database_bytes(db_urls[level])
    finally:
        proc.terminate()
        proc.wait()
        (workdir / "port").unlink(missing_ok=True)
    return result


async def advance(base: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{base}/advance") as resp:
        resp.raise_for_status()


# --- a simulated year of retention -----------------------------------------------------


async def simulated_year(url: str, feeds: int, per_day: int) -> list[tuple[int, int, int, int]]:
    """(day, items stored with retention, seen keys stored, items a store without
    retention would hold), every 30 days and on the last: `feeds` feeds, each with
    `per_day` new items a day and a body of its last 30, polled every six hours, pruned
    once a day."""
    store = await Store.open(url)
    pruner = Pruner(store.engine, RetentionPolicy())
    start = NOW - timedelta(days=365)
    await store.sync_feeds(
        [FeedSpec(f"https://y{n}.test/rss", f"y{n}", "config") for n in range(feeds)], start
    )
    written = 0
    counts: list[tuple[int, int, int, int]] = []
    try:
        for day in range(366):
            for quarter in range(4):
                at = start + timedelta(days=day, hours=6 * quarter)
                made = day * per_day + (quarter + 1) * per_day // 4
                polls = []
                for feed in await store.list_feeds(active_only=True):
                    carried = tuple(
                        Item(f"{feed.id}-{k}", f"Daily item {k} of feed {feed.id}", SUMMARY,
                             f"https://y.test/{feed.id}/{k}", at, "Y")
                        for k in range(max(0, made - 30), made)
                    )  # fmt: skip
                    polls.append((
                        PollResult(feed, Outcome.OK, FetchResult(status=200), at, carried, "b",
                                   matches=((),) * len(carried)),
                        Schedule(at, None, 0),
                    ))  # fmt: skip
                await store.record_polls(polls, timedelta(hours=48))
            written = (day + 1) * per_day * feeds
            await pruner.prune(start + timedelta(days=day, hours=23))
            if day % 30 == 0 or day == 365:
                async with store.engine.connect() as conn:
                    keys = await conn.scalar(sa.select(sa.func.count()).select_from(seen_keys))
                counts.append((day, await store.count_items(), int(keys or 0), written))
    finally:
        await store.close()
    return counts


# --- main -----------------------------------------------------------------------------------


def report(backend: str, results: dict[int, dict[str, float]]) -> list[str]:
    base = results[0]
    lines = [f"{backend}: median of each cycle; ratio against the same cycle at 0 items"]
    lines.append(f"  {'stored items':>14} {'db size':>10} " + " ".join(f"{c:>17}" for c in CYCLES))
    for level, r in results.items():
        cells = " ".join(f"{r[c]:7.3f}s ({r[c] / base[c]:4.2f}x)" for c in CYCLES)
        lines.append(f"  {level:>14,} {r['bytes'] / 1e6:>8.0f}MB {cells}")
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="levels 0, 100k, 500k; a short year")
    parser.add_argument("--levels", help="comma-separated stored-item levels (default 0,1M,5M)")
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--postgres", default=os.environ.get("WIREWATCH_TEST_POSTGRES_URL"))
    parser.add_argument("--no-year", action="store_true", help="skip the simulated year")
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="of sqlite,postgresql; '' for none"
    )
    args = parser.parse_args()
    default = "0,100000,500000" if args.quick else "0,1000000,5000000"
    levels = [int(n) for n in (args.levels or default).split(",")]
    assert levels[0] == 0, "the first level is the baseline: 0"
    asked = args.backends.split(",")
    backends = [b for b in ("sqlite", "postgresql") if b in asked]
    if "postgresql" in backends and not args.postgres:
        backends.remove("postgresql")
        print("PostgreSQL skipped: no --postgres URL", file=sys.stderr)
    lines: list[str] = []
    output: dict[str, Any] = {"feeds": args.feeds, "items_per_feed": args.items}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for backend in backends:
            results = await run_levels(backend, levels, workdir, args.postgres, args)
            for level, figures in results.items():
                print(f"  {backend} {level:,}: {figures}", file=sys.stderr, flush=True)
            lines += report(backend, results)
            output[backend] = results
        if not args.no_year:
            feeds, per_day = (20, 50) if args.quick else (50, 100)
            async with fresh_database("sqlite", workdir, "year", None) as url:
                year = await simulated_year(url, feeds, per_day)
            output["year"] = year
            lines.append(
                f"a simulated year, SQLite: {feeds} feeds x {per_day} new items a day, "
                "retention at its defaults (items: 90d), pruned daily"
            )
            lines += [f"  day {d:>3}: {kept:>9,} items and {keys:>7,} seen keys stored "
                      f"({total:,} items without retention)"
                      for d, kept, keys, total in year]  # fmt: skip
    print(f"{args.feeds} feeds x {args.items} items on 127.0.0.1, {args.repeat} cycles each")
    print("\n".join(lines))
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "growth.json").write_text(json.dumps(output, indent=2, default=str))


if __name__ == "__main__":
    asyncio.run(main())
