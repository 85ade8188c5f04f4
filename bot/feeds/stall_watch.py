"""Read and total timeouts for every request in flight, kept by one sweeping task.

aiohttp's own `sock_read` and `total` timeouts arm a timer for each request and re-arm
the read timer on every chunk received, which is costly with many requests in flight
(ARCHITECTURE.md, "Performance"). Here a request in flight is a record that one task looks at
every quarter of the shorter timeout. A request is cancelled once it has gone `read`
seconds without receiving a byte (counted from its start, so that resolving, connecting
and sending count too, then between bytes) or has run `total` seconds in all (redirects
included). So a timeout fires up to a quarter of the shorter one late, and a request in
time costs no timer at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.feeds.fetch_errors import timed_out

SLICES = 4  # sweeps per (shorter) timeout
SWEEPER_NAME = "wirewatch stall sweeper"


@dataclass(slots=True, eq=False)
class Watched:
    """One request in flight, as the sweeper sees it (mutable: the sweeper updates it)."""

    task: asyncio.Task[Any]
    started: float
    progress_at: float  # loop time of the last byte seen (or of the start)
    body: aiohttp.StreamReader | None = None  # set once the headers arrived
    seen: int = 0  # body bytes at the last sweep
    expired: str | None = None  # why the sweeper cancelled the request


class StallWatch:
    """Cancels requests that stall (`read` seconds without a byte) or run too long
    (`total` seconds), once `start()`ed and until `stop()`ped.

    A request calls `watch()` when it starts, `receiving(body)` when its headers arrive,
    and `done()` at the end however it ends; on CancelledError, `claim()` says whether
    the cancellation was this watch's (and returns the reason) or came from outside.
    """

    def __init__(self, read: float, total: float) -> None:
        if read <= 0 or total <= 0:
            raise ValueError(f"timeouts must be longer than 0 s (read {read}, total {total})")
        self.read = read
        self.total = total
        self._watched: set[Watched] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sweeping (in the running event loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name=SWEEPER_NAME)

    async def stop(self) -> None:
        """Stop sweeping."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            try:
                await sweeper
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # we were cancelled too
                    raise

    def watch(self) -> Watched:
        """Start watching the current task's request."""
        task = asyncio.current_task()
        assert task is not None, "watch() runs inside a task"
        now = asyncio.get_running_loop().time()
        watched = Watched(task, now, now)
        self._watched.add(watched)
        return watched

    def receiving(self, watched: Watched, body: aiohttp.StreamReader) -> None:
        """The headers arrived (that is progress); from now on count the body's bytes."""
        watched.body = body
        watched.seen = body.total_bytes
        watched.progress_at = asyncio.get_running_loop().time()

    def done(self, watched: Watched) -> None:
        """Stop watching (the request ended, whichever way)."""
        self._watched.discard(watched)

    def claim(self, watched: Watched) -> str | None:
        """On a CancelledError: the reason when this watch cancelled the request and
        nothing else asked for a cancellation (the task is then no longer cancelling);
        None when the cancellation must propagate."""
        if watched.expired is None or watched.task.uncancel() > 0:
            return None
        return watched.expired

    def sweep(self, now: float) -> None:
        """Cancel every watched request that stalled or ran too long by `now`."""
        for watched in self._watched:
            if watched.expired is not None:
                continue
            if watched.body is not None and watched.body.total_bytes != watched.seen:
                watched.seen = watched.body.total_bytes
                watched.progress_at = now
            if now - watched.started >= self.total:
                watched.expired = timed_out(
                    "the whole request took over", self.total, "total_timeout"
                )
            elif now - watched.progress_at >= self.read:
                watched.expired = timed_out("no data for", self.read, "read_timeout")
            else:
                continue
            watched.task.cancel()

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        interval = min(self.read, self.total) / SLICES
        while True:
            await asyncio.sleep(interval)
            self.sweep(loop.time())
