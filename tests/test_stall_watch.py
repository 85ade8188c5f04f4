"""The stall watch on its own: an outside cancellation is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from bot.feeds.stall_watch import StallWatch


async def test_stopping_passes_on_a_cancellation_of_the_stopping_task() -> None:
    watch = StallWatch(read=60, total=60)
    watch.start()
    stopping = asyncio.create_task(watch.stop())
    await asyncio.sleep(0)  # `stopping` now waits for the cancelled sweeper to end
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping


async def test_timeouts_must_be_longer_than_zero() -> None:
    for read, total in ((0, 90), (30, 0), (-1, 90)):
        with pytest.raises(ValueError, match="longer than 0"):
            StallWatch(read, total)
