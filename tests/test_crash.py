"""kill -9 in the middle of a delivery burst: nothing lost, nothing sent twice but the one
delivery that was in flight (the documented window), after a restart on the same file."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest
from feedserver import Feed, FeedServer, rss
from test_end_to_end import offline_watchlists, wirewatch

pytestmark = pytest.mark.slow  # starts whole processes

STORIES = 24
QUIET = "Regional transit authority approves new bus routes"


def headline(n: int) -> str:
    return f"China imposes {n + 10}% tariff on Canadian canola oil in round {n + 1}"


async def test_sigkill_mid_burst_loses_nothing_and_repeats_at_most_the_one_in_flight(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text(
        "default_feeds: false\n"
        "feeds:\n"
        f"  - url: {feed_server.url('/wire.xml')}\n"
        "    name: Test Wire\n"
        "subscriptions:\n"
        "  - channel: console\n"
        "    watchlists: [canola]\n"
        "delivery:\n"
        "  pacing: {console: 0.15s}\n"
    )
    feed_server.feeds["/wire.xml"] = Feed(rss([("q", QUIET, "https://news.example.test/q")]))
    code, _, err = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0, err
    feed_server.feeds["/wire.xml"] = Feed(
        rss(
            [(f"s{n}", headline(n), f"https://news.example.test/s{n}") for n in range(STORIES)]
            + [("q", QUIET, "https://news.example.test/q")]
        )
    )

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--once", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    first: list[str] = []
    try:
        while len(first) < STORIES // 3:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "the bot exited before the burst"
            if line.startswith("ALERT · "):
                first.append(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        first += [
            line
            for line in (await proc.stdout.read()).decode().splitlines(keepends=True)
            if line.startswith("ALERT · ")
        ]
        await proc.wait()

    with sqlite3.connect(tmp_path / "data" / "wirewatch.db") as db:
        states = Counter(s for (s,) in db.execute("SELECT state FROM deliveries"))
        in_flight = {
            t for (t,) in db.execute(
                "SELECT s.title FROM deliveries d JOIN stories s ON s.id = d.story_id "
                "WHERE d.state = 'sending'"
            )
        }  # fmt: skip
    assert states["pending"] > 0, "the kill came after the burst; nothing was tested"
    assert states["sending"] <= 1 and sum(states.values()) == STORIES

    code, out, err = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0, err
    second = [line for line in out.splitlines(keepends=True) if line.startswith("ALERT · ")]
    seen = Counter(line.removeprefix("ALERT · ").strip() for line in first + second)
    assert set(seen) == {headline(n) for n in range(STORIES)}  # nothing lost
    repeated = {title for title, n in seen.items() if n > 1}
    assert repeated <= in_flight  # only the delivery in flight at the kill may repeat
    assert all(n <= 2 for n in seen.values())
    with sqlite3.connect(tmp_path / "data" / "wirewatch.db") as db:
        assert {s for (s,) in db.execute("SELECT state FROM deliveries")} == {"sent"}
