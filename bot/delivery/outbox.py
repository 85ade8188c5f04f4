"""Subscriptions, stories and the delivery outbox: the SQL behind alerts and digests.

The outbox holds one row per (channel, story) for alerts and per (subscription,
digest time) for digests, unique by its `dedupe` key, so that whatever happens a
story is queued once per channel and a digest once per window. Rows move
pending → sending → sent (or failed, superseded, empty); a row is `sent` only after
the platform accepted it. Rows left `sending` by a crash go back to `pending` at
startup (`recover`).

Matches are *routed* after they are stored: grouped into stories, their alerts
queued and `routed_at` set, in one transaction. A crash between storing and routing
leaves them unrouted, and the next routing picks them up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.chat.message import Message, message_to_json
from bot.core.config import SubscriptionConfig
from bot.core.cron import next_fire, quiet_until
from bot.core.models import Delivery, DeliveryState, Match, StoryMatch, Subscription
from bot.matching.stories import StoryIndex
from bot.storage.schema import UTCDateTime, deliveries, items, matches, stories, subscriptions
from bot.storage.store import evidence_from_json, stored_item

ROUTE_BATCH = 2000  # matches routed per transaction at most
BuildAlert = Callable[[StoryMatch], Message]


@dataclass(frozen=True, slots=True)
class DigestContent:
    """A digest's subscription, its stories, and the last match id they cover (the
    subscription's next watermark once the digest is sent)."""

    subscription: Subscription
    stories: tuple[StoryMatch, ...]
    window_end: int


def subscription_key(config: SubscriptionConfig) -> str:
    """A config subscription's identity across restarts: its name, else what it does."""
    if config.name:
        return f"config:{config.name}"
    modes = "+".join(m for m, on in (("alerts", config.alerts), ("digest", config.digest)) if on)
    return f"config:{config.channel}:{','.join(sorted(config.watchlists))}:{modes}"


