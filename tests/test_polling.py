"""Scheduling decisions: phase slots spread feeds; backoff grows; servers' waits are kept."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bot.core.models import FetchResult, Outcome
from bot.feeds.polling import PollPolicy, next_slot, plan_next

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
POLICY = PollPolicy(interval=timedelta(minutes=15), max_backoff=timedelta(hours=6), dead_after=8)
OK = FetchResult(status=200)


def test_feeds_are_spread_across_the_interval() -> None:
    interval = timedelta(minutes=15)
    offsets = [
        (next_slot(f"https://feed{i}.example.test/rss", interval, NOW) - NOW).total_seconds()
        for i in range(1000)
    ]
    assert all(0 < o <= 900 for o in offsets)
    buckets = [sum(1 for o in offsets if b * 90 < o <= (b + 1) * 90) for b in range(10)]
    assert min(buckets) > 60  # about 100 per 90-second bucket, no herd at :00


def test_slot_is_stable_for_a_feed() -> None:
    url = "https://a.example.test/feed"
    first = next_slot(url, timedelta(minutes=15), NOW)
    assert next_slot(url, timedelta(minutes=15), first) == first + timedelta(minutes=15)


def test_backoff_grows_with_jitter_up_to_the_ceiling() -> None:
    rng = random.Random(1)
    failed = FetchResult(status=500, error="HTTP 500", error_kind="http")
    delays = []
    failures = 0
    for _ in range(12):
        schedule = plan_next(
            "u", POLICY.interval, failures, Outcome.FAILED, failed, NOW, POLICY, rng
        )
        failures = schedule.consecutive_failures
        delays.append(schedule.next_poll_at - NOW)
    assert delays[0] <= timedelta(minutes=18) and delays[1] > delays[0]
    assert all(d <= POLICY.max_backoff * 1.2 for d in delays)
    assert delays[-1] >= POLICY.max_backoff * 0.8  # a dead feed is re-probed, slowly
    assert failures == 12


def test_retry_after_and_max_age_set_a_hold() -> None:
    limited = FetchResult(status=429, retry_after=3600, error="HTTP 429", error_kind="http")
    schedule = plan_next("u", POLICY.interval, 0, Outcome.FAILED, limited, NOW, POLICY)
    assert schedule.hold_until == NOW + timedelta(hours=1)
    cached = FetchResult(status=200, max_age=7200)
    assert plan_next("u", POLICY.interval, 3, Outcome.OK, cached, NOW, POLICY).hold_until == (
        NOW + timedelta(hours=2)
    )
    short = FetchResult(status=200, max_age=60)
    success = plan_next("u", POLICY.interval, 3, Outcome.OK, short, NOW, POLICY)
    assert success.hold_until is None and success.consecutive_failures == 0
    absurd = FetchResult(status=429, retry_after=10**9, error="x", error_kind="http")
    held = plan_next("u", POLICY.interval, 0, Outcome.FAILED, absurd, NOW, POLICY).hold_until
    assert held == NOW + timedelta(hours=24)


def test_a_poll_off_the_feed_s_phase_is_not_followed_by_another_a_moment_later() -> None:
    url = "https://feed.example.test/rss"
    interval = timedelta(minutes=15)
    phase = next_slot(url, interval, NOW)
    for before in (timedelta(seconds=1), timedelta(minutes=5), timedelta(minutes=7, seconds=29)):
        ok = FetchResult(status=200)
        after = plan_next(url, interval, 0, Outcome.OK, ok, phase - before, POLICY).next_poll_at
        assert after == phase + interval  # the phase a moment away is skipped
    on_time = plan_next(url, interval, 0, Outcome.OK, FetchResult(200), phase, POLICY)
    assert on_time.next_poll_at == phase + interval
    early = plan_next(
        url,
        interval,
        0,
        Outcome.OK,
        FetchResult(200),
        phase - interval / 2 - timedelta(seconds=1),
        POLICY,
    )
    assert early.next_poll_at == phase  # more than half an interval away: kept
