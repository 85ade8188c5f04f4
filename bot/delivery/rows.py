"""This module turns rows of the outbox's tables into models and back, and holds the SQL
that subscriptions, routing, digests and the delivery queue share.

Here: a subscription or delivery row as its model, a new pending delivery inserted once
by its `dedupe` key, the last match id, and matches with their items read as one
StoryMatch per story.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.models import Delivery, DeliveryState, Match, StoryMatch, Subscription
from bot.storage.schema import deliveries, items, matches
from bot.storage.store import evidence_from_json, stored_item


def pending_delivery(
    subscription_id: int,
    channel: str,
    kind: str,
    dedupe: str,
    story_id: int | None,
    payload: dict[str, Any] | None,
    at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """A new outbox row, pending and due at `at`, for `insert_ignore`."""
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


async def insert_ignore(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping any whose dedupe key exists; returns how many went in."""
    return len(await insert_new(conn, rows))


async def insert_new(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert outbox rows, skipping any whose dedupe key exists; returns the dedupe keys
    of those that went in."""
    if not rows:
        return set()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        statement: Any = sqlite.insert(deliveries).on_conflict_do_nothing(index_elements=["dedupe"])
    elif dialect == "postgresql":
        statement = postgresql.insert(deliveries).on_conflict_do_nothing(index_elements=["dedupe"])
    else:
        raise RuntimeError(f"unsupported database {dialect}")
    # one statement for all ("insertmanyvalues"); RETURNING names the rows that went in
    result = await conn.execute(statement.returning(deliveries.c.dedupe), list(rows))
    return {str(dedupe) for dedupe in result.scalars()}


async def last_match_id(conn: AsyncConnection) -> int:
    """The highest match id stored, 0 if none."""
    return int((await conn.execute(sa.select(sa.func.max(matches.c.id)))).scalar() or 0)


def alert_key(channel: str, story: int) -> str:
    """The dedupe key of `story`'s alert to `channel`: one alert per (channel, story)."""
    return f"alert:{channel}:{story}"


def alerts_for(sub: Subscription, match: sa.Row[Any]) -> bool:
    """Whether `sub` is alerted of a match row: its watchlist, scored at least its
    `min_score`."""
    return bool(match.watchlist in sub.watchlists and match.score >= sub.min_score)


def chunks(values: Sequence[int], size: int = 400) -> Iterable[Sequence[int]]:
    """`values` in slices of `size`, short enough for one `IN (...)` each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def story_sources(conn: AsyncConnection, story_ids: Iterable[int]) -> dict[int, list[str]]:
    """Story id → the sources of its items, first seen first."""
    out: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks(sorted(story_ids)):
        query = (
            sa.select(items.c.story_id, items.c.source)
            .where(items.c.story_id.in_(chunk))
            .order_by(items.c.id)
        )
        for story_id, source in (await conn.execute(query)).all():
            if source not in out[story_id]:
                out[story_id].append(source)
    return out


def story_matches(
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


def to_subscription(row: sa.Row[Any]) -> Subscription:
    """A row of `subscriptions` as its model."""
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
        followups=row.followups,
    )


def to_delivery(row: sa.Row[Any]) -> Delivery:
    """A row of `deliveries` as its model."""
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
        parent_id=row.parent_id,
        thread_id=row.thread_id,
    )
