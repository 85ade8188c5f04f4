"""The subscriptions table holds the config file's subscriptions exactly as declared and
the runtime ones as `/news subscribe` left them, each under a key that survives restarts.

The key is `SubscriptionConfig.key` for the config file's, `runtime:<channel>:<watchlist>:<mode>`
for those made at runtime. A channel the platform refused for good has its
subscriptions disabled here, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.config import SubscriptionConfig
from bot.core.cron import next_fire
from bot.core.models import Subscription
from bot.delivery.rows import last_match_id, to_subscription
from bot.storage.schema import subscriptions
from bot.storage.turns import SUBSCRIPTIONS, take_turn


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """Subscriptions on the store's engine: declared, made, ended, listed, disabled."""

    engine: AsyncEngine

    async def sync(
        self, configs: Sequence[SubscriptionConfig], now: datetime, *, restart: bool = False
    ) -> list[str]:
        """Make the config file's subscriptions exactly `configs`; runtime ones are kept.

        A config subscription that disappeared from the file is deactivated; one that
        came back, or changed, is updated in place (its digest history is kept). With
        `restart` (a bot starting), every stopped channel is tried again: its
        subscriptions are enabled and its channel is returned, so that what failed there
        can be retried. Without it (a command that only looks), stopped ones stay stopped.
        """
        async with self.engine.begin() as conn:
            await take_turn(conn, SUBSCRIPTIONS)  # workers starting at once insert a key once
            rows = (
                await conn.execute(
                    sa.select(subscriptions).where(subscriptions.c.origin == "config")
                )
            ).all()
            known = {r.key: r for r in rows}
            watermark = await last_match_id(conn)
            declared = set()
            for config in configs:
                key = config.key
                declared.add(key)
                values = _config_values(config, now)
                row = known.get(key)
                if row is None:
                    await conn.execute(
                        subscriptions.insert().values(
                            key=key,
                            origin="config",
                            digest_watermark=watermark,
                            created_at=now,
                            **values,
                        )
                    )
                    continue
                if row.digest == config.digest and row.timezone == config.timezone:
                    values["next_digest_at"] = row.next_digest_at
                await conn.execute(
                    subscriptions.update().where(subscriptions.c.id == row.id).values(**values)
                )
            gone = [r.id for r in rows if r.key not in declared and r.active]
            if gone:
                await conn.execute(
                    subscriptions.update().where(subscriptions.c.id.in_(gone)).values(active=False)
                )
            if not restart:
                return []
            stopped = sa.select(subscriptions.c.channel).where(
                subscriptions.c.disabled_reason.is_not(None)
            )
            channels = sorted(set((await conn.execute(stopped)).scalars()))
            if channels:
                await conn.execute(
                    subscriptions.update()
                    .where(subscriptions.c.channel.in_(channels))
                    .values(disabled_reason=None)
                )
        return channels

    async def subscribe(
        self,
        channel: str,
        watchlist: str,
        now: datetime,
        *,
        digest: str | None = None,
        timezone: str = "UTC",
    ) -> Subscription:
        """Subscribe `channel` to `watchlist` at runtime: alerts, or a digest on `digest`.

        Idempotent: subscribing again updates the same subscription (and re-enables
        it if a platform error had disabled it).
        """
        key = _runtime_key(channel, watchlist, "digest" if digest else "alerts")
        values = {
            "channel": channel,
            "watchlists": [watchlist],
            "alerts": digest is None,
            "digest": digest,
            "timezone": timezone,
            "min_score": 0.0,
            "quiet_hours": None,
            "nothing_new": False,
            "active": True,
            "disabled_reason": None,
            "next_digest_at": next_fire(digest, timezone, now) if digest else None,
        }
        async with self.engine.begin() as conn:
            await take_turn(conn, SUBSCRIPTIONS)
            row = (
                await conn.execute(sa.select(subscriptions).where(subscriptions.c.key == key))
            ).first()
            if row is None:
                watermark = await last_match_id(conn)
                await conn.execute(
                    subscriptions.insert().values(
                        key=key,
                        origin="runtime",
                        digest_watermark=watermark,
                        created_at=now,
                        **values,
                    )
                )
            else:
                if not row.active:  # a digest starts from now, not from when it ended
                    values["digest_watermark"] = await last_match_id(conn)
                await conn.execute(
                    subscriptions.update().where(subscriptions.c.id == row.id).values(**values)
                )
            row = (
                await conn.execute(sa.select(subscriptions).where(subscriptions.c.key == key))
            ).one()
        return to_subscription(row)

    async def unsubscribe(self, channel: str, watchlist: str) -> int:
        """End `channel`'s runtime subscriptions to `watchlist`; returns how many ended.

        Config subscriptions are the file's to change; they are not touched here. An
        ended subscription is kept inactive with its deliveries, so the stories it was
        sent are not sent again if the channel subscribes anew.
        """
        async with self.engine.begin() as conn:
            result = await conn.execute(
                subscriptions.update()
                .where(
                    subscriptions.c.channel == channel,
                    subscriptions.c.origin == "runtime",
                    subscriptions.c.active.is_(True),
                    subscriptions.c.key.in_(
                        [_runtime_key(channel, watchlist, m) for m in ("alerts", "digest")]
                    ),
                )
                .values(active=False)
            )
        return int(result.rowcount or 0)

    async def list_active(self, channel: str | None = None) -> list[Subscription]:
        """Active subscriptions (of one channel, if given), oldest first."""
        query = sa.select(subscriptions).where(subscriptions.c.active.is_(True))
        if channel is not None:
            query = query.where(subscriptions.c.channel == channel)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(subscriptions.c.id))).all()
        return [to_subscription(r) for r in rows]

    async def enable_channel(self, channel: str) -> int:
        """Let a stopped channel's subscriptions deliver again (someone fixed it)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                subscriptions.update()
                .where(
                    subscriptions.c.channel == channel, subscriptions.c.disabled_reason.is_not(None)
                )
                .values(disabled_reason=None)
            )
        return int(result.rowcount or 0)

    async def disable_channel(self, channel: str, reason: str) -> int:
        """Stop every subscription of a channel the platform refused for good."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                subscriptions.update()
                .where(subscriptions.c.channel == channel, subscriptions.c.active.is_(True))
                .values(disabled_reason=reason)
            )
        return int(result.rowcount or 0)


def _runtime_key(channel: str, watchlist: str, mode: str) -> str:
    """The key of `channel`'s runtime subscription to `watchlist` in `mode` (alerts, digest)."""
    return f"runtime:{channel}:{watchlist}:{mode}"


def _config_values(config: SubscriptionConfig, now: datetime) -> dict[str, Any]:
    return {
        "channel": config.channel,
        "watchlists": sorted(config.watchlists),
        "alerts": config.alerts,
        "digest": config.digest,
        "timezone": config.timezone,
        "min_score": config.min_score,
        "quiet_hours": config.quiet_hours,
        "nothing_new": config.nothing_new,
        "mention_role": config.mention_role,
        "followups": config.followups,
        "active": True,
        "next_digest_at": next_fire(config.digest, config.timezone, now) if config.digest else None,
    }
