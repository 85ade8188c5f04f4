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

    def every(
        seconds: float,
        job: Callable[..., Awaitable[object]],
        args: list[object],
        job_id: str,
        grace: float,
        first: datetime | None = None,
    ) -> None:
        """Run `job(*args)` every `seconds`, first at `first` (or one interval from now),
        never two at a time, a run missed by up to `grace` seconds made up once."""
        when = {} if first is None else {"next_run_time": first}  # None would pause the job
        scheduler.add_job(
            job, IntervalTrigger(seconds=seconds), args=args, id=job_id, coalesce=True,
            max_instances=1, misfire_grace_time=int(grace), **when,
        )  # fmt: skip

    now = datetime.now(UTC)
    if cycle is not None:
        every(tick_seconds, tick, [], "poll-tick", tick_seconds + 1, first=now)
    if keep_gateway is not None:
        args = [keep_gateway, "gateway lease"]
        every(GATEWAY_TICK, _guarded, args, "gateway-lease", GATEWAY_TICK, first=now)
    if deliver is not None:
        every(DELIVERY_TICK, _guarded, [deliver, "delivery"], "delivery-tick", 5)
    if prune is not None:
        first = now + timedelta(seconds=min(PRUNE_DELAY, prune_seconds))
        every(prune_seconds, _guarded, [prune, "retention"], "retention", prune_seconds, first)
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
