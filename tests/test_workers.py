"""Three `wirewatch run` processes on one PostgreSQL: each feed polled by one worker at a
time, each story delivered once, and a worker killed mid-cycle and another mid-delivery
lose nothing; the repeats are at most the sends that were in flight."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from feedserver import Feed, FeedServer, rss
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from test_end_to_end import offline_watchlists

pytestmark = pytest.mark.slow  # starts whole processes

FEEDS = 300
QUIET = "Regional transit authority approves new bus routes"
# seconds: a feed's claim outlasts any poll of this test, even on a loaded machine; a
# send's claim (and the channel's and router's handover) is short, to see failover soon
FEED_CLAIM, SEND_CLAIM = 20, 6


def headline(n: int) -> str:
    return f"China imposes {n + 10}% tariff on Canadian canola oil in round {n + 1}"


def publish(server: FeedServer, stories: range, delay: float = 0.0) -> None:
    """Every feed serves the quiet item; feed n also story n when n is in `stories`."""
    for n in range(FEEDS):
        entries = (
            [(f"s{n}", headline(n), f"https://news.example.test/s{n}")] if n in stories else []
        )
        body = rss([*entries, ("q", QUIET, f"https://news.example.test/q{n}")])
        server.feeds[f"/f{n}.xml"] = Feed(body)
        if delay:
            server.handlers[f"/f{n}.xml"] = _late(delay, body)
        else:
            server.handlers.pop(f"/f{n}.xml", None)


def _late(delay: float, body: bytes) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        return web.Response(body=body, content_type="application/rss+xml")

    return handler


class Worker:
    """One `wirewatch run` process, the alerts it printed and the last lines it logged."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.alerts: list[str] = []
        self.logged: deque[str] = deque(maxlen=20)
        self.reader = asyncio.gather(self._read_alerts(), self._read_log())

    async def _read_alerts(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("ALERT · "):
                self.alerts.append(line.removeprefix("ALERT · "))

    async def _read_log(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.logged.append(raw.decode(errors="replace").rstrip("\n"))

    def owns(self, owner: str | None) -> bool:
        return owner is not None and f":{self.proc.pid}:" in owner


async def start_worker(cwd: Path, *options: str) -> Worker:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", *options, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return Worker(proc)


async def until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    within: float = 90,
    alive: Sequence[Worker] = (),
) -> None:
    """Wait for `check`, failing at once, with what it logged, if a worker of `alive` ends."""
    deadline = time.monotonic() + within
    while not await check():
        for worker in alive:
            if (ended := worker.proc.returncode) is not None:
                log = "\n".join(worker.logged)
                raise AssertionError(f"a worker ended ({ended}) before {what}; it logged:\n{log}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def scalar(engine: AsyncEngine, sql: str) -> object:
    """The value `sql` selects; None while the workers have not created the tables yet."""
    async with engine.connect() as conn:
        try:
            return (await conn.execute(sa.text(sql))).scalar()
        except sa.exc.ProgrammingError:
            return None


async def make_all_due(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE feeds SET next_poll_at = NULL"))


def alerts(workers: list[Worker]) -> Counter[str]:
    return Counter(a for w in workers for a in w.alerts)


# two kills, each waiting out a claim or a lease, can take longer than the suite's 120 s
# on a loaded machine; the lone survivor finishes the third round in 14 to 22 s here
@pytest.mark.timeout(300)
async def test_three_workers_share_the_feeds_and_send_each_story_once(
    feed_server: FeedServer, postgres_db_url: str, tmp_path: Path
) -> None:
    offline_watchlists(tmp_path / "watchlists")
    feeds = "".join(f"  - url: {feed_server.url(f'/f{n}.xml')}\n" for n in range(FEEDS))
    (tmp_path / "wirewatch.yaml").write_text(
        f"database_url: {postgres_db_url}\n"
        "default_feeds: false\n"
        f"feeds:\n{feeds}"
        "poll:\n"
        "  tick: 1s\n  interval: 30m\n  concurrency: 4\n  per_host: 8\n"
        f"  total_timeout: 3s\n  read_timeout: 2s\n  claim_for: {FEED_CLAIM}s\n"
        "subscriptions:\n  - channel: console\n    watchlists: [canola]\n"
        f"delivery:\n  pacing: {{console: 0.1s}}\n  claim_for: {SEND_CLAIM}s\n"
    )
    publish(feed_server, range(0))
    engine = create_async_engine(postgres_db_url, poolclass=sa.NullPool)
    workers = [await start_worker(tmp_path) for _ in range(3)]  # all three migrate at once
    try:
        # the first cycle records every feed's baseline, each feed polled by one worker
        async def baseline_done() -> bool:
            done = await scalar(
                engine, "SELECT count(*) FROM feeds WHERE first_polled_at IS NOT NULL"
            )
            return done == FEEDS

        await until(baseline_done, "the baseline of every feed", alive=workers)
        assert set(feed_server.hits.values()) == {1} and len(feed_server.hits) == FEEDS

        # all three alive: 60 stories, each polled once more and sent once
        publish(feed_server, range(60), delay=0.05)  # long enough for all three to take part
        await make_all_due(engine)

        async def sent(n: int) -> bool:
            return len(alerts(workers)) >= n

        await until(lambda: sent(60), "60 alerts", alive=workers)
        assert set(feed_server.hits.values()) == {2}
        assert alerts(workers) == Counter(headline(n) for n in range(60))
        polled_by = await scalar(engine, "SELECT count(DISTINCT lease_owner) FROM feeds")
        # the work was shared; which workers' ticks fell inside the cycle is timing, so at
        # least two, not all three
        assert isinstance(polled_by, int) and polled_by >= 2

        # a worker killed while it holds feeds, another while it sends: 90 stories more
        publish(feed_server, range(60, 150), delay=0.25)
        await make_all_due(engine)
        holding: list[Worker] = []

        async def a_worker_claimed() -> bool:
            async with engine.connect() as conn:
                owners = list(
                    (
                        await conn.execute(
                            sa.text("SELECT lease_owner FROM feeds WHERE lease_until IS NOT NULL")
                        )
                    ).scalars()
                )
            holding[:] = [w for w in workers if any(w.owns(o) for o in owners)]
            return bool(holding)

        await until(a_worker_claimed, "a worker to claim feeds of the third round", alive=workers)
        victim = holding[0]
        victim.proc.send_signal(signal.SIGKILL)
        survivors = [w for w in workers if w is not victim]

        async def sender_busy() -> tuple[Worker | None, int]:
            owner = await scalar(engine, "SELECT owner FROM leases WHERE name = 'channel:console'")
            holder = next((w for w in survivors if w.owns(str(owner))), None)
            return holder, len(alerts(workers))

        async def a_sender_sent_some() -> bool:
            holder, count = await sender_busy()
            return holder is not None and count >= 70

        await until(a_sender_sent_some, "alerts of the third round", alive=survivors)
        sender, _ = await sender_busy()
        assert sender is not None
        sender.proc.send_signal(signal.SIGKILL)
        alone = [w for w in survivors if w is not sender]

        await until(lambda: sent(150), "every story of the third round", alive=alone)
        await asyncio.sleep(SEND_CLAIM + 2)  # a send left in flight would be made again by now
    finally:
        for worker in workers:
            if worker.proc.returncode is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in workers:
            await asyncio.wait_for(worker.proc.wait(), 30)
            await worker.reader
        await engine.dispose()

    got = alerts(workers)
    assert set(got) == {headline(n) for n in range(150)}  # nothing lost
    repeated = sum(n - 1 for n in got.values())
    assert repeated <= 2  # the one send in flight of each killed worker, at most
    unpolled = [f"/f{n}.xml" for n in range(FEEDS) if feed_server.hits[f"/f{n}.xml"] < 3]
    assert unpolled == []  # the killed worker's feeds were polled by another


async def test_a_poller_only_polls_and_a_deliverer_only_delivers(
    feed_server: FeedServer, postgres_db_url: str, tmp_path: Path
) -> None:
    offline_watchlists(tmp_path / "watchlists")
    feeds = "".join(f"  - url: {feed_server.url(f'/f{n}.xml')}\n" for n in range(3))
    (tmp_path / "wirewatch.yaml").write_text(
        f"database_url: {postgres_db_url}\ndefault_feeds: false\nfeeds:\n{feeds}"
        "poll:\n  tick: 1s\n"
        "subscriptions:\n  - channel: console\n    watchlists: [canola]\n"
    )
    publish(feed_server, range(0))
    engine = create_async_engine(postgres_db_url, poolclass=sa.NullPool)
    deliverer = await start_worker(tmp_path, "--role", "deliverer")
    poller: Worker | None = None
    try:
        await until(lambda: scalar_is(engine, "SELECT count(*) FROM feeds", 3), "the schema")
        await asyncio.sleep(2)  # a deliverer's ticks come and go: it polls nothing
        assert sum(feed_server.hits.values()) == 0
        poller = await start_worker(tmp_path, "--role", "poller")
        query = "SELECT count(*) FROM feeds WHERE first_polled_at IS NOT NULL"
        await until(lambda: scalar_is(engine, query, 3), "the baseline")
        publish(feed_server, range(1))
        await make_all_due(engine)
        await until(lambda: sent_by(deliverer, 1), "the alert")
    finally:
        for worker in (deliverer, poller):
            if worker is not None:
                worker.proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(worker.proc.wait(), 30)
                await worker.reader
        await engine.dispose()
    assert deliverer.alerts == [headline(0)]
    assert poller is not None and poller.alerts == []  # the poller sent nothing


async def scalar_is(engine: AsyncEngine, sql: str, expected: object) -> bool:
    return await scalar(engine, sql) == expected


async def sent_by(worker: Worker, n: int) -> bool:
    return len(worker.alerts) >= n
