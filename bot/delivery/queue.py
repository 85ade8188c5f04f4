"""The delivery queue hands out due outbox rows one attempt at a time and records how each
attempt ended.

The outbox holds one row per (channel, story) for alerts and per (subscription,
digest time) for digests, unique by its `dedupe` key, so that whatever happens a
story is queued once per channel and a digest once per window. Rows move
pending → sending → sent (or failed, superseded, empty); a row is `sent` only after
the platform accepted it. Rows left `sending` by a crash go back to `pending` at
startup (`recover`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.models import Delivery, DeliveryState
from bot.delivery.rows import to_delivery
from bot.storage.schema import UTCDateTime, deliveries, subscriptions

# how long a worker's claim on a delivery it is sending holds: a worker that dies
# mid-send loses it after this, and another sends it again (the in-flight window)
DELIVERY_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Waiting:
    """Pending deliveries that are not sent yet, and why: `later` are not due (`retrying`
    of them after an error, the rest held by quiet hours), the first due at `next_at`;
    `stopped` belong to a channel whose delivery stopped."""

    later: int
    retrying: int
    next_at: datetime | None
    stopped: int


@dataclass(frozen=True, slots=True)
class DeliveryQueue:
    """The delivery cycle on the store's engine: recover, due, claim, then sent, retry
    or failed; and what the queue holds, for health, metrics and the CLI."""

    engine: AsyncEngine

    async def recover(self, now: datetime | None = None) -> int:
        """Put deliveries left `sending` back to `pending`: every one (None: a lone
        worker at its start, so each was left by a crash), or those whose worker's claim
        ran out by `now` (that worker died). Returns how many.

        Such a row may or may not have reached the platform: it is sent again (with the
        same nonce), the one window in which a message can arrive twice.
        """
        query = deliveries.update().where(deliveries.c.state == DeliveryState.SENDING)
        if now is not None:
            expired = sa.literal(now, UTCDateTime())
            query = query.where(
                sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until <= expired)
            )
        async with self.engine.begin() as conn:
            result = await conn.execute(query.values(state=DeliveryState.PENDING))
        return int(result.rowcount or 0)

    async def due(self, now: datetime, limit: int = 1000) -> list[Delivery]:
        """Pending deliveries whose time has come, of subscriptions still delivering, by id."""
        query = (
            sa.select(deliveries)
            .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
            .where(
                deliveries.c.state == DeliveryState.PENDING,
                deliveries.c.next_attempt_at <= now,
                subscriptions.c.active.is_(True),
                subscriptions.c.disabled_reason.is_(None),
            )
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [to_delivery(r) for r in (await conn.execute(query)).all()]

    async def claim(
        self,
        delivery_id: int,
        now: datetime,
        owner: str = "local",
        lease: timedelta = DELIVERY_LEASE,
    ) -> Delivery | None:
        """Mark a pending delivery `sending` (one more attempt) by `owner` until `now +
        lease`, and return it as it is now (`first_attempt_at` is `now` for a first
        attempt), or None if it was not pending any more (another worker took it)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id, deliveries.c.state == DeliveryState.PENDING)
                .values(
                    state=DeliveryState.SENDING,
                    attempts=deliveries.c.attempts + 1,
                    lease_owner=owner,
                    lease_until=sa.literal(now + lease, UTCDateTime()),
                    # typed, or PostgreSQL takes an aware `now` as timestamptz and stores
                    # it in the server's time zone
                    first_attempt_at=sa.func.coalesce(
                        deliveries.c.first_attempt_at, sa.literal(now, UTCDateTime())
                    ),
                )
            )
            if not result.rowcount:
                return None
            row = (
                await conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
            ).one()
        return to_delivery(row)

    async def mark_sent(
        self,
        delivery: Delivery,
        message_id: str | None,
        now: datetime,
        window_end: int | None = None,
    ) -> None:
        """Record the platform's yes (or, with no message id, an empty digest not sent);
        a digest moves its subscription's watermark to `window_end` in the same step."""
        state = DeliveryState.SENT if message_id is not None else DeliveryState.EMPTY
        async with self.engine.begin() as conn:
            await conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery.id)
                .values(
                    state=state,
                    message_id=message_id,
                    sent_at=now,
                    window_end=window_end,
                    last_error=None,
                )
            )
            if delivery.kind == "digest" and window_end is not None:
                await conn.execute(
                    subscriptions.update()
                    .where(
                        subscriptions.c.id == delivery.subscription_id,
                        subscriptions.c.digest_watermark < window_end,
                    )
                    .values(digest_watermark=window_end, last_digest_at=now)
                )

    async def mark_retry(self, delivery_id: int, error: str, at: datetime) -> None:
        """Back to pending with the error, for another attempt at `at`."""
        async with self.engine.begin() as conn:
            await conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(state=DeliveryState.PENDING, last_error=error, next_attempt_at=at)
            )

    async def record_parts(
        self, delivery_id: int, parts_sent: int, digest: tuple[dict[str, Any], int] | None = None
    ) -> None:
        """The platform accepted the first `parts_sent` parts of this delivery's message:
        a retry starts after them. A digest's first accepted part comes with `digest`
        (its message as JSON and its window's end), kept so that the retry posts the
        rest of that same digest."""
        values: dict[str, Any] = {"parts_sent": parts_sent}
        if digest is not None:
            values.update(payload=digest[0], window_end=digest[1])
        async with self.engine.begin() as conn:
            await conn.execute(
                deliveries.update().where(deliveries.c.id == delivery_id).values(**values)
            )

    async def mark_failed(self, delivery_id: int, error: str) -> None:
        """Give up on one delivery (permanent error or retries exhausted)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(state=DeliveryState.FAILED, last_error=error)
            )

    async def requeue_failed(
        self,
        now: datetime,
        *,
        channels: Collection[str] | None = None,
        ids: Collection[int] | None = None,
        within: timedelta | None = None,
    ) -> list[int]:
        """Put failed deliveries back to pending, due at `now`; return their ids.

        Those of `channels`, or with `ids`, or all; with `within`, only those first
        attempted (or queued) that recently, so an automatic retry stays inside
        `retry_for`. Without it (an operator's explicit retry) their retry window
        starts again.
        """
        query = sa.select(deliveries.c.id).where(deliveries.c.state == DeliveryState.FAILED)
        if channels is not None:
            query = query.where(deliveries.c.channel.in_(list(channels)))
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        if within is not None:
            since = sa.literal(now - within, UTCDateTime())
            started = sa.func.coalesce(deliveries.c.first_attempt_at, deliveries.c.created_at)
            query = query.where(started >= since)
        values: dict[str, Any] = {
            "state": DeliveryState.PENDING,
            "next_attempt_at": sa.literal(now, UTCDateTime()),
        }
        if within is None:
            values["first_attempt_at"] = None
        async with self.engine.begin() as conn:
            found = [int(i) for i in (await conn.execute(query)).scalars()]
            for chunk in range(0, len(found), 400):
                await conn.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.id.in_(found[chunk : chunk + 400]),
                        deliveries.c.state == DeliveryState.FAILED,  # not one sent meanwhile
                    )
                    .values(**values)
                )
        return found

    async def failed_channels(self, ids: Collection[int] | None = None) -> dict[int, str]:
        """The channel of each failed delivery (of `ids`, or all), by delivery id."""
        query = sa.select(deliveries.c.id, deliveries.c.channel).where(
            deliveries.c.state == DeliveryState.FAILED
        )
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        async with self.engine.connect() as conn:
            return {int(i): str(c) for i, c in (await conn.execute(query)).all()}

    async def listing(
        self, *, failed_only: bool = False, channel: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """The latest deliveries (only the failed ones, or one channel's, if asked),
        newest first."""
        query = sa.select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if failed_only:
            query = query.where(deliveries.c.state == DeliveryState.FAILED)
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
        async with self.engine.connect() as conn:
            return [to_delivery(r) for r in (await conn.execute(query)).all()]

    async def waiting(self, now: datetime) -> Waiting:
        """The pending deliveries that are not due at `now`, or whose channel stopped."""
        later = deliveries.c.next_attempt_at > now
        stopped = sa.or_(
            subscriptions.c.active.is_(False), subscriptions.c.disabled_reason.is_not(None)
        )
        query = (
            sa.select(
                sa.func.count().filter(sa.and_(later, sa.not_(stopped))),
                sa.func.count().filter(
                    sa.and_(later, sa.not_(stopped), deliveries.c.last_error.is_not(None))
                ),
                sa.func.min(deliveries.c.next_attempt_at).filter(sa.and_(later, sa.not_(stopped))),
                sa.func.count().filter(stopped),
            )
            .select_from(deliveries)
            .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
            .where(deliveries.c.state == DeliveryState.PENDING)
        )
        async with self.engine.connect() as conn:
            later_n, retrying, first, stopped_n = (await conn.execute(query)).one()
        return Waiting(int(later_n), int(retrying), first if later_n else None, int(stopped_n))

    async def counts(self) -> dict[str, int]:
        """Deliveries by state (for health and metrics)."""
        query = sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
        async with self.engine.connect() as conn:
            return {state: int(n) for state, n in (await conn.execute(query)).all()}

    async def deliveries_of(self, kind: str | None = None) -> list[Delivery]:
        """Every delivery (of one kind, if given), by id."""
        query = sa.select(deliveries).order_by(deliveries.c.id)
        if kind is not None:
            query = query.where(deliveries.c.kind == kind)
        async with self.engine.connect() as conn:
            return [to_delivery(r) for r in (await conn.execute(query)).all()]
