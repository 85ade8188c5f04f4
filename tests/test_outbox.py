"""The outbox's own SQL on SQLite and PostgreSQL: each backend gives the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import LONGEST_RETRY_AFTER, DeliveryError
from bot.core.models import DeliveryState
from bot.delivery.dispatcher import RetryPolicy
from bot.delivery.outbox import Outbox
from bot.storage.store import Store

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
CHANNEL = "discord:111111111111111111"


@asynccontextmanager
async def outbox_on(db_url: str) -> AsyncIterator[Outbox]:
    store = await Store.open(db_url)
    try:
        yield Outbox.on(store.engine)
    finally:
        await store.close()


async def test_unsubscribe_ends_exactly_the_named_watchlist(db_url: str) -> None:
    """No pattern matching: `_` is no wildcard and case counts, on SQLite as on PostgreSQL."""
    async with outbox_on(db_url) as outbox:
        for watchlist in ("can_la", "canola", "Can_la"):
            await outbox.subscriptions.subscribe(CHANNEL, watchlist, NOW)
        await outbox.subscriptions.subscribe(CHANNEL, "can_la", NOW, digest="0 8 * * *")
        ended = await outbox.subscriptions.unsubscribe(CHANNEL, "can_la")
        left = await outbox.subscriptions.list_active(CHANNEL)
    assert ended == 2
    assert sorted(s.watchlists for s in left) == [("Can_la",), ("canola",)]


async def test_claim_keeps_the_first_attempt_time_in_utc(db_url: str) -> None:
    """The first attempt is stored as UTC whatever the database session's time zone."""
    async with outbox_on(db_url) as outbox:
        sub = await outbox.subscriptions.subscribe(CHANNEL, "canola", NOW, digest="0 8 * * *")
        await outbox.digests.queue_now(sub.id, NOW)
        (delivery,) = await outbox.queue.deliveries_of("digest")
        first = await outbox.queue.claim(delivery.id, NOW)
        await outbox.queue.mark_retry(delivery.id, "HTTP 503", NOW + timedelta(minutes=5))
        again = await outbox.queue.claim(delivery.id, NOW + timedelta(hours=1))
        assert first is not None and again is not None
        assert (first.attempts, again.attempts) == (1, 2)
        not_pending = await outbox.queue.claim(delivery.id, NOW + timedelta(hours=2))
        (claimed,) = await outbox.queue.deliveries_of("digest")
    assert first.first_attempt_at == again.first_attempt_at == NOW
    assert not_pending is None
    assert claimed.state is DeliveryState.SENDING and claimed.attempts == 2


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_a_platform_s_retry_after_is_bounded_whatever_it_says(seconds: float | None) -> None:
    """A Retry-After of NaN, a negative number or infinity sets a wait of 0 s to a day,
    and the next attempt's time is computed without overflow."""
    error = DeliveryError("Slack rate limit (429)", retryable=True, retry_after=seconds)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    at = RetryPolicy().next_attempt(3, error.retry_after, now)
    assert error.retry_after is None or 0.0 <= error.retry_after <= LONGEST_RETRY_AFTER
    assert now <= at <= now + timedelta(seconds=LONGEST_RETRY_AFTER)
