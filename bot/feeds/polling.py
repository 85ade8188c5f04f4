"""When to poll a feed next: phase slots, backoff with jitter, server-imposed waits.

Pure functions of their inputs (and a random source for jitter), so they are tested
without a clock or a network.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.models import FetchResult, Outcome, Schedule

MAX_HOLD = timedelta(hours=24)  # the longest Retry-After or max-age we honour


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Default interval, the backoff ceiling (also the dead-feed re-probe rate), dead threshold."""

    interval: timedelta = timedelta(minutes=15)
    max_backoff: timedelta = timedelta(hours=6)
    dead_after: int = 8


def next_slot(url: str, interval: timedelta, now: datetime) -> datetime:
    """The first instant after `now` in this feed's phase (aware UTC): feeds spread evenly
    over the interval.

    The phase is a stable hash of the URL, so a thousand feeds on a 15-minute interval
    are polled about one a second rather than all at :00, and stay so across restarts.
    """
    period = max(1, int(interval.total_seconds()))
    phase = zlib.crc32(url.encode()) % period
    second = int(now.timestamp())
    # integer seconds, one datetime built: datetime arithmetic was half of `plan_next`
    return datetime.fromtimestamp(second + period - (second - phase) % period, UTC)


def plan_next(
    url: str,
    interval: timedelta,
    failures: int,
    outcome: Outcome,
    fetch: FetchResult,
    now: datetime,
    policy: PollPolicy,
    rng: random.Random | None = None,
) -> Schedule:
    """The schedule after a poll that ended with `outcome` (failures: the count before it)."""
    hold = None
    if fetch.retry_after is not None:
        hold = now + min(timedelta(seconds=fetch.retry_after), MAX_HOLD)
    if outcome is Outcome.FAILED:
        failures += 1
        backoff = min(interval * 2 ** min(failures - 1, 30), policy.max_backoff)
        backoff *= (rng or random).uniform(0.8, 1.2)
        return Schedule(now + backoff, hold, failures)
    # at least half an interval on: a poll off the feed's phase (its first, `run --once`,
    # one made due by hand) is not followed by another at its phase a moment later
    slot = next_slot(url, interval, now + interval / 2)
    if fetch.max_age is not None and timedelta(seconds=fetch.max_age) > interval:
        until = now + min(timedelta(seconds=fetch.max_age), MAX_HOLD)
        hold = max(hold, until) if hold else until
    return Schedule(slot, hold, 0)


def is_dead(failures: int, policy: PollPolicy) -> bool:
    """A feed failing this often is re-probed only at the backoff ceiling."""
    return failures >= policy.dead_after
