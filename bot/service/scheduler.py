"""APScheduler wiring only: a tick that starts a poll cycle when none is running, the
delivery tick, and the retention job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0  # seconds an in-flight cycle gets to finish on shutdown
DELIVERY_TICK = 1.0  # seconds between two looks at the outbox
PRUNE_DELAY = 60.0  # seconds after startup before the first retention run
GATEWAY_TICK = 5.0  # seconds between two renewals of the gateway lease


async def run_until_stopped(
    cycle: Callable[[], Awaitable[object]] | None,
    tick_seconds: float,
    stop: asyncio.Event,
    deliver: Callable[[], Awaitable[object]] | None = None,
    prune: Callable[[], Awaitable[object]] | None = None,
    prune_seconds: float = 3600.0,
    keep_gateway: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run `cycle` (if any) at once and then on every tick, never two at a time, until
    `stop` is set; `deliver` (route, queue digests, hand out due deliveries, or only the
    heartbeat) every DELIVERY_TICK; `prune` (retention, in small batches) every
    `prune_seconds`, first after PRUNE_DELAY; and `keep_gateway` at once and every
    GATEWAY_TICK.

    Each tick only starts a cycle; the cycle itself picks the feeds that are due, so a
    slow cycle delays the next one instead of piling up. On stop, an in-flight cycle
    gets SHUTDOWN_GRACE seconds to finish and is then cancelled (its transaction rolls
    back, and its feeds are polled again at the next start).
    """
    running: asyncio.Task[object] | None = None

    async def tick() -> None:
        nonlocal running
        assert cycle is not None
        if running is not None and not running.done():
            return
        running = asyncio.create_task(_guarded(cycle, "poll cycle"))

    scheduler = AsyncIOScheduler(timezone=UTC)
    if cycle is not None:
        scheduler.add_job(
            tick,
            IntervalTrigger(seconds=tick_seconds),
            id="poll-tick",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(tick_seconds) + 1,
        )
    if keep_gateway is not None:
        scheduler.add_job(
            _guarded,
            IntervalTrigger(seconds=GATEWAY_TICK),
            args=[keep_gateway, "gateway lease"],
            id="gateway-lease",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(GATEWAY_TICK),
        )
    if deliver is not None:
        scheduler.add_job(
            _guarded,
            IntervalTrigger(seconds=DELIVERY_TICK),
            args=[deliver, "delivery"],
            id="delivery-tick",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=5,
        )
    if prune is not None:
        scheduler.add_job(
            _guarded,
            IntervalTrigger(seconds=prune_seconds),
            args=[prune, "retention"],
            id="retention",
            next_run_time=datetime.now(UTC) + timedelta(seconds=min(PRUNE_DELAY, prune_seconds)),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(prune_seconds),
        )
    scheduler.start()
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if running is not None and not running.done():
            log.info("waiting up to %.0f s for the running poll cycle", SHUTDOWN_GRACE)
            try:
                await asyncio.wait_for(asyncio.shield(running), SHUTDOWN_GRACE)
            except TimeoutError:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)


async def _guarded(job: Callable[[], Awaitable[object]], name: str) -> object:
    try:
        return await job()
    except Exception:  # one failed run is logged; the next tick tries again
        log.exception("%s failed", name)
        return None
