"""Poll-cycle benchmark: the bot's cold, warm and unchanged cycles against baselines and floors.

    python bench/poll_cycle.py [--feeds 1000] [--items 30]

One run measures, side by side: the bot's three cycles (cold: everything new; warm:
everything 304; unchanged: 200 with the same bytes and no validators), the naive way
(sequential fetch + feedparser), and the floors (concurrent aiohttp fetches of the same
bytes with no parsing; all-304 fetches). All traffic stays on 127.0.0.1. Ratios, not
absolute times, are the result: the machines are noisy. Each warm or unchanged cycle
is followed at once by its floor, so that both see the same moment of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import aiohttp
import feedparser

from bot.core.config import FeedConfig, PollSettings, Settings
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files
from bot.service.app import open_app

HERE = Path(__file__).resolve().parent
CONCURRENCY = 64


def start_farm(feeds: int, items: int, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = workdir / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "feedfarm.py"),
            str(port_file),
            "--feeds",
            str(feeds),
            "--items",
            str(items),
        ]
    )
    for _ in range(600):
        if port_file.exists() and port_file.read_text():
            return proc, int(port_file.read_text())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("feed farm did not start")


async def set_mode(base: str, mode: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{base}/mode/{mode}") as resp:
        resp.raise_for_status()


async def bot_cycles(
    urls: list[str], workdir: Path, base: str, run: int, repeat: int
) -> dict[str, float]:
    """One cold cycle on an empty database, then `repeat` warm and `repeat` unchanged
    cycles, each followed by its floor, so that bot and floor see the same machine."""
    # the bundled watchlists, without their own search feeds (not part of the farm)
    watchlists = [replace(w, sources=()) for w in load_watchlists(watchlist_files(BUNDLED_DIR))]
    settings = Settings(
        default_feeds=False,
        feeds=[FeedConfig(url=u, name=f"farm {i}") for i, u in enumerate(urls)],
        database_url=f"sqlite+aiosqlite:///{workdir / f'bench-{run}.db'}",
        poll=PollSettings(concurrency=CONCURRENCY, per_host=CONCURRENCY),
    )
    times: dict[str, float] = defaultdict(lambda: float("inf"))
    # deliver=True, no adapters: the bot as `wirewatch run` starts it (parser process
    # running, garbage collector settled), with nowhere to send
    async with open_app(settings, watchlists, {}, deliver=True) as app:
        await set_mode(base, "etag")
        started = time.perf_counter()
        summary = await app.pipeline.run_cycle(ignore_schedule=True)
        times["cold"] = time.perf_counter() - started
        assert len(summary.polls) == len(urls), summary
        times["items"] = await app.store.count_items()
        for mode, cycle, floor in (
            ("etag", "warm", "not_modified"),
            ("plain", "unchanged", "fetch"),
        ):
            await set_mode(base, mode)
            for _ in range(repeat):
                started = time.perf_counter()
                summary = await app.pipeline.run_cycle(ignore_schedule=True)
                times[cycle] = min(times[cycle], time.perf_counter() - started)
                assert summary.count(summary.polls[0].outcome) == len(urls), summary
                times[floor] = min(times[floor], await fetch_floor(urls, etag=mode == "etag"))
        times["parser_rss_mb"] = peak_rss_mb(app.parser.pid if app.parser else None)
    return times


def peak_rss_mb(pid: int | None) -> float:
    """The peak resident memory of a running process (Linux), 0 without one."""
    if pid is None:
        return 0.0
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


async def fetch_floor(urls: list[str], etag: bool) -> float:
    """Concurrent GETs reading whole bodies, no parsing; with If-None-Match for the 304 floor."""
    sem = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int, url: str) -> None:
            headers = {"If-None-Match": f'"farm-{i}-0"'} if etag else {}
            async with sem, session.get(url, headers=headers) as resp:
                await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
        return time.perf_counter() - started


async def naive(urls: list[str]) -> float:
    """The naive bot: fetch one feed after another and hand each body to feedparser."""
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        for url in urls:
            async with session.get(url) as resp:
                feedparser.parse(await resp.read())
        return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs (cold: best of N; warm, unchanged and floors: best of N*N)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        proc, port = start_farm(args.feeds, args.items, workdir)
        base = f"http://127.0.0.1:{port}"
        urls = [f"{base}/feed/{i}.xml" for i in range(args.feeds)]
        try:
            # each run starts from an empty database, so "cold" is cold
            runs = [
                await bot_cycles(urls, workdir, base, run, args.repeat)
                for run in range(args.repeat)
            ]
            best = {key: min(r[key] for r in runs) for key in runs[0]}
            parser_mb = max(r["parser_rss_mb"] for r in runs)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            await set_mode(base, "plain")
            slow = await naive(urls)
        finally:
            proc.terminate()
            proc.wait()
    bot = {key: best[key] for key in ("cold", "warm", "unchanged", "items")}
    fetch, not_modified = best["fetch"], best["not_modified"]
    rows = [
        (
            "bot cold (everything new)",
            bot["cold"],
            f"{slow / bot['cold']:.1f}x faster than naive",
            "target >= 10x",
        ),
        (
            "bot warm (everything 304)",
            bot["warm"],
            f"{bot['warm'] / not_modified:.2f}x the 304 floor",
            "target <= 1.5x",
        ),
        (
            "bot unchanged (200, same bytes)",
            bot["unchanged"],
            f"{bot['unchanged'] / fetch:.2f}x the fetch floor",
            "target <= 1.5x",
        ),
        ("naive: sequential fetch + feedparser", slow, "", ""),
        ("floor: concurrent fetch, no parsing", fetch, "", ""),
        ("floor: concurrent 304s", not_modified, "", ""),
    ]
    print(
        f"{args.feeds} feeds x {args.items} items, {int(bot['items'])} items stored, "
        f"concurrency {CONCURRENCY}, all on 127.0.0.1; cold best of {args.repeat}, warm, "
        f"unchanged and floors best of {args.repeat**2}, interleaved (naive: one run)"
    )
    for name, seconds, ratio, target in rows:
        print(f"  {name:<40} {seconds:7.2f} s  {ratio:<32} {target}")
    print(
        f"  peak RSS: bot process {peak_mb:.0f} MB + parser process {parser_mb:.0f} MB = "
        f"{peak_mb + parser_mb:.0f} MB (target < 200 MB)"
    )
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "poll_cycle.json").write_text(
        json.dumps(
            {
                "bot": bot,
                "naive": slow,
                "fetch_floor": fetch,
                "not_modified_floor": not_modified,
                "peak_rss_mb": peak_mb,
                "parser_peak_rss_mb": parser_mb,
                "feeds": args.feeds,
                "items": args.items,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
