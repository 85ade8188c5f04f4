"""Story grouping benchmark: headlines grouped into stories as the window fills, and
routing new matches against storing them.

    python bench/stories.py [--sizes 1000,10000,100000] [--matches 10000]

In one run, side by side:
- grouping: each headline looked up in the story index and added to the story it tells
  (or a new one), as routing does, for 1k, 10k and 100k headlines in the window, of two
  kinds: unique (one story each, differing by one unusual word: the flood of issue #16)
  and near-duplicates (a tenth as many stories, each told ten times with an outlet's
  name, an inflection or a misspelling). Target: 100k take at most 20 times as long as
  10k (linear within 2x). The scan (every story compared, as a quadratic index would)
  at 1k is the reference;
- routing: `--matches` new matches of unique headlines stored through the Store on
  SQLite, then routed (stories, alerts queued) through the Router. Target: routing takes
  at most 5 times as long as storing.

The garbage collector is set as a running bot sets it (`settle_after_startup`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.chat.message import build_alert
from bot.core.collector import settle_after_startup
from bot.core.models import (
    Evidence,
    FeedSpec,
    FeedState,
    FetchResult,
    Item,
    Match,
    Outcome,
    PollResult,
    Schedule,
)
from bot.delivery.outbox import Outbox
from bot.matching.stories import StoryIndex, same_story, title_tokens
from bot.storage.store import Store

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LETTERS = "bcdfghjklmnpqrstvwxz"
OUTLETS = ["", " - Reuters", " | CBC News", " — Nikkei Asia", " | The Globe and Mail"]
POLL_SIZE = 500  # items per stored poll, as a cycle stores a feed's new items
AGE = timedelta(hours=48)  # items published longer ago are not news
CANOLA_MATCH = Match("canola", 3.5, True, (Evidence("canola", "canola", "title", "canola", 100.0),))


def unusual_words(count: int, rng: random.Random) -> list[str]:
    """`count` distinct made-up words of eight consonants, shuffled."""
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choice(LETTERS) for _ in range(8)))
    words = sorted(found)
    rng.shuffle(words)
    return words


def unique_headlines(count: int, rng: random.Random) -> list[str]:
    """Headlines of one story each, differing by one unusual word."""
    return [f"China imposes tariff on Canadian canola {w}" for w in unusual_words(count, rng)]


def near_duplicates(count: int, rng: random.Random) -> list[str]:
    """`count` headlines of count/10 stories, each told ten times as outlets do."""
    stories = unusual_words(max(1, count // 10), rng)
    headlines = []
    for n in range(count):
        word = stories[n * len(stories) // count]
        change = rng.randrange(3)
        if change == 1:
            at = rng.randrange(4, len(word))  # after the first letters, as same_story wants
            word = word[:at] + rng.choice("aeiou") + word[at:]  # a misspelling
        verb, noun = ("imposes", "tariffs") if change == 2 else ("imposed", "tariff")
        headlines.append(f"China {verb} {noun} on Canadian canola {word}{rng.choice(OUTLETS)}")
    window = 200  # each story's retellings arrive close together, not in order
    for start in range(0, count, window):
        part = headlines[start : start + window]
        rng.shuffle(part)
        headlines[start : start + window] = part
    return headlines


def group(headlines: list[str]) -> tuple[float, int, int]:
    """Seconds to group `headlines` in turn, the stories made, and `same_story` calls."""
    index = StoryIndex()
    started = time.perf_counter()
    for n, title in enumerate(headlines):
        seen = T0 + timedelta(seconds=n)
        story = index.find(title, seen)
        index.add(n if story is None else story, title, seen)
    return time.perf_counter() - started, len(index), index.comparisons


def scan(headlines: list[str]) -> float:
    """Seconds to group `headlines` comparing each with every story's headlines."""
    stories: list[list[tuple[str, ...]]] = []
    started = time.perf_counter()
    for title in headlines:
        tokens = title_tokens(title)
        for kept in reversed(stories):
            if any(same_story(tokens, h) for h in kept):
                kept.append(tokens)
                break
        else:
            stories.append([tokens])
    return time.perf_counter() - started


