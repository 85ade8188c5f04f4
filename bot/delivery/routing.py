"""The router groups stored matches into stories and queues the alerts they earn,
marking the matches routed in the same transaction.

Matches are *routed* after they are stored: grouped into stories, their alerts
queued and `routed_at` set, in one transaction. A crash between storing and routing
leaves them unrouted, and the next routing picks them up. Routing goes in bounded
batches, so a backlog can be routed a part at a time.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.chat.message import Message, message_to_json
from bot.core.cron import quiet_until
from bot.core.models import StoryMatch, Subscription
from bot.delivery.followups import queue_followups
from bot.delivery.rows import (
    alert_key,
    alerts_for,
    insert_new,
    pending_delivery,
    story_matches,
    story_sources,
    to_subscription,
)
from bot.matching.stories import StoryIndex
from bot.storage.schema import items, matches, stories, subscriptions

ROUTE_BATCH = 500  # matches routed per transaction at most
_PROVISIONAL = 1 << 62  # story ids in the index until the new stories are stored
BuildAlert = Callable[[StoryMatch], Message]
DEFAULT_FOLLOWUP_INTERVAL = timedelta(minutes=10)  # delivery.followups_min_interval


@dataclass(frozen=True, slots=True)
class Routed:
    """What one `Router.route` did: matches routed, alerts queued, and whether it stopped
    at its limit with matches possibly left unrouted."""

    matches: int
    alerts: int
    more: bool


@dataclass(frozen=True, slots=True)
class Router:
    """Story routing on the store's engine: matches → stories → alerts."""

    engine: AsyncEngine

    async def load_story_index(self, index: StoryIndex, since: datetime) -> None:
        """Fill `index` with the stories of items first seen since `since`."""
        query = (
            sa.select(items.c.story_id, items.c.title, items.c.first_seen)
            .where(items.c.story_id.is_not(None), items.c.first_seen >= since)
            # in the first_seen index's order: SQLite reads only that index's range (by id
            # it scanned the whole items table, a second at 5 million)
            .order_by(items.c.first_seen, items.c.id)
        )
        async with self.engine.connect() as conn:
            for row in (await conn.execute(query)).all():
                index.add(row.story_id, row.title, row.first_seen)

    async def route(
        self,
        index: StoryIndex,
        build_alert: BuildAlert,
        now: datetime,
        *,
        limit: int | None = None,
        followup_interval: timedelta = DEFAULT_FOLLOWUP_INTERVAL,
    ) -> Routed:
        """Route unrouted matches, oldest first: group each item into a story and queue
        the alerts it earns, and follow-ups of the alerts already queued for stories
        that gained a report (due `followup_interval` after the alert last changed),
        one transaction per ROUTE_BATCH matches (the event loop runs other tasks between
        two), `limit` matches at most (None: all)."""
        routed = queued = 0
        while limit is None or routed < limit:
            size = ROUTE_BATCH if limit is None else min(ROUTE_BATCH, limit - routed)
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        sa.select(matches, items)
                        .join(items, items.c.id == matches.c.item_id)
                        .where(matches.c.routed_at.is_(None))
                        .order_by(matches.c.id)
                        .limit(size)
                    )
                ).all()
                if not rows:
                    return Routed(routed, queued, more=False)
                stories_of = await _assign_stories(conn, rows, index)
                subs = await _alert_subscriptions(conn)
                fresh = await _queue_alerts(conn, rows, stories_of, subs, build_alert, now)
                queued += len(fresh)
                await queue_followups(conn, rows, stories_of, subs, now, followup_interval, fresh)
                await conn.execute(
                    matches.update()
                    .where(matches.c.id.in_([r.id for r in rows]))
                    .values(routed_at=now)
                )
            routed += len(rows)
            if len(rows) < size:
                return Routed(routed, queued, more=False)
            await asyncio.sleep(0)
        return Routed(routed, queued, more=True)


# --- routing steps ---------------------------------------------------------------------


