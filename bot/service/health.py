"""Liveness and readiness: whether the scheduler still ticks, the store answers and each
adapter is connected; and the probe `wirewatch health` runs against a running bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat.adapter import Adapter

CHECK_TIMEOUT = 5.0  # seconds one check may take before it counts as failed
OK = "ok"


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each check's result: "ok" or what is wrong."""

    checks: Mapping[str, str]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(result == OK for result in self.checks.values())


class Heartbeat:
    """When the scheduler last ticked, by a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        """Record a tick now."""
        self._last = self._clock()

    def age(self) -> float | None:
        """Seconds since the last tick, or None before the first."""
        return None if self._last is None else self._clock() - self._last


async def check_readiness(
    engine: AsyncEngine,
    adapters: Mapping[str, Adapter],
    heartbeat: Heartbeat,
    max_age: float,
) -> Readiness:
    """Run every check: the scheduler ticked within `max_age` seconds, the store answers
    a query, and each adapter reports itself connected; each within CHECK_TIMEOUT."""
    names = ["store", *sorted(adapters)]
    results = await asyncio.gather(
        _check(_ping(engine)), *(_check(adapters[n].check_connection()) for n in names[1:])
    )  # at once, so one hung check cannot make the probe time out
    checks = {"scheduler": _scheduler_state(heartbeat.age(), max_age)}
    checks.update(zip(names, results, strict=True))
    return Readiness(checks)


def _scheduler_state(age: float | None, max_age: float) -> str:
    if age is None:
        return "not started"
    return OK if age <= max_age else f"no tick for {age:.0f} s"


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _check(check: Awaitable[str | None]) -> str:
    """Await `check` (None, or a problem) and name the outcome."""
    try:
        problem = await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer in {CHECK_TIMEOUT:.0f} s"
    except Exception as exc:  # any failure of a check is its answer, never a 500
        return f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return OK if problem is None else str(problem)