class Outbox:
    """Subscriptions, story routing and deliveries on the store's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # --- subscriptions ---------------------------------------------------------------

    async def sync_subscriptions(
        self, configs: Sequence[SubscriptionConfig], now: datetime
    ) -> None:
        """Make the config file's subscriptions exactly `configs`; runtime ones are kept.

        A config subscription that disappeared from the file is deactivated; one that
        came back, or changed, is updated in place (its digest history is kept).
        """
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(subscriptions).where(subscriptions.c.origin == "config")
                )
            ).all()
            known = {r.key: r for r in rows}
            watermark = await _last_match_id(conn)
            declared = set()
            for config in configs:
                key = subscription_key(config)
                declared.add(key)
                values = _config_values(config, now) | {"disabled_reason": None}
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
            row = (
                await conn.execute(sa.select(subscriptions).where(subscriptions.c.key == key))
            ).first()
            if row is None:
                watermark = await _last_match_id(conn)
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
                await conn.execute(
                    subscriptions.update().where(subscriptions.c.id == row.id).values(**values)
                )
            row = (
                await conn.execute(sa.select(subscriptions).where(subscriptions.c.key == key))
            ).one()
        return _subscription(row)

    async def unsubscribe(self, channel: str, watchlist: str) -> int:
        """End `channel`'s runtime subscriptions to `watchlist`; returns how many ended.

        Config subscriptions are the file's to change; they are not touched here.
        """
        async with self.engine.begin() as conn:
            result = await conn.execute(
                subscriptions.delete().where(
                    subscriptions.c.channel == channel,
                    subscriptions.c.origin == "runtime",
                    subscriptions.c.key.in_(
                        [_runtime_key(channel, watchlist, m) for m in ("alerts", "digest")]
                    ),
                )
            )
        return int(result.rowcount or 0)

    async def list_subscriptions(self, channel: str | None = None) -> list[Subscription]:
        """Active subscriptions (of one channel, if given), oldest first."""
        query = sa.select(subscriptions).where(subscriptions.c.active.is_(True))
        if channel is not None:
            query = query.where(subscriptions.c.channel == channel)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(subscriptions.c.id))).all()
        return [_subscription(r) for r in rows]

    async def disable_channel(self, channel: str, reason: str) -> int:
        """Stop every subscription of a channel the platform refused for good."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                subscriptions.update()
                .where(subscriptions.c.channel == channel, subscriptions.c.active.is_(True))
                .values(disabled_reason=reason)
            )
        return int(result.rowcount or 0)

    # --- routing: matches → stories → alerts ----------------------------------------

    async def load_story_index(self, index: StoryIndex, since: datetime) -> None:
        """Fill `index` with the stories of items first seen since `since`."""
        query = (
            sa.select(items.c.story_id, items.c.title, items.c.first_seen)
            .where(items.c.story_id.is_not(None), items.c.first_seen >= since)
            .order_by(items.c.id)
        )
        async with self.engine.connect() as conn:
            for row in (await conn.execute(query)).all():
                index.add(row.story_id, row.title, row.first_seen)

    async def route(self, index: StoryIndex, build_alert: BuildAlert, now: datetime) -> int:
        """Route every unrouted match: group its item into a story and queue the alerts
        it earns, one transaction per ROUTE_BATCH matches. Returns the alerts queued."""
        queued = 0
        while True:
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        sa.select(matches, items)
                        .join(items, items.c.id == matches.c.item_id)
                        .where(matches.c.routed_at.is_(None))
                        .order_by(matches.c.id)
                        .limit(ROUTE_BATCH)
                    )
                ).all()
                if not rows:
                    return queued
                stories_of = await _assign_stories(conn, rows, index)
                subs = await _alert_subscriptions(conn)
                queued += await _queue_alerts(conn, rows, stories_of, subs, build_alert, now)
                await conn.execute(
                    matches.update()
                    .where(matches.c.id.in_([r.id for r in rows]))
                    .values(routed_at=now)
                )

    # --- digests -----------------------------------------------------------------------

    async def queue_due_digests(self, now: datetime) -> int:
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
                    inserted = await _insert_ignore(
                        conn,
                        [
                            _delivery_row(
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

    async def queue_digest_now(self, subscription_id: int, now: datetime) -> None:
        """Queue a digest of one subscription at once (the `digest` command)."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(subscriptions).where(subscriptions.c.id == subscription_id)
                )
            ).one()
            dedupe = f"digest:{row.id}:now:{now.isoformat()}"
            await _insert_ignore(
                conn, [_delivery_row(row.id, row.channel, "digest", dedupe, None, None, now, now)]
            )

    async def digest_content(self, subscription_id: int) -> DigestContent:
        """The stories a digest of this subscription sent now would hold: every story
        with a qualifying match since the last sent digest (or the end of one partly
        posted and still going on), and none such a digest had."""
        async with self.engine.connect() as conn:
            sub = _subscription(
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
            for chunk in _chunks(sorted(story_ids)):
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
            outlets = await _story_sources(conn, {r.story_id for r in fresh})
        return DigestContent(sub, _story_matches(fresh, outlets), window_end)

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
            outlets = await _story_sources(conn, newest)
        views = {
            v.story_id: v
            for v in _story_matches([r for r in rows if r.story_id in newest], outlets)
        }
        return [views[s] for s in newest]

    async def story_matches_of(self, item_id: int) -> StoryMatch | None:
        """The story of one stored item with its routed matches, if it has any."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(matches, items)
                    .join(items, items.c.id == matches.c.item_id)
                    .where(items.c.id == item_id)
                    .order_by(matches.c.id)
                )
            ).all()
            if not rows or rows[0].story_id is None:
                return None
            outlets = await _story_sources(conn, [rows[0].story_id])
        return _story_matches(rows, outlets)[0]

    # --- the delivery cycle -------------------------------------------------------------

    async def recover(self) -> int:
        """Put deliveries a crash left `sending` back to `pending`; returns how many.

        Such a row may or may not have reached the platform: it is sent again (with the
        same nonce), the one window in which a message can arrive twice.
        """
        async with self.engine.begin() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(deliveries.c.state == DeliveryState.SENDING)
                .values(state=DeliveryState.PENDING)
            )
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
            return [_delivery(r) for r in (await conn.execute(query)).all()]

    async def claim(self, delivery_id: int, now: datetime) -> Delivery | None:
        """Mark a pending delivery `sending` (one more attempt) and return it as it is now
        (`first_attempt_at` is `now` for a first attempt), or None if it was not pending
        any more."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id, deliveries.c.state == DeliveryState.PENDING)
                .values(
                    state=DeliveryState.SENDING,
                    attempts=deliveries.c.attempts + 1,
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
        return _delivery(row)

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

    async def counts(self) -> dict[str, int]:
        """Deliveries by state (for health and metrics)."""
        query = sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
        async with self.engine.connect() as conn:
            return {state: int(n) for state, n in (await conn.execute(query)).all()}

    async def recent_failures(self, limit: int = 10) -> list[Delivery]:
        """The latest failed deliveries, newest first (for `wirewatch subscriptions`)."""
        query = (
            sa.select(deliveries)
            .where(deliveries.c.state == DeliveryState.FAILED)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_delivery(r) for r in (await conn.execute(query)).all()]

    async def deliveries_of(self, kind: str | None = None) -> list[Delivery]:
        """Every delivery (of one kind, if given), by id: for tests and `wirewatch outbox`."""
        query = sa.select(deliveries).order_by(deliveries.c.id)
        if kind is not None:
            query = query.where(deliveries.c.kind == kind)
        async with self.engine.connect() as conn:
            return [_delivery(r) for r in (await conn.execute(query)).all()]


# --- routing steps ---------------------------------------------------------------------


async def _assign_stories(
    conn: AsyncConnection, rows: Sequence[sa.Row[Any]], index: StoryIndex
) -> dict[int, int]:
    """Item id → story id for the items of `rows`, creating stories for new headlines."""
    assigned: dict[int, int] = {}
    for row in rows:
        if row.item_id in assigned:
            continue
        story = row.story_id or index.find(row.title, row.first_seen)
        if story is None:
            result = await conn.execute(
                stories.insert()
                .values(title=row.title, first_seen=row.first_seen)
                .returning(stories.c.id)
            )
            story = int(result.scalar_one())
        if row.story_id is None:
            await conn.execute(
                items.update().where(items.c.id == row.item_id).values(story_id=story)
            )
            index.add(story, row.title, row.first_seen)
        assigned[row.item_id] = story
    return assigned


async def _alert_subscriptions(conn: AsyncConnection) -> list[Subscription]:
    query = sa.select(subscriptions).where(
        subscriptions.c.active.is_(True),
        subscriptions.c.disabled_reason.is_(None),
        subscriptions.c.alerts.is_(True),
    )
    return [_subscription(r) for r in (await conn.execute(query.order_by(subscriptions.c.id)))]


async def _queue_alerts(
    conn: AsyncConnection,
    rows: Sequence[sa.Row[Any]],
    stories_of: Mapping[int, int],
    subs: Sequence[Subscription],
    build_alert: BuildAlert,
    now: datetime,
) -> int:
    """Queue one alert per (channel, story) for the alert-level matches in `rows`; each
    carries its subscription's `mention_role`, if any."""
    if not subs:
        return 0
    by_item: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    for row in rows:
        if row.reportable and row.alert:
            by_item[row.item_id].append(row)
    outlets = await _story_sources(conn, {stories_of[i] for i in by_item})
    queued: list[dict[str, Any]] = []
    for item_id, item_rows in by_item.items():
        story = stories_of[item_id]
        for sub in subs:
            chosen = [
                r for r in item_rows if r.watchlist in sub.watchlists and r.score >= sub.min_score
            ]
            if not chosen:
                continue
            quiet = quiet_until(sub.quiet_hours, sub.timezone, now)
            if quiet is not None and sub.digest is not None:
                continue  # the next digest carries it
            (view,) = _story_matches(chosen, outlets, stories_of)
            alert = replace(build_alert(view), mention_role=sub.mention_role)
            queued.append(
                _delivery_row(
                    sub.id,
                    sub.channel,
                    "alert",
                    f"alert:{sub.channel}:{story}",
                    story,
                    message_to_json(alert),
                    quiet or now,
                    now,
                )
            )
    return await _insert_ignore(conn, queued)


