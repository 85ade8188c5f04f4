"""Delivery benchmark: 10,000 pending alerts through the outbox to a recording adapter.

    python bench/delivery.py [--alerts 10000] [--channels 20] [--pacing 0.02]

Two runs on a fresh SQLite file each, side by side:
- unpaced: the outbox's own cost per delivery (claim, send, mark sent: two commits),
  against a floor of the same two commits per row without the dispatcher;
- paced: every channel limited to one message per `--pacing` seconds; the smallest gap
  seen between two messages to one channel shows the pacing held.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from recording import RecordingAdapter  # noqa: E402

from bot.chat.message import Entry, Message, Section, Tone, message_to_json  # noqa: E402
from bot.delivery.dispatcher import Dispatcher  # noqa: E402
from bot.delivery.outbox import Outbox  # noqa: E402
from bot.storage.schema import deliveries, subscriptions  # noqa: E402
from bot.storage.store import Store  # noqa: E402

NOW = datetime.now(UTC) - timedelta(minutes=1)  # every alert is due at once


def alert(n: int) -> Message:
    entry = Entry(
        title=f"China imposes {n}% tariff on Canadian canola oil",
        url=f"https://news.example.test/{n}",
        source="Outlet",
        published=NOW,
        watchlist="canola",
        score=3.5,
        evidence=('canola: "canola" (title)', 'trade: "tariff" (title)'),
    )
    return Message(entry.title, Tone.ALERT, sections=(Section("Canola", (entry,)),))


async def fill(store: Store, alerts: int, channels: int) -> None:
    """One subscription per channel and `alerts` pending alerts spread over them."""
    async with store.engine.begin() as conn:
        await conn.execute(
            subscriptions.insert(),
            [
                {"key": f"bench:{c}", "channel": f"discord:{10**17 + c}", "watchlists": ["canola"],
                 "alerts": True, "timezone": "UTC", "min_score": 0.0, "nothing_new": False,
                 "origin": "config", "active": True, "digest_watermark": 0, "created_at": NOW}
                for c in range(channels)
            ],
        )  # fmt: skip
        await conn.execute(
            deliveries.insert(),
            [
                {"subscription_id": n % channels + 1, "channel": f"discord:{10**17 + n % channels}",
                 "kind": "alert", "dedupe": f"alert:{n}", "payload": message_to_json(alert(n)),
                 "state": "pending", "attempts": 0, "next_attempt_at": NOW, "created_at": NOW}
                for n in range(alerts)
            ],
        )  # fmt: skip


async def run(
    workdir: Path, name: str, alerts: int, channels: int, pacing: float
) -> dict[str, float]:
    store = await Store.open(f"sqlite+aiosqlite:///{workdir / (name + '.db')}")
    try:
        await fill(store, alerts, channels)
        adapter = RecordingAdapter(min_interval=pacing)
        dispatcher = Dispatcher(Outbox.on(store.engine), {"discord": adapter}, {}, clock=_now)
        started = time.perf_counter()
        while len(adapter.sent) < alerts:
            await dispatcher.dispatch()
            await dispatcher.drain()
        elapsed = time.perf_counter() - started
        await dispatcher.stop()
    finally:
        await store.close()
    gaps: dict[str, float] = {}
    last: dict[str, float] = {}
    for sent in adapter.sent:
        if sent.channel in last:
            gap = sent.at - last[sent.channel]
            gaps[sent.channel] = min(gaps.get(sent.channel, gap), gap)
        last[sent.channel] = sent.at
    return {"seconds": elapsed, "rate": alerts / elapsed, "min_gap": min(gaps.values())}


async def floor(workdir: Path, alerts: int, channels: int) -> float:
    """The same two commits per delivery (claim, mark sent) with no dispatcher around them."""
    store = await Store.open(f"sqlite+aiosqlite:///{workdir / 'floor.db'}")
    try:
        await fill(store, alerts, channels)
        started = time.perf_counter()
        for n in range(1, alerts + 1):
            for state in ("sending", "sent"):
                async with store.engine.begin() as conn:
                    await conn.execute(
                        deliveries.update().where(deliveries.c.id == n).values(state=state)
                    )
        return time.perf_counter() - started
    finally:
        await store.close()


def _now() -> datetime:
    return datetime.now(UTC)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--pacing", type=float, default=0.02, help="seconds per channel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        base = await floor(workdir, args.alerts, args.channels)
        fast = await run(workdir, "unpaced", args.alerts, args.channels, 0.0)
        paced_alerts = min(args.alerts, int(args.channels * 5 / args.pacing))
        paced = await run(workdir, "paced", paced_alerts, args.channels, args.pacing)
    print(f"{args.alerts} pending alerts over {args.channels} channels, SQLite, recording adapter")
    print(f"  unpaced: {fast['rate']:8,.0f} deliveries/s ({fast['seconds']:.1f} s)")
    print(f"  floor (two commits per row, no dispatcher): {args.alerts / base:8,.0f} rows/s")
    print(f"  unpaced / floor: {base / fast['seconds']:.2f}x the floor's speed")
    ideal = paced_alerts / args.channels * args.pacing
    print(
        f"  paced at {args.pacing:g} s per channel: {paced_alerts} alerts in "
        f"{paced['seconds']:.1f} s (pacing alone: {ideal:.1f} s); smallest gap seen in a "
        f"channel {paced['min_gap']:.3f} s"
    )
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "delivery.json").write_text(
        json.dumps({"unpaced": fast, "paced": paced, "floor_seconds": base}, indent=2)
    )


if __name__ == "__main__":
    asyncio.run(main())
