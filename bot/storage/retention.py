"""Retention: old rows deleted in small batches, and the space they held reclaimed.

What goes, and when (`RetentionPolicy`):

- items that matched nothing, first seen longer than `items` ago;
- matched items (with their matches), first seen longer than `matches` ago, and then
  stories older than that with no item left;
- outbox rows finished (sent, failed, superseded, empty) and created longer than
  `deliveries` ago;
- seen keys (below) whose feed has parsed a body without them since, and that were last
  seen longer than `seen_keys` ago.

A pruned item leaves its seen key (feed, key, canonical URL) behind, which the store's
de-duplication reads like an item: a feed that still carries the item does not make it
new again. The key is marked seen whenever a parsed body holds it, and goes only once
its feed has parsed a body without it (`feeds.last_parsed_at` after its `seen_at`).

Never deleted, whatever their age: a match not routed yet, or not yet covered by the
digest of an active digest subscription (above its watermark); an item or story that an
unfinished delivery (pending, sending, or failed and so retryable by a restart) or an
open story (an item within `story_window`) still needs; a finished delivery of an open
story (its row is what keeps the story from being alerted twice); and the row with the
highest id of each table, so that SQLite never hands a deleted id out again.

Each batch is one short transaction; the event loop runs other tasks between two, and a
running bot's writer waits at most one batch for SQLite's write lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.models import DeliveryState
from bot.storage.schema import deliveries, feeds, items, matches, seen_keys, stories, subscriptions

BATCH = 500  # rows one batch deletes at most
VACUUM_STEP = 2048  # free pages one `PRAGMA incremental_vacuum` step returns to the system
# outbox rows in a final state, deleted after `deliveries`
_DONE = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SUPERSEDED, DeliveryState.EMPTY)
# rows that may still be sent (a restart queues failed ones again): their stories stay
_MAY_SEND = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.FAILED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of row is kept; None keeps it for ever."""

    items: timedelta | None = timedelta(days=90)
    matches: timedelta | None = timedelta(days=730)
    deliveries: timedelta | None = timedelta(days=180)
    seen_keys: timedelta = timedelta(days=30)
    story_window: timedelta = timedelta(hours=48)  # a story takes new items this long
    batch: int = BATCH


@dataclass(frozen=True, slots=True)
class Pruned:
    """Rows deleted (or, in a dry run, that would be) by kind, and pages reclaimed."""

    items: int = 0  # items that matched nothing
    matched_items: int = 0  # matched items, with their matches
    stories: int = 0
    deliveries: int = 0
    seen_keys: int = 0  # seen keys of pruned items, expired
    pages: int = 0  # SQLite pages returned to the file system

    @property
    def rows(self) -> int:
        """Rows deleted in all."""
        return self.items + self.matched_items + self.stories + self.deliveries + self.seen_keys


KINDS = tuple(f.name for f in fields(Pruned) if f.name != "pages")
Progress = Callable[[str, int], None]  # (kind, rows so far of that kind), after each batch


@dataclass(frozen=True, slots=True)
class _Guards:
    """What a pass must not delete, read once at its start."""

    now: datetime
    max_item: int
    max_story: int
    max_delivery: int
    match_floor: int  # matches above this id are kept
    open_stories: frozenset[int]
    needed_stories: frozenset[int]  # open, or wanted by an unfinished delivery


