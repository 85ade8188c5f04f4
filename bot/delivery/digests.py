"""Digests are queued when their schedule fires (or at once, on demand) and built when
sent, from the stories matched since the subscription's last sent digest.

Also here: the latest stories of some watchlists, read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.cron import next_fire
from bot.core.models import DeliveryState, StoryMatch, Subscription
from bot.delivery.rows import (
    chunks,
    insert_ignore,
    last_match_id,
    pending_delivery,
    story_matches,
    story_sources,
    to_subscription,
)
from bot.storage.schema import deliveries, items, matches, subscriptions


@dataclass(frozen=True, slots=True)
class DigestContent:
    """A digest's subscription, its stories, and the last match id they cover (the
    subscription's next watermark once the digest is sent)."""

    subscription: Subscription
    stories: tuple[StoryMatch, ...]
    window_end: int


@dataclass(frozen=True, slots=True)
class Digests:
    """Digest queueing and content, and the latest stories, on the store's engine."""

    engine: AsyncEngine

    async def queue_due(self, now: datetime) -> int:
        """Queue a digest for every subscription whose digest time has come.

        An earlier digest of the same subscription still pending is superseded: the new
        one is built when it is sent and covers everything since the last sent digest
        (a digest already partly posted is not: it goes on with the rest of its parts).
        A subscription with no digest time yet (new, or its schedule changed) gets one.
        Returns the number of digests queued.
        """
        queued = 0
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(subscriptions)
                    .where(
                        subscriptions.c.active.is_(True),
                        subscriptions.c.disabled_reason.is_(None),
                        subscriptions.c.digest.is_not(None),
                    )
                    .order_by(subscriptions.c.id)
                )
            ).all()
            for row in rows:
                due = row.next_digest_at
                upcoming = next_fire(row.digest, row.timezone, now)
                if due is not None and due <= now:
                    await conn.execute(
                        deliveries.update()
                        .where(
                            deliveries.c.subscription_id == row.id,
                            deliveries.c.kind == "digest",
                            deliveries.c.state == DeliveryState.PENDING,
                            deliveries.c.parts_sent == 0,  # one partly posted goes on
                        )
                        .values(state=DeliveryState.SUPERSEDED)
                    )
                    inserted = await insert_ignore(
                        conn,
                        [
                            pending_delivery(
                                row.id,
                                row.channel,
                                "digest",
                                f"digest:{row.id}:{due.isoformat()}",
                                None,
                                None,
                                now,
                                now,
                            )
                        ],
                    )
                    queued += inserted
                if due is None or due <= now:
                    await conn.execute(
                        subscriptions.update()
                        .where(subscriptions.c.id == row.id)
                        .values(next_digest_at=upcoming)
                    )
        return queued

    async def queue_now(self, subscription_id: int, now: datetime) -> None:
        """Queue a digest of one subscription at once (the `digest` command)."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(subscriptions).where(subscriptions.c.id == subscription_id)
                )
            ).one()
            dedupe = f"digest:{row.id}:now:{now.isoformat()}"
            await insert_ignore(
                conn,
                [pending_delivery(row.id, row.channel, "digest", dedupe, None, None, now, now)],
            )

    async def content(self, subscription_id: int) -> DigestContent:
        """The stories a digest of this subscription sent now would hold: every story
        with a qualifying match since the last sent digest (or the end of one partly
        posted and still going on), and none such a digest had."""
        async with self.engine.connect() as conn:
            sub = to_subscription(
                (
                    await conn.execute(
                        sa.select(subscriptions).where(subscriptions.c.id == subscription_id)
                    )
                ).one()
            )
            window_end = await _routed_prefix_end(conn)
            # a digest partly posted and still going on covers its window: start after it
            partly_posted = (
                await conn.execute(
                    sa.select(sa.func.max(deliveries.c.window_end)).where(
                        deliveries.c.subscription_id == subscription_id,
                        deliveries.c.kind == "digest",
                        deliveries.c.parts_sent > 0,
                        deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
                    )
                )
            ).scalar()
            start = max(sub.digest_watermark, partly_posted or 0)
            qualifying = [
                items.c.reportable.is_(True),
                matches.c.watchlist.in_(sub.watchlists),
                matches.c.score >= sub.min_score,
                matches.c.routed_at.is_not(None),
            ]
            rows = (
                await conn.execute(
                    sa.select(matches, items)
                    .join(items, items.c.id == matches.c.item_id)
                    .where(
                        matches.c.id > start,
                        matches.c.id <= window_end,
                        items.c.story_id.is_not(None),
                        *qualifying,
                    )
                    .order_by(matches.c.id)
                )
            ).all()
            story_ids = {r.story_id for r in rows}
            earlier = set()
            for chunk in chunks(sorted(story_ids)):
                earlier |= {
                    r[0]
                    for r in (
                        await conn.execute(
                            sa.select(items.c.story_id)
                            .join(matches, matches.c.item_id == items.c.id)
                            .where(
                                items.c.story_id.in_(chunk),
                                matches.c.id <= start,
                                *qualifying,
                            )
                            .distinct()
                        )
                    ).all()
                }
            fresh = [r for r in rows if r.story_id not in earlier]
            outlets = await story_sources(conn, {r.story_id for r in fresh})
        return DigestContent(sub, story_matches(fresh, outlets), window_end)

    async def latest_stories(
        self, watchlists: Sequence[str], limit: int = 10, min_score: float = 0.0
    ) -> list[StoryMatch]:
        """The most recently matched stories of these watchlists, newest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(matches, items)
                    .join(items, items.c.id == matches.c.item_id)
                    .where(
                        matches.c.watchlist.in_(watchlists),
                        matches.c.score >= min_score,
                        items.c.story_id.is_not(None),
                    )
                    .order_by(matches.c.id.desc())
                    .limit(limit * 5)
                )
            ).all()
            newest: list[int] = list(dict.fromkeys(r.story_id for r in rows))[:limit]
            outlets = await story_sources(conn, newest)
        views = {
            v.story_id: v for v in story_matches([r for r in rows if r.story_id in newest], outlets)
        }
        return [views[s] for s in newest]


async def _routed_prefix_end(conn: AsyncConnection) -> int:
    """The highest match id below which every match is routed.

    Routing takes every unrouted match in id order, so routed matches form a prefix of
    the ids; a digest window ends here and never skips a match routed later.
    """
    first_unrouted = (
        await conn.execute(
            sa.select(sa.func.min(matches.c.id)).where(matches.c.routed_at.is_(None))
        )
    ).scalar()
    if first_unrouted is not None:
        return int(first_unrouted) - 1
    return await last_match_id(conn)
