"""What a cold poll cycle is made of: each CPU-bound stage alone, on the feed farm's bodies.

    python bench/cold_parts.py [--feeds 1000] [--items 30]

Times, best of three: fastfeedparser alone, our whole parse (fastfeedparser plus the
clean-up into Items) and matching every item, which the parser process does, and the
store stage (de-duplicate, insert every item, update every feed, in batches of 200
polls as the pipeline writes them) on a fresh SQLite file each time, which the bot's
own process does. No network: the bodies are built in memory. Compare with
`bench/poll_cycle.py`'s cold cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastfeedparser
from feedfarm import make_feed

from bot.core.models import FeedSpec, FetchResult, Item, Outcome, PollResult
from bot.feeds.parse import FAST_PARSER_OPTIONS, parse_feed
from bot.feeds.polling import PollPolicy, plan_next
from bot.matching.matcher import Matcher
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files
from bot.service.pipeline import BATCH
from bot.storage.store import Store


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of `runs` timed calls of `work`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


async def store_stage(items: list[tuple[Item, ...]]) -> float:
    """Seconds to record one first poll of every feed, batch by batch, on a fresh file
    (matching left out: it is timed on its own)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{Path(tmp) / 'parts.db'}")
        try:
            now = datetime.now(UTC)
            specs = [
                FeedSpec(f"http://127.0.0.1/feed/{i}.xml", f"farm {i}", "config")
                for i in range(len(items))
            ]
            await store.sync_feeds(specs, now)
            states = await store.due_feeds(now, ignore_schedule=True)
            policy, fetched = PollPolicy(), FetchResult(status=200, body=b"")
            polls = [
                PollResult(
                    state, Outcome.OK, fetched, now, feed_items, matches=((),) * len(feed_items)
                )
                for state, feed_items in zip(states, items, strict=True)
            ]
            started = time.perf_counter()
            for start in range(0, len(polls), BATCH):
                batch = [
                    (p, plan_next(p.feed.url, policy.interval, 0, p.outcome, p.fetch, now, policy))
                    for p in polls[start : start + BATCH]
                ]
                await store.record_polls(batch, timedelta(hours=48))
            return time.perf_counter() - started
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(42)
    bodies = [make_feed(i, args.items, rng) for i in range(args.feeds)]
    urls = [f"http://127.0.0.1/feed/{i}.xml" for i in range(args.feeds)]
    watchlists = [replace(w, sources=()) for w in load_watchlists(watchlist_files(BUNDLED_DIR))]
    matcher = Matcher(watchlists)
    parsed = [parse_feed(body, url, "farm").items for body, url in zip(bodies, urls, strict=True)]
    every_item = [item for feed_items in parsed for item in feed_items]

    fast = best_of(3, lambda: [fastfeedparser.parse(b, **FAST_PARSER_OPTIONS) for b in bodies])
    whole = best_of(
        3, lambda: [parse_feed(b, u, "farm") for b, u in zip(bodies, urls, strict=True)]
    )
    matching = best_of(3, lambda: [matcher.match_item(item) for item in every_item])
    storing = min(asyncio.run(store_stage(parsed)) for _ in range(3))
    print(f"{args.feeds} feeds x {args.items} items ({len(every_item)} items), best of 3")
    print(f"  fastfeedparser alone                 {fast:6.2f} s")
    print(f"  parse (fastfeedparser + clean-up)    {whole:6.2f} s  clean-up {whole - fast:.2f} s")
    print(f"  match every item                     {matching:6.2f} s")
    print(f"  store (dedupe, insert, feed updates) {storing:6.2f} s")
    print(f"  parser process: parse + match        {whole + matching:6.2f} s")
    print(f"  bot process: store                   {storing:6.2f} s  (plus fetching)")


if __name__ == "__main__":
    main()
