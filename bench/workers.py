"""Several workers on one PostgreSQL: throughput of one `wirewatch run` against three, and
what claiming feeds costs per feed.

    python bench/workers.py [--feeds 10000] [--postgres URL] [--rounds 2]

The PostgreSQL server comes from `--postgres` or `$WIREWATCH_TEST_POSTGRES_URL` (a role
that may create databases); the benchmark creates a database of its own and drops it.
Feeds are served by `bench/feedfarm.py` on 127.0.0.1, answering 304 to the bot's
conditional requests (a warm cycle), so the bots' own work is what is measured.

- Claims: in one process, claiming every due feed in batches of 128 (what each worker
  of several does), against reading them all at once (what a lone worker did before
  claims): microseconds per feed, same run.
- Throughput: every feed made due at once, then the time until every one is polled and
  stored again, with one worker running and with three; feeds per second. On a machine
  with fewer cores than workers this shows the cost of sharing, not a speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml
from poll_cycle import set_mode, start_farm
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.core.clock import utcnow
from bot.matching.watchlists import BUNDLED_DIR, watchlist_files
from bot.storage.store import Store

CLAIM_BATCH = 128  # 2 x poll.concurrency below


async def create_database(server_url: str) -> str:
    """A new empty database on the server; its URL."""
    server = make_url(server_url).set(drivername="postgresql+asyncpg")
    name = f"wirewatch_bench_{os.getpid()}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_async_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    await admin.dispose()


def write_config(workdir: Path, urls: list[str], database_url: str) -> None:
    """A config of the farm's feeds, the bundled watchlists without their search feeds,
    and nowhere to deliver."""
    folder = workdir / "watchlists"
    folder.mkdir()
    for path in watchlist_files(BUNDLED_DIR):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data.pop("sources", None)
        (folder / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    feeds = "".join(f"  - url: {u}\n" for u in urls)
    (workdir / "wirewatch.yaml").write_text(
        f"database_url: {database_url}\ndefault_feeds: false\nbundled_watchlists: false\n"
        f"feeds:\n{feeds}"
        "poll:\n  tick: 1s\n  interval: 12h\n  concurrency: 64\n  per_host: 64\n",
        encoding="utf-8",
    )


async def count(engine: AsyncEngine, sql: str) -> int:
    """The number `sql` counts; -1 while the workers have not created the tables yet."""
    async with engine.connect() as conn:
        try:
            return int((await conn.execute(sa.text(sql))).scalar() or 0)
        except sa.exc.ProgrammingError:
            return -1


async def make_due(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE feeds SET next_poll_at = NULL"))


async def wait_for_count(engine: AsyncEngine, sql: str, done: Callable[[int], bool]) -> None:
    """Return once the number `sql` counts satisfies `done` (asked every 50 ms)."""
    while True:
        if done(await count(engine, sql)):
            return
        await asyncio.sleep(0.05)


async def until_polled(engine: AsyncEngine, since: float) -> float:
    """Seconds from `since` until no feed is due any more (each was polled and stored)."""
    due = "SELECT count(*) FROM feeds WHERE next_poll_at IS NULL"
    await wait_for_count(engine, due, lambda n: n == 0)
    return time.perf_counter() - since


def start_workers(n: int, workdir: Path) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(60)


async def claim_costs(url: str, feeds: int) -> tuple[float, float]:
    """Microseconds per feed: claiming every due feed in batches, and reading them all."""
    store = await Store.open(url)
    try:
        await make_due(store.engine)
        started = time.perf_counter()
        await store.due_feeds(utcnow())
        read = time.perf_counter() - started
        started = time.perf_counter()
        claimed = 0
        while batch := await store.claim_due_feeds(
            utcnow(), "bench", timedelta(minutes=5), limit=CLAIM_BATCH
        ):
            claimed += len(batch)
        claims = time.perf_counter() - started
        assert claimed == feeds, claimed
        await store.release_feeds("bench")
    finally:
        await store.close()
    return claims / feeds * 1e6, read / feeds * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("WIREWATCH_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("bench/workers.py needs --postgres URL or $WIREWATCH_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        farm, port = start_farm(args.feeds, 10, workdir)
        base = f"http://127.0.0.1:{port}"
        url = await create_database(args.postgres)
        engine = create_async_engine(url, poolclass=sa.NullPool)
        try:
            await set_mode(base, "etag")
            write_config(workdir, [f"{base}/feed/{i}.xml" for i in range(args.feeds)], url)
            print(f"{args.feeds:,} feeds; the first poll of each (the baseline) ...", flush=True)
            started = time.perf_counter()
            procs = start_workers(1, workdir)
            baseline = "SELECT count(*) FROM feeds WHERE first_polled_at IS NOT NULL"
            await wait_for_count(engine, baseline, lambda n: n == args.feeds)
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
            stop_workers(procs)

            claims, read = await claim_costs(url, args.feeds)
            print(f"claims: {claims:.1f} µs a feed in batches of {CLAIM_BATCH}, "
                  f"against {read:.1f} µs reading them all at once")  # fmt: skip

            results: dict[int, list[float]] = {1: [], 3: []}
            for _ in range(args.rounds):
                for workers in (1, 3):
                    procs = start_workers(workers, workdir)
                    try:
                        await asyncio.sleep(6)  # started, their first (empty) cycles done
                        await make_due(engine)
                        results[workers].append(await until_polled(engine, time.perf_counter()))
                    finally:
                        stop_workers(procs)
            for workers, times in results.items():
                best = min(times)
                print(
                    f"{workers} worker{'s' if workers > 1 else ''}: every feed polled (304) in "
                    f"{best:.2f} s (median {statistics.median(times):.2f} s), "
                    f"{args.feeds / best:,.0f} feeds/s"
                )
            ratio = min(results[3]) / min(results[1])
            print(f"three workers take {ratio:.2f}x the time of one on {os.cpu_count()} cores")
        finally:
            await engine.dispose()
            await drop_database(url)
            farm.terminate()
            farm.wait()


if __name__ == "__main__":
    asyncio.run(main())