async def _assign_stories(
    conn: AsyncConnection, rows: Sequence[sa.Row[Any]], index: StoryIndex
) -> dict[int, int]:
    """Item id → story id for the items of `rows`, creating stories for new headlines.

    The items are grouped in memory first, a new story under a provisional id (above
    every stored id, in order, as its id once stored will be: `find` prefers the
    higher of two stories last seen at once); then the new stories are inserted and
    the items updated in one statement each.
    """
    assigned: dict[int, int] = {}
    new_stories: list[sa.Row[Any]] = []  # the first item of each, by provisional id
    for row in rows:  # (a failure from here on: the dispatcher reloads the index)
        if row.item_id in assigned:
            continue
        story = row.story_id or index.find(row.title, row.first_seen)
        if story is None:
            story = _PROVISIONAL + len(new_stories)
            new_stories.append(row)
        if row.story_id is None:
            index.add(story, row.title, row.first_seen)
        assigned[row.item_id] = story
    stored = await _insert_stories(conn, new_stories) if new_stories else []
    for n, story_id in enumerate(stored):
        index.rename(_PROVISIONAL + n, story_id)
    assigned = {
        item: stored[story - _PROVISIONAL] if story >= _PROVISIONAL else story
        for item, story in assigned.items()
    }
    updates = [
        {"item": row.item_id, "story": assigned[row.item_id]}
        for row in {r.item_id: r for r in rows if r.story_id is None}.values()
    ]
    if updates:
        await conn.execute(
            items.update()
            .where(items.c.id == sa.bindparam("item"))
            .values(story_id=sa.bindparam("story")),
            updates,
        )
    return assigned


async def _insert_stories(conn: AsyncConnection, firsts: Sequence[sa.Row[Any]]) -> list[int]:
    """Insert one story per item of `firsts` (titled and first seen as it); returns their
    ids in order.

    One statement: RETURNING in an order the database does not promise is read back
    by title and time (two stories alike in both are interchangeable).
    """
    result = await conn.execute(
        stories.insert().returning(stories.c.id, stories.c.title, stories.c.first_seen),
        [{"title": r.title, "first_seen": r.first_seen} for r in firsts],
    )
    ids: defaultdict[tuple[str, datetime], list[int]] = defaultdict(list)
    for story_id, title, first_seen in result:
        ids[title, first_seen].append(int(story_id))
    for found in ids.values():
        found.sort(reverse=True)  # popped lowest first
    return [ids[r.title, r.first_seen].pop() for r in firsts]


async def _alert_subscriptions(conn: AsyncConnection) -> list[Subscription]:
    query = sa.select(subscriptions).where(
        subscriptions.c.active.is_(True),
        subscriptions.c.disabled_reason.is_(None),
        subscriptions.c.alerts.is_(True),
    )
    return [to_subscription(r) for r in (await conn.execute(query.order_by(subscriptions.c.id)))]


async def _queue_alerts(
    conn: AsyncConnection,
    rows: Sequence[sa.Row[Any]],
    stories_of: Mapping[int, int],
    subs: Sequence[Subscription],
    build_alert: BuildAlert,
    now: datetime,
) -> set[str]:
    """Queue one alert per (channel, story) for the alert-level matches in `rows`; each
    carries its subscription's `mention_role`, if any. Returns the dedupe keys of the
    alerts queued now (not those queued before)."""
    if not subs:
        return set()
    by_item: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    for row in rows:
        if row.reportable and row.alert:
            by_item[row.item_id].append(row)
    outlets = await story_sources(conn, {stories_of[i] for i in by_item})
    quiet = {sub.id: quiet_until(sub.quiet_hours, sub.timezone, now) for sub in subs}
    queued: dict[str, dict[str, Any]] = {}  # by dedupe key: the first is the one inserted
    for item_id, item_rows in by_item.items():
        story = stories_of[item_id]
        for sub in subs:
            dedupe = alert_key(sub.channel, story)
            if dedupe in queued:
                continue
            chosen = [r for r in item_rows if alerts_for(sub, r)]
            if not chosen:
                continue
            until = quiet[sub.id]
            if until is not None and sub.digest is not None:
                continue  # the next digest carries it
            (view,) = story_matches(chosen, outlets, stories_of)
            alert = replace(build_alert(view), timezone=sub.timezone)
            if sub.mention_role is not None:
                alert = replace(alert, mention_role=sub.mention_role)
            queued[dedupe] = pending_delivery(
                sub.id, sub.channel, "alert", dedupe, story, message_to_json(alert),
                until or now, now,
            )  # fmt: skip
    return await insert_new(conn, list(queued.values()))