@dataclass(frozen=True, slots=True)
class Pruner:
    """Retention on the store's engine."""

    engine: AsyncEngine
    policy: RetentionPolicy = RetentionPolicy()
    pause: float = 0.0  # seconds between two batches (a running bot lets its writer in)

    async def prune(
        self, now: datetime, *, dry_run: bool = False, progress: Progress | None = None
    ) -> Pruned:
        """Delete what the policy lets go, batch by batch, then (SQLite in incremental
        auto_vacuum mode) reclaim the free pages. With `dry_run`, count what would be
        deleted and delete nothing."""
        guards = await self._guards(now)
        done = Pruned()
        # a dry run deletes nothing: the items it would delete are remembered, so that
        # the stories they would leave empty are counted
        gone: set[int] | None = set() if dry_run else None
        passes: list[tuple[str, _Pass, _Delete]] = [
            ("deliveries", self._deliveries, _delete_deliveries),
            ("items", self._unmatched_items, _delete_items),
            ("matched_items", self._matched_items, _delete_items),
            ("stories", self._stories, _delete_stories),
            ("seen_keys", self._seen_keys, _delete_seen_keys),
        ]
        for kind, batches, delete in passes:
            count = 0
            async for ids in batches(guards, gone):
                if gone is None:
                    async with self.engine.begin() as conn:
                        await delete(conn, ids, now)
                elif kind in ("items", "matched_items"):
                    gone.update(ids)
                count += len(ids)
                if progress is not None:
                    progress(kind, count)
                await asyncio.sleep(self.pause)
            done = replace(done, **{kind: count})
        if not dry_run:
            done = replace(done, pages=await self.reclaim())
        return done

    async def reclaim(self) -> int:
        """Return SQLite's free pages to the file system, a step at a time (incremental
        auto_vacuum mode only; returns the pages freed). PostgreSQL: nothing to do here,
        its autovacuum makes deleted rows' space reusable."""
        if self.engine.dialect.name != "sqlite" or await self.auto_vacuum() != "incremental":
            return 0
        freed = 0
        while True:
            async with self.engine.begin() as conn:
                free = int((await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())
                if not free:
                    return freed
                await conn.exec_driver_sql(f"PRAGMA incremental_vacuum({VACUUM_STEP})")
                freed += free - int(
                    (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one()
                )
            await asyncio.sleep(self.pause)

    async def auto_vacuum(self) -> str | None:
        """SQLite's auto_vacuum mode (`none`, `full`, `incremental`); None on PostgreSQL."""
        if self.engine.dialect.name != "sqlite":
            return None
        async with self.engine.connect() as conn:
            mode = int((await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar_one())
        return ("none", "full", "incremental")[mode]

    async def vacuum(self) -> None:
        """Rewrite the whole database: SQLite in incremental auto_vacuum mode from now on,
        every free page returned; PostgreSQL's VACUUM. Holds SQLite's write lock for the
        whole rewrite: for a stopped bot (`wirewatch prune --vacuum`)."""
        async with self.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "sqlite":
                await autocommit.exec_driver_sql("PRAGMA auto_vacuum=INCREMENTAL")
            await autocommit.exec_driver_sql("VACUUM")

    # --- what each pass deletes, in batches of ids -------------------------------------

    async def _guards(self, now: datetime) -> _Guards:
        async with self.engine.connect() as conn:

            async def top(column: sa.Column[Any]) -> int:
                return int((await conn.execute(sa.select(sa.func.max(column)))).scalar() or 0)

            max_match = await top(matches.c.id)
            watermark = (
                await conn.execute(
                    sa.select(sa.func.min(subscriptions.c.digest_watermark)).where(
                        subscriptions.c.active.is_(True), subscriptions.c.digest.is_not(None)
                    )
                )
            ).scalar()
            open_stories = frozenset(
                (
                    await conn.execute(
                        sa.select(items.c.story_id)
                        .where(
                            items.c.first_seen >= now - self.policy.story_window,
                            items.c.story_id.is_not(None),
                        )
                        .distinct()
                    )
                ).scalars()
            )
            wanted = frozenset(
                (
                    await conn.execute(
                        sa.select(deliveries.c.story_id)
                        .where(
                            deliveries.c.state.in_(_MAY_SEND),
                            deliveries.c.story_id.is_not(None),
                        )
                        .distinct()
                    )
                ).scalars()
            )
            return _Guards(
                now=now,
                max_item=await top(items.c.id),
                max_story=await top(stories.c.id),
                max_delivery=await top(deliveries.c.id),
                match_floor=min(max_match - 1, max_match if watermark is None else watermark),
                open_stories=open_stories,
                needed_stories=open_stories | wanted,
            )

    async def _deliveries(
        self, guards: _Guards, _gone: set[int] | None
    ) -> AsyncIterator[list[int]]:
        if self.policy.deliveries is None:
            return
        cutoff = guards.now - self.policy.deliveries
        query = sa.select(deliveries.c.id, deliveries.c.story_id).where(
            deliveries.c.state.in_(_DONE),
            deliveries.c.created_at < cutoff,
            deliveries.c.id < guards.max_delivery,
        )
        async for rows in self._by_id(query, deliveries.c.id):
            yield [r.id for r in rows if r.story_id not in guards.open_stories]

    async def _unmatched_items(
        self, guards: _Guards, _gone: set[int] | None
    ) -> AsyncIterator[list[int]]:
        if self.policy.items is None:
            return
        query = sa.select(items.c.id, items.c.first_seen, items.c.story_id).where(
            items.c.first_seen < guards.now - self.policy.items,
            items.c.id < guards.max_item,
            items.c.story_id.is_(None),
            ~sa.exists().where(matches.c.item_id == items.c.id),
        )
        async for rows in self._by_first_seen(query):
            yield [r.id for r in rows]

    async def _matched_items(
        self, guards: _Guards, _gone: set[int] | None
    ) -> AsyncIterator[list[int]]:
        if self.policy.matches is None:
            return
        kept = sa.exists().where(
            matches.c.item_id == items.c.id,
            sa.or_(matches.c.routed_at.is_(None), matches.c.id > guards.match_floor),
        )
        query = sa.select(items.c.id, items.c.first_seen, items.c.story_id).where(
            items.c.first_seen < guards.now - self.policy.matches,
            items.c.id < guards.max_item,
            ~kept,
        )
        async for rows in self._by_first_seen(query):
            yield [r.id for r in rows if r.story_id not in guards.needed_stories]

    async def _stories(self, guards: _Guards, gone: set[int] | None) -> AsyncIterator[list[int]]:
        """Old stories with no item left (in a dry run: none but items in `gone`)."""
        if self.policy.matches is None:
            return
        query = sa.select(stories.c.id).where(
            stories.c.first_seen < guards.now - self.policy.matches,
            stories.c.id < guards.max_story,
        )
        if gone is None:
            query = query.where(
                ~sa.exists().where(items.c.story_id.is_not(None), items.c.story_id == stories.c.id)
            )
        async for rows in self._by_id(query, stories.c.id):
            ids = [r.id for r in rows if r.id not in guards.needed_stories]
            if gone is not None and ids:
                async with self.engine.connect() as conn:
                    held = (
                        await conn.execute(
                            sa.select(items.c.story_id, items.c.id).where(items.c.story_id.in_(ids))
                        )
                    ).all()
                kept = {story for story, item in held if item not in gone}
                ids = [story for story in ids if story not in kept]
            yield ids

    async def _seen_keys(self, guards: _Guards, _gone: set[int] | None) -> AsyncIterator[list[int]]:
        query = (
            sa.select(seen_keys.c.id)
            .join(feeds, feeds.c.id == seen_keys.c.feed_id)
            .where(
                seen_keys.c.seen_at < guards.now - self.policy.seen_keys,
                feeds.c.last_parsed_at.is_not(None),
                seen_keys.c.seen_at < feeds.c.last_parsed_at,
            )
        )
        async for rows in self._by_id(query, seen_keys.c.id):
            yield [r.id for r in rows]

    async def _by_id(
        self, query: sa.Select[Any], id_column: sa.Column[int]
    ) -> AsyncIterator[Sequence[sa.Row[Any]]]:
        """The rows of `query` in batches, in id order (read each in its own connection:
        a batch may be deleted before the next is read)."""
        after = 0
        while True:
            page = query.where(id_column > after).order_by(id_column).limit(self.policy.batch)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(page)).all()
            if not rows:
                return
            after = rows[-1].id
            yield rows
            if len(rows) < self.policy.batch:
                return

    async def _by_first_seen(self, query: sa.Select[Any]) -> AsyncIterator[Sequence[sa.Row[Any]]]:
        """The item rows of `query` in batches, oldest first by the first_seen index."""
        after: tuple[datetime, int] = (_EPOCH, 0)
        while True:
            seen, last_id = after
            page = (
                query.where(
                    items.c.first_seen >= seen,
                    ~sa.and_(items.c.first_seen == seen, items.c.id <= last_id),
                )
                .order_by(items.c.first_seen, items.c.id)
                .limit(self.policy.batch)
            )
            async with self.engine.connect() as conn:
                rows = (await conn.execute(page)).all()
            if not rows:
                return
            after = (rows[-1].first_seen, rows[-1].id)
            yield rows
            if len(rows) < self.policy.batch:
                return


# --- deleting one batch (inside its transaction) ----------------------------------------

_Delete = Callable[[AsyncConnection, list[int], datetime], Any]
_Pass = Callable[[_Guards, set[int] | None], AsyncIterator[list[int]]]


async def _delete_deliveries(conn: AsyncConnection, ids: list[int], _now: datetime) -> None:
    if ids:
        await conn.execute(deliveries.delete().where(deliveries.c.id.in_(ids)))


async def _delete_items(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    """Delete items and their matches, leaving each item's seen key behind."""
    if not ids:
        return
    seen_at = sa.literal(now, seen_keys.c.seen_at.type)
    keys = sa.select(items.c.feed_id, items.c.key, items.c.url, seen_at)
    keys = keys.where(items.c.id.in_(ids))
    insert: Any = (sqlite if conn.dialect.name == "sqlite" else postgresql).insert(seen_keys)
    await conn.execute(
        insert.from_select(["feed_id", "key", "url", "seen_at"], keys).on_conflict_do_nothing()
    )
    await conn.execute(matches.delete().where(matches.c.item_id.in_(ids)))
    await conn.execute(items.delete().where(items.c.id.in_(ids)))


async def _delete_stories(conn: AsyncConnection, ids: list[int], _now: datetime) -> None:
    if ids:
        await conn.execute(stories.delete().where(stories.c.id.in_(ids)))


async def _delete_seen_keys(conn: AsyncConnection, ids: list[int], _now: datetime) -> None:
    if ids:
        await conn.execute(seen_keys.delete().where(seen_keys.c.id.in_(ids)))