async def _story_sources(conn: AsyncConnection, story_ids: Iterable[int]) -> dict[int, list[str]]:
    """Story id → the sources of its items, first seen first."""
    out: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(story_ids)):
        query = (
            sa.select(items.c.story_id, items.c.source)
            .where(items.c.story_id.in_(chunk))
            .order_by(items.c.id)
        )
        for story_id, source in (await conn.execute(query)).all():
            if source not in out[story_id]:
                out[story_id].append(source)
    return out


def _story_matches(
    rows: Sequence[sa.Row[Any]],
    outlets: Mapping[int, list[str]],
    stories_of: Mapping[int, int] | None = None,
) -> tuple[StoryMatch, ...]:
    """Rows of (match, item) → one StoryMatch per story: its first item leads, the best
    match per watchlist is kept, and the other outlets are `also`. The story of each
    row is `stories_of[item id]` when given (rows read before routing), else its own."""
    by_story: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    for row in rows:
        by_story[stories_of[row.item_id] if stories_of else row.story_id].append(row)
    views = []
    for story_id, story_rows in by_story.items():
        lead = min(story_rows, key=lambda r: r.item_id)
        best: dict[str, sa.Row[Any]] = {}
        for r in story_rows:
            if r.watchlist not in best or r.score > best[r.watchlist].score:
                best[r.watchlist] = r
        ranked = sorted(best.values(), key=lambda r: -r.score)
        item = stored_item(lead).item
        views.append(
            StoryMatch(
                story_id=story_id,
                item=item,
                first_seen=lead.first_seen,
                matches=tuple(
                    Match(
                        r.watchlist,
                        r.score,
                        r.alert,
                        tuple(evidence_from_json(e) for e in r.evidence),
                    )
                    for r in ranked
                ),
                also=tuple(s for s in outlets.get(story_id, ()) if s != item.source),
            )
        )
    return tuple(views)