async def route_against_store(workdir: Path, count: int, rng: random.Random) -> dict[str, float]:
    """Store `count` matched items through the Store on SQLite, then route them."""
    store = await Store.open(f"sqlite+aiosqlite:///{workdir / 'route.db'}")
    outbox = Outbox.on(store.engine)
    try:
        feed_url = "https://wire.example.test/rss"
        await store.sync_feeds([FeedSpec(feed_url, "Wire", "config")], T0)
        (feed,) = await store.list_feeds()
        await outbox.subscriptions.subscribe("discord:111111111111111111", "canola", T0)
        calm = Item("calm", "Local bakery wins regional bread award", "", None, T0, "Wire")
        await store.record_polls([poll(feed, T0, [calm], [])], AGE)
        (feed,) = await store.list_feeds()  # polled once: its new items are news now
        titles = unique_headlines(count, rng)
        now = T0 + timedelta(minutes=5)
        started = time.perf_counter()
        for start in range(0, count, POLL_SIZE):
            part = [
                Item(f"n{n}", title, "", f"https://wire.example.test/{n}", now, "Wire")
                for n, title in enumerate(titles[start : start + POLL_SIZE], start)
            ]
            await store.record_polls([poll(feed, now, part, [(CANOLA_MATCH,)] * len(part))], AGE)
        stored = time.perf_counter() - started
        index = StoryIndex()
        started = time.perf_counter()
        routed = await outbox.router.route(index, lambda s: build_alert(s, {}), now)
        routing = time.perf_counter() - started
        assert routed.matches == count and routed.alerts == count and len(index) == count
        return {"store_seconds": stored, "route_seconds": routing}
    finally:
        await store.close()


def poll(
    feed: FeedState, at: datetime, found: Sequence[Item], matches: Sequence[tuple[Match, ...]]
) -> tuple[PollResult, Schedule]:
    """A successful poll of `feed` bringing `found` with `matches` (none: no match)."""
    matched = tuple(matches) if matches else ((),) * len(found)
    result = PollResult(
        feed, Outcome.OK, FetchResult(status=200), at, tuple(found), matches=matched
    )
    return result, Schedule(at, None, 0)


def timed(label: str, headlines: list[str]) -> float:
    """Group `headlines`, print the figures; returns the seconds taken."""
    count = len(headlines)
    seconds, stories, compares = group(headlines)
    print(
        f"  {label:<16} {count:>8,} headlines {seconds:8.2f} s  {count / seconds:>9,.0f}/s"
        f"  {stories:>7,} stories  {compares / count:5.2f} compares each"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--matches", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    settle_after_startup()  # the collector as a running bot has it
    results: dict[str, object] = {}
    print("Grouping headlines into stories (find, then add), one core")
    kinds: dict[str, Callable[[int, random.Random], list[str]]] = {
        "unique": unique_headlines,
        "near-duplicates": near_duplicates,
    }
    for kind, make in kinds.items():
        seconds: dict[int, float] = {}
        for size in sizes:
            seconds[size] = timed(kind, make(size, random.Random(size)))
        results[kind] = seconds
        if 10_000 in seconds and 100_000 in seconds:
            ratio = seconds[100_000] / seconds[10_000]
            verdict = "met" if ratio <= 20 else "NOT met"
            print(f"  {kind}: 100k / 10k = {ratio:.1f}x (target at most 20x): {verdict}")
            results[f"{kind}_ratio"] = ratio
    baseline = unique_headlines(1000, random.Random(1000))
    reference = scan(baseline)
    print(f"  scan of every story (reference), unique, 1,000 headlines: {reference:.2f} s")
    results["scan_1000_seconds"] = reference

    with tempfile.TemporaryDirectory() as tmp:
        routing = asyncio.run(route_against_store(Path(tmp), args.matches, random.Random(7)))
    ratio = routing["route_seconds"] / routing["store_seconds"]
    verdict = "met" if ratio <= 5 else "NOT met"
    print(f"Routing {args.matches:,} new matches of unique headlines, SQLite")
    print(f"  storing (Store.record_polls, {POLL_SIZE} per poll): {routing['store_seconds']:.2f} s")
    print(f"  routing (Router.route: stories, alerts queued): {routing['route_seconds']:.2f} s")
    print(f"  route / store = {ratio:.2f}x (target at most 5x): {verdict}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak memory of the run: {rss:,.0f} MB")
    results["routing"] = routing | {"ratio": ratio}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "stories.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