# --- small SQL helpers -------------------------------------------------------------------


def _delivery_row(
    subscription_id: int,
    channel: str,
    kind: str,
    dedupe: str,
    story_id: int | None,
    payload: dict[str, Any] | None,
    at: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "channel": channel,
        "kind": kind,
        "dedupe": dedupe,
        "story_id": story_id,
        "payload": payload,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": now,
    }


async def _insert_ignore(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping any whose dedupe key exists; returns how many went in."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    if dialect == "sqlite":
        statement: Any = sqlite.insert(deliveries).on_conflict_do_nothing(index_elements=["dedupe"])
    elif dialect == "postgresql":
        statement = postgresql.insert(deliveries).on_conflict_do_nothing(index_elements=["dedupe"])
    else:
        raise RuntimeError(f"unsupported database {dialect}")
    inserted = 0
    for row in rows:  # one by one: executemany does not report rows skipped on conflict
        inserted += int((await conn.execute(statement, row)).rowcount or 0)
    return inserted


def _runtime_key(channel: str, watchlist: str, mode: str) -> str:
    """The key of `channel`'s runtime subscription to `watchlist` in `mode` (alerts, digest)."""
    return f"runtime:{channel}:{watchlist}:{mode}"


async def _last_match_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.max(matches.c.id)))).scalar() or 0)


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
    return await _last_match_id(conn)


def _chunks(values: Sequence[int], size: int = 400) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


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
        "active": True,
        "next_digest_at": next_fire(config.digest, config.timezone, now) if config.digest else None,
    }


def _subscription(row: sa.Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        key=row.key,
        channel=row.channel,
        watchlists=tuple(row.watchlists),
        alerts=row.alerts,
        digest=row.digest,
        timezone=row.timezone,
        min_score=row.min_score,
        quiet_hours=row.quiet_hours,
        nothing_new=row.nothing_new,
        origin=row.origin,
        active=row.active,
        disabled_reason=row.disabled_reason,
        digest_watermark=row.digest_watermark,
        next_digest_at=row.next_digest_at,
        last_digest_at=row.last_digest_at,
        mention_role=row.mention_role,
    )


def _delivery(row: sa.Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        subscription_id=row.subscription_id,
        channel=row.channel,
        kind=row.kind,
        story_id=row.story_id,
        payload=row.payload,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        last_error=row.last_error,
        message_id=row.message_id,
        window_end=row.window_end,
        parts_sent=row.parts_sent,
        first_attempt_at=row.first_attempt_at,
    )
