"""The only module that speaks SQL: feeds, items and matches, behind a narrow interface.

SQLAlchemy Core on an async engine: SQLite (WAL) by default, PostgreSQL (asyncpg) by URL.
A single writer (the pipeline) calls the write methods; readers may run alongside.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.core.models import (
    Evidence,
    FeedSpec,
    FeedState,
    Item,
    Match,
    Outcome,
    PollResult,
    Schedule,
    StoredItem,
)
from bot.storage.database_url import async_database_url
from bot.storage.schema import feeds, items, matches, migrate, seen_keys
from bot.storage.turns import FEED_LIST, RECORD_POLLS, take_turn

_CHUNK = 400  # bound parameters per IN (...) query, under every backend's limit
MANAGED_ORIGINS = ("default", "config", "watchlist")  # origins re-declared at each start
OPERATOR_DISABLED = "disabled by an operator"  # the disabled_reason `set_enabled` writes
# an item key or URL longer than this (UTF-8) is not stored as it is: PostgreSQL refuses
# unique-index entries over 2704 bytes, and SQLite must keep exactly what PostgreSQL keeps
INDEXED_BYTES = 2000
_SURELY_INDEXABLE = INDEXED_BYTES // 4  # characters: UTF-8 takes at most 4 bytes for one


def open_engine(url: str) -> AsyncEngine:
    """An async engine on `url` (any form `async_database_url` takes), configured as the
    bot uses it: SQLite in WAL with foreign keys on, its folder created; PostgreSQL with
    connections checked before use, so a server restart costs no failed query."""
    url = async_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


class Store:
    """Feeds, items and matches. Open with `await Store.open(url)`; close with `close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect (see `open_engine`) and apply pending migrations."""
        engine = open_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(migrate)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()

    # --- feeds -------------------------------------------------------------------------

    async def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> None:
        """Make the managed feeds (default, config, watchlist) exactly `specs`.

        New URLs are added, known ones updated, and managed feeds no longer declared are
        deactivated (their history is kept). Feeds imported from OPML are left alone.
        """
        async with self.engine.begin() as conn:
            await take_turn(conn, FEED_LIST)  # workers starting at once insert each URL once
            known = {r.url: r for r in (await conn.execute(sa.select(feeds))).all()}
            declared = {spec.url for spec in specs}
            new = [_spec_values(s) | {"created_at": now} for s in specs if s.url not in known]
            changed = [
                _spec_values(s) | {"feed_id": known[s.url].id}
                for s in specs
                if s.url in known
                and (known[s.url].origin in MANAGED_ORIGINS or not known[s.url].active)
            ]
            if new:
                await conn.execute(feeds.insert(), new)
            if changed:
                await conn.execute(
                    feeds.update().where(feeds.c.id == sa.bindparam("feed_id")), changed
                )
            stale = [
                r.id
                for r in known.values()
                if r.origin in MANAGED_ORIGINS and r.url not in declared and r.active
            ]
            if stale:
                await conn.execute(feeds.update().where(feeds.c.id.in_(stale)).values(active=False))

    async def add_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> list[str]:
        """Add feeds the bot keeps by itself (OPML imports, `feeds add`, `/news feeds add`);
        returns the URLs that were new (or inactive, and now active again)."""
        added = []
        async with self.engine.begin() as conn:
            await take_turn(conn, FEED_LIST)
            known = {
                r.url: r
                for r in (
                    await conn.execute(sa.select(feeds.c.url, feeds.c.id, feeds.c.active))
                ).all()
            }
            for spec in specs:
                row = known.get(spec.url)
                if row is None:
                    await conn.execute(feeds.insert().values(**_spec_values(spec), created_at=now))
                    added.append(spec.url)
                elif not row.active:
                    await conn.execute(
                        feeds.update().where(feeds.c.id == row.id).values(**_spec_values(spec))
                    )
                    added.append(spec.url)
        return added

    async def list_feeds(self, *, active_only: bool = False) -> list[FeedState]:
        """Every feed with its health, failing ones first, then by name."""
        query = sa.select(*_FEED_STATE_COLUMNS)
        if active_only:
            query = query.where(feeds.c.active.is_(True))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        states = [_feed_state(r) for r in rows]
        return sorted(states, key=lambda f: (-f.consecutive_failures, f.name.lower(), f.url))

    async def find_feed(self, url_or_id: str, *, by_id: bool = True) -> FeedState | None:
        """The active feed with this URL (as declared, or the permanent redirect target it
        is polled at), or (`by_id`) this id."""
        key = url_or_id.strip()
        match = sa.or_(feeds.c.url == key, feeds.c.fetch_url == key)
        if by_id and key.isdigit() and len(key) < 12:
            match = sa.or_(match, feeds.c.id == int(key))
        query = sa.select(*_FEED_STATE_COLUMNS).where(feeds.c.active.is_(True), match)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query.order_by(feeds.c.id).limit(1))).first()
        return _feed_state(row) if row is not None else None

    async def remove_feed(self, feed_id: int) -> None:
        """Stop polling a feed for good (it leaves every listing); its history is kept,
        and adding its URL again brings it back."""
        async with self.engine.begin() as conn:
            await conn.execute(feeds.update().where(feeds.c.id == feed_id).values(active=False))

    async def set_enabled(self, feed_id: int, enabled: bool) -> None:
        """Disable a feed (it stays listed, marked `OPERATOR_DISABLED`, and is not polled)
        or enable it again, also after a 410 Gone; enabled, it is due at once."""
        values: dict[str, Any] = {"disabled_reason": None if enabled else OPERATOR_DISABLED}
        if enabled:
            values |= {"next_poll_at": None, "hold_until": None}
        async with self.engine.begin() as conn:
            await conn.execute(feeds.update().where(feeds.c.id == feed_id).values(**values))

    async def due_feeds(self, now: datetime, *, ignore_schedule: bool = False) -> list[FeedState]:
        """Active, enabled feeds whose hold has passed and (unless ignored) whose slot has
        come, claimed or not (to read; a poll claims them: `claim_due_feeds`)."""
        query = sa.select(*_FEED_STATE_COLUMNS).where(_due(now, ignore_schedule))
        async with self.engine.connect() as conn:
            return [_feed_state(r) for r in (await conn.execute(query.order_by(feeds.c.id))).all()]

    async def claim_due_feeds(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        *,
        limit: int | None = None,
        ignore_schedule: bool = False,
    ) -> list[FeedState]:
        """Claim for `owner`, until `now + lease`, the due feeds no other worker holds
        (`limit` at most), and return them by id: active, enabled feeds whose hold has
        passed and (unless ignored) whose slot has come.

        Rows another worker is claiming at this moment are skipped, not waited for
        (PostgreSQL's `FOR UPDATE SKIP LOCKED`), so workers sharing a database never poll
        one feed at once. Storing a feed's poll (`record_polls`) ends its claim.
        """
        free = sa.or_(feeds.c.lease_until.is_(None), feeds.c.lease_until <= now)
        chosen = (
            sa.select(feeds.c.id)
            .where(_due(now, ignore_schedule), free)
            .order_by(feeds.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            feeds.update()
            .where(feeds.c.id.in_(chosen.scalar_subquery()))
            .values(lease_owner=owner, lease_until=now + lease)
            .returning(*_FEED_STATE_COLUMNS)
        )  # one statement, one round trip: claiming costs a cycle little
        async with self.engine.begin() as conn:
            claimed = [_feed_state(r) for r in (await conn.execute(claim)).all()]
        return sorted(claimed, key=lambda f: f.id)

    async def release_feeds(self, owner: str) -> int:
        """End `owner`'s feed claims (a worker stopping); returns how many ended."""
        query = feeds.update().where(feeds.c.lease_owner == owner, feeds.c.lease_until.is_not(None))
        async with self.engine.begin() as conn:
            result = await conn.execute(query.values(lease_owner=None, lease_until=None))
        return int(result.rowcount or 0)

    # --- polls and items -----------------------------------------------------------------

    async def record_polls(
        self, polls: Sequence[tuple[PollResult, Schedule]], max_item_age: timedelta
    ) -> tuple[list[tuple[StoredItem, Match]], Counter[int]]:
        """Store each poll's feed state, its new items and their matches, in one transaction.

        An item is new when neither its (feed, key) nor its canonical URL is stored yet,
        across all feeds, as an item or as the seen key of an item retention pruned. New
        items of a feed's first successful poll, and items published longer than
        `max_item_age` ago, are stored but not reportable. Returns every (new item, match)
        pair and the number of new items by feed id.
        """
        async with self.engine.begin() as conn:
            await take_turn(conn, RECORD_POLLS)  # two batches never both take one new item
            fresh = await _new_items(conn, polls, max_item_age)
            fresh = await _not_pruned(conn, fresh)
            await _insert_items(conn, fresh)
            matched = [(new, m) for new in fresh for m in new.matches]
            ids = await _ids_by_pair(
                conn, items, ((new.feed_id, new.item.key) for new, _ in matched)
            )
            found = [
                (StoredItem(ids[(f, i.key)], f, i, seen, reportable), m)
                for (f, i, seen, reportable, *_), m in matched
            ]
            new_by_feed = Counter(new.feed_id for new in fresh)
            update = _feeds_update(conn.dialect)
            rows = update.rows(_feed_after(p, sched, new_by_feed[p.feed.id]) for p, sched in polls)
            await conn.exec_driver_sql(update.sql, rows)
            if found:
                await conn.execute(matches.insert(), [_match_row(s, m) for s, m in found])
        return found, new_by_feed

    async def items_since(self, since: datetime) -> list[StoredItem]:
        """Stored items first seen at or after `since`, oldest first (for backtests)."""
        # in the order of the first_seen index, so that SQLite reads that index's range
        # (by id it scanned the whole table, to skip a sort)
        query = sa.select(items).where(items.c.first_seen >= since)
        query = query.order_by(items.c.first_seen, items.c.id)
        async with self.engine.connect() as conn:
            return [stored_item(r) for r in (await conn.execute(query)).all()]

    async def matched_item_ids(self, watchlist: str, since: datetime) -> set[int]:
        """Ids of items first seen since `since` that `watchlist` matched when they arrived."""
        query = (
            sa.select(matches.c.item_id)
            .join(items, items.c.id == matches.c.item_id)
            .where(matches.c.watchlist == watchlist, items.c.first_seen >= since)
        )
        async with self.engine.connect() as conn:
            return {r[0] for r in (await conn.execute(query)).all()}

    async def item_by_url(self, url: str) -> StoredItem | None:
        """The stored item with this canonical URL, if any."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(items).where(items.c.url == url))).first()
        return stored_item(row) if row is not None else None

    async def recent_items(
        self, since: datetime, watchlist: str | None = None, limit: int = 20_000
    ) -> list[tuple[StoredItem, int | None]]:
        """Items first seen since `since` (that `watchlist` matched, if given), newest first,
        each with its story id: what `search` ranks."""
        query = sa.select(items).where(items.c.first_seen >= since)
        if watchlist is not None:
            query = query.join(matches, matches.c.item_id == items.c.id).where(
                matches.c.watchlist == watchlist
            )
        # newest first along the first_seen index: SQLite stops after `limit` rows (by id
        # it scanned the whole table whenever fewer than `limit` were that recent)
        query = query.order_by(items.c.first_seen.desc(), items.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(stored_item(r), r.story_id) for r in rows]

    async def count_items(self) -> int:
        """How many items are stored."""
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(items))).scalar_one()
            )


def _due(now: datetime, ignore_schedule: bool) -> sa.ColumnElement[bool]:
    """Active, enabled feeds whose hold has passed and (unless ignored) whose slot has come."""
    due = sa.and_(
        feeds.c.active.is_(True),
        feeds.c.disabled_reason.is_(None),
        sa.or_(feeds.c.hold_until.is_(None), feeds.c.hold_until <= now),
    )
    if ignore_schedule:
        return due
    return sa.and_(due, sa.or_(feeds.c.next_poll_at.is_(None), feeds.c.next_poll_at <= now))


class _Fresh(NamedTuple):
    """A new item of a poll, not inserted yet (so without an id), and its matches."""

    feed_id: int
    item: Item
    first_seen: datetime
    reportable: bool
    matches: tuple[Match, ...]
    known_feed: bool  # the feed had a successful poll before (its keys can be compared)


async def _new_items(
    conn: AsyncConnection,
    polls: Sequence[tuple[PollResult, Schedule]],
    max_item_age: timedelta,
) -> list[_Fresh]:
    """The items of `polls` not stored yet (by feed and key, or by canonical URL), with
    whether each may be reported."""
    candidates = [
        (p, indexable(item), found)
        for p, _ in polls
        for item, found in zip(p.items, p.matches, strict=True)
    ]
    if not candidates:
        return []
    seen_urls = await _stored_urls(conn, (i.url for _, i, _ in candidates if i.url))
    # a feed that never had a successful poll has no stored items to compare keys with
    known = {(p.feed.id, i.key) for p, i, _ in candidates if p.feed.first_polled_at is not None}
    stored_keys = set(await _ids_by_pair(conn, items, known))
    fresh: list[_Fresh] = []
    for poll, item, found in candidates:
        key = (poll.feed.id, item.key)
        if key in stored_keys or (item.url and item.url in seen_urls):
            continue
        stored_keys.add(key)
        if item.url:
            seen_urls.add(item.url)
        first_poll = poll.feed.first_polled_at is None
        cutoff = poll.polled_at - max_item_age
        reportable = not first_poll and (item.published is None or item.published >= cutoff)
        fresh.append(_Fresh(poll.feed.id, item, poll.polled_at, reportable, found, not first_poll))
    return fresh


async def _not_pruned(conn: AsyncConnection, fresh: list[_Fresh]) -> list[_Fresh]:
    """`fresh` without the items retention pruned that a feed still carries (their seen
    key, by feed and key or by canonical URL, is stored); those keys are marked seen at
    this poll, which keeps them while the feed carries the item."""
    if not fresh:
        return fresh
    by_key = await _ids_by_pair(
        conn, seen_keys, ((f.feed_id, f.item.key) for f in fresh if f.known_feed)
    )
    urls = (f.item.url for f in fresh if f.item.url)
    by_url = {url: i for i, url in await _by_url(conn, (seen_keys.c.id, seen_keys.c.url), urls)}
    if not by_key and not by_url:
        return fresh
    kept: list[_Fresh] = []
    seen_at: dict[int, datetime] = {}
    for new in fresh:
        key_hit = by_key.get((new.feed_id, new.item.key))  # only a known feed's pairs
        url_hit = by_url.get(new.item.url) if new.item.url else None
        ids = [i for i in (key_hit, url_hit) if i is not None]
        if not ids:
            kept.append(new)
        for seen_id in ids:
            seen_at[seen_id] = max(seen_at.get(seen_id, new.first_seen), new.first_seen)
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for seen_id, when in seen_at.items():
        by_time[when].append(seen_id)
    for when, ids in by_time.items():
        for start in range(0, len(ids), _CHUNK):
            await conn.execute(
                seen_keys.update()
                .where(seen_keys.c.id.in_(ids[start : start + _CHUNK]))
                .values(seen_at=when)
            )
    return kept


def indexable(item: Item) -> Item:
    """`item` as the store keeps it, its key and URL made indexable (see below)."""
    if len(item.key) <= _SURELY_INDEXABLE and (
        item.url is None or len(item.url) <= _SURELY_INDEXABLE
    ):
        return item  # nearly every item: nothing to measure in bytes
    key, url = indexable_key(item.key), indexable_url(item.url)
    return item if (key, url) == (item.key, item.url) else replace(item, key=key, url=url)


def indexable_key(key: str) -> str:
    """An item key over INDEXED_BYTES becomes `sha256:` and its hash; others stay."""
    if len(key.encode()) <= INDEXED_BYTES:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def indexable_url(url: str | None) -> str | None:
    """An item URL over INDEXED_BYTES is dropped (no chat platform links one that long)."""
    return None if url is not None and len(url.encode()) > INDEXED_BYTES else url


_ITEM_COLUMNS = (
    "feed_id", "key", "url", "title", "summary", "source", "published_at", "first_seen",
    "reportable",
)  # fmt: skip
_FEED_COLUMNS = (
    "feed_id", "last_status", "consecutive_failures", "next_poll_at", "hold_until",
    "items_seen", "fetch_url", "etag", "last_modified", "body_hash", "last_success_at",
    "first_polled_at", "last_error", "last_error_at", "disabled_reason", "parse_warning",
    "title", "newest_item_at", "last_item_count", "last_parsed_at", "lease_until",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Bulk:
    """A statement compiled once per dialect for a driver-level executemany.

    Faster than SQLAlchemy's own executemany, which builds parameters per row. Rows are given
    as tuples in `columns` order; `rows` puts them in the driver's (positional) order and
    runs each column type's own bind processor, so every backend stores exactly what
    SQLAlchemy would.
    """

    sql: str
    columns: tuple[str, ...]
    order: tuple[int, ...]  # positions in `columns`, in the driver's order
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def rows(self, values: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Driver parameters for these rows.

        Each processed column is converted once per distinct value (a poll's items share
        their first_seen, a batch's feeds their poll time) and the rows are rebuilt by
        C-level transposition, not cell by cell in Python.
        """
        columns: list[Iterable[Any]] = list(zip(*values, strict=True))
        if not columns:
            return []
        for i, process in self.processors:
            converted = {value: process(value) for value in set(columns[i])}
            columns[i] = map(converted.__getitem__, columns[i])
        return list(zip(*(columns[i] for i in self.order), strict=True))


def _bulk(dialect: Dialect, statement: Any, columns: tuple[str, ...]) -> _Bulk:
    """Compile `statement` (its bind names are `columns`) for an executemany on `dialect`."""
    # for_executemany: no implicit `RETURNING id` (PostgreSQL), which an executemany
    # would make the server compute and the driver throw away
    compiled = statement.compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
    if not compiled.positiontup:  # SQLite (qmark) and asyncpg (numeric_dollar) are positional
        raise ValueError(f"{dialect.name}: a positional paramstyle is needed")
    order = tuple(columns.index(name) for name in compiled.positiontup)
    processors = tuple(
        (i, process)
        for i, name in enumerate(columns)
        if (process := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
        is not None
    )
    return _Bulk(compiled.string, columns, order, processors)


@lru_cache(maxsize=4)
def _items_insert(dialect: Dialect) -> _Bulk:
    return _bulk(dialect, items.insert(), _ITEM_COLUMNS)


@lru_cache(maxsize=4)
def _feeds_update(dialect: Dialect) -> _Bulk:
    update = feeds.update().where(feeds.c.id == sa.bindparam("feed_id"))
    return _bulk(dialect, update, _FEED_COLUMNS)


async def _insert_items(conn: AsyncConnection, new: Sequence[_Fresh]) -> None:
    """Insert items with one driver-level executemany."""
    if not new:
        return
    bulk = _items_insert(conn.dialect)
    rows = bulk.rows(
        (feed_id, item.key, item.url, item.title, item.summary, item.source, item.published,
         first_seen, reportable)
        for feed_id, item, first_seen, reportable, *_ in new
    )  # fmt: skip
    await conn.exec_driver_sql(bulk.sql, rows)


async def _ids_by_pair(
    conn: AsyncConnection, table: sa.Table, pairs: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """The ids of `table`'s rows (items or seen_keys) among these (feed, key) pairs.

    Each chunk of pairs is a VALUES list joined on the table's unique (feed_id, key)
    index: one index probe per pair on SQLite and PostgreSQL alike (`feed_id IN (...)
    AND key IN (...)` probed every feed of a chunk with every key, and SQLite answers a
    row-value IN by scanning the whole index). The statement is compiled once per
    dialect and size, and a short last chunk padded, as in `_by_url`.
    """
    found: dict[tuple[int, str], int] = {}
    wanted = sorted(set(pairs))  # neighbours in the index, probed one after the other
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        size = _padded_size(len(chunk))
        chunk += chunk[-1:] * (size - len(chunk))
        params = tuple(value for pair in chunk for value in pair)
        result = await conn.exec_driver_sql(_pairs_query(conn.dialect, table, size), params)
        rows = cast("Iterable[tuple[int, int, str]]", result)  # typed as if of no column
        found.update(((feed_id, key), row_id) for row_id, feed_id, key in rows)
    return found


@lru_cache(maxsize=64)
def _pairs_query(dialect: Dialect, table: sa.Table, size: int) -> str:
    """`table`'s id, feed_id and key for `size` (feed_id, key) pairs, given as 2 x `size`
    positional parameters, pair after pair."""
    binds = [
        (sa.bindparam(f"feed{n}", type_=sa.Integer), sa.bindparam(f"key{n}", type_=sa.Text))
        for n in range(size)
    ]
    # a CTE, as SQLite names a VALUES list's columns only there
    wanted = (
        sa.values(sa.column("feed_id", sa.Integer), sa.column("key", sa.Text), name="wanted")
        .data(binds)
        .cte("wanted")
    )
    on = sa.and_(table.c.feed_id == wanted.c.feed_id, table.c.key == wanted.c.key)
    query = sa.select(table.c.id, table.c.feed_id, table.c.key).select_from(wanted).join(table, on)
    compiled = query.compile(dialect=dialect)
    if compiled.positiontup != [name for pair in binds for name in (pair[0].key, pair[1].key)]:
        raise ValueError(f"{dialect.name}: positional parameters in order are needed")
    return compiled.string


async def _by_url(
    conn: AsyncConnection, columns: tuple[sa.Column[Any], ...], urls: Iterable[str]
) -> list[tuple[Any, ...]]:
    """`columns` (of one table with a `url` column) of the rows with one of these `urls`.

    Chunks of _CHUNK values go to the driver as they are, through a statement compiled
    once per dialect and size: SQLAlchemy's IN (expanding or literal) built a bound
    parameter per value, a tenth of a cold poll cycle. A short last chunk is padded to
    a power of two by repeating its last value, so that few sizes are ever compiled.
    """
    found: list[tuple[Any, ...]] = []
    values = list(dict.fromkeys(urls))
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        size = _padded_size(len(chunk))
        chunk += chunk[-1:] * (size - len(chunk))
        result = await conn.exec_driver_sql(_urls_query(conn.dialect, columns, size), tuple(chunk))
        found.extend(cast("Iterable[tuple[Any, ...]]", result))
    return found


async def _stored_urls(conn: AsyncConnection, urls: Iterable[str]) -> set[str]:
    """Which of `urls` are already stored as an item's."""
    return {row[0] for row in await _by_url(conn, (items.c.url,), urls)}


def _padded_size(count: int) -> int:
    """The size a chunk of `count` values is padded to: the next power of two, at most
    _CHUNK."""
    return min(_CHUNK, 1 << (count - 1).bit_length())


@lru_cache(maxsize=64)
def _urls_query(dialect: Dialect, columns: tuple[sa.Column[Any], ...], size: int) -> str:
    """`SELECT columns FROM table WHERE url IN (...)` with `size` positional parameters."""
    binds: list[sa.BindParameter[str]] = [sa.bindparam(f"url{n}") for n in range(size)]
    url = columns[0].table.c.url
    compiled = sa.select(*columns).where(url.in_(binds)).compile(dialect=dialect)
    if compiled.positiontup != [f"url{n}" for n in range(size)]:
        raise ValueError(f"{dialect.name}: positional parameters in order are needed")
    return compiled.string


def evidence_to_json(e: Evidence) -> dict[str, Any]:
    """Evidence as stored in the matches table."""
    return {"group": e.group, "alias": e.alias, "field": e.field, "text": e.text,
            "similarity": e.similarity}  # fmt: skip


def evidence_from_json(data: dict[str, Any]) -> Evidence:
    """The Evidence `evidence_to_json` stored."""
    return Evidence(data["group"], data["alias"], data["field"], data["text"], data["similarity"])


def _match_row(stored: StoredItem, match: Match) -> dict[str, Any]:
    """A match as stored; a match of a reportable item is marked reported and waits to be
    routed (grouped into a story, its alerts queued); any other is routed already."""
    return {
        "item_id": stored.id,
        "watchlist": match.watchlist,
        "score": match.score,
        "alert": match.alert,
        "evidence": [evidence_to_json(e) for e in match.evidence],
        "reported": stored.reportable,
        "matched_at": stored.first_seen,
        "routed_at": None if stored.reportable else stored.first_seen,
    }


def _spec_values(spec: FeedSpec) -> dict[str, Any]:
    """The columns a declaration sets; a stored title stays unless the spec brings one."""
    values = {
        "url": spec.url,
        "name": spec.name,
        "origin": spec.origin,
        "verified": spec.verified,
        "active": True,
        "interval_s": int(spec.interval.total_seconds()) if spec.interval else None,
        "user_agent": spec.user_agent,
        "request_headers": [list(pair) for pair in spec.headers] or None,
    }
    if spec.title:
        values["title"] = spec.title
    return values


def _feed_after(poll: PollResult, schedule: Schedule, new_items: int) -> tuple[Any, ...]:
    """Every column a poll can change, as the feed's row should be after it
    (`_FEED_COLUMNS` order)."""
    feed, fetch, now = poll.feed, poll.fetch, poll.polled_at
    ok = poll.outcome in (Outcome.OK, Outcome.UNCHANGED, Outcome.NOT_MODIFIED)
    fresh_body = poll.outcome in (Outcome.OK, Outcome.UNCHANGED)
    last_error, last_error_at, disabled = feed.last_error, feed.last_error_at, feed.disabled_reason
    if poll.outcome is Outcome.FAILED:
        last_error, last_error_at = fetch.error, now
    elif poll.outcome is Outcome.GONE:
        last_error, last_error_at = "HTTP 410 Gone", now
        disabled = "410 Gone: the publisher removed this feed"
    # a body parsed anew says what is wrong with it now; any other poll leaves it as it was
    parse_warning = poll.parse_warning if poll.outcome is Outcome.OK else feed.parse_warning
    title = poll.feed_title if poll.outcome is Outcome.OK and poll.feed_title else feed.title
    newest, count, parsed = feed.newest_item_at, feed.last_item_count, feed.last_parsed_at
    if poll.outcome is Outcome.OK:  # a body parsed anew: what it holds now
        newest = max((i.published for i in poll.items if i.published is not None), default=None)
        count, parsed = len(poll.items), now
    return (
        feed.id,
        fetch.status,
        schedule.consecutive_failures,
        schedule.next_poll_at,
        schedule.hold_until,
        feed.items_seen + new_items,
        fetch.permanent_url or feed.fetch_url,
        fetch.etag if fresh_body else feed.etag,
        fetch.last_modified if fresh_body else feed.last_modified,
        poll.body_hash or feed.body_hash,
        now if ok else feed.last_success_at,
        feed.first_polled_at or (now if ok else None),
        last_error,
        last_error_at,
        disabled,
        parse_warning,
        title,
        newest,
        count,
        parsed,
        None,  # the poll is stored: the claim on the feed ends
    )


# the columns of a FeedState, in its field order (`interval` is stored in seconds)
_COLUMN_OF = {"interval": "interval_s", "headers": "request_headers"}
_FEED_STATE_COLUMNS = tuple(feeds.c[_COLUMN_OF.get(f.name, f.name)] for f in fields(FeedState))
_INTERVAL, _URL, _NAME, _TITLE, _HEADERS = (
    [f.name for f in fields(FeedState)].index(name)
    for name in ("interval", "url", "name", "title", "headers")
)


def _feed_state(row: sa.Row[Any]) -> FeedState:
    """A row of `_FEED_STATE_COLUMNS` as a FeedState, read by position (by-name access
    is slow on the warm cycle's path); a feed given no name is named by its own title."""
    values = list(row)
    seconds = values[_INTERVAL]
    values[_INTERVAL] = timedelta(seconds=seconds) if seconds else None
    if values[_NAME] == values[_URL] and values[_TITLE]:
        values[_NAME] = values[_TITLE]
    headers = values[_HEADERS]  # JSON pairs, as lists
    values[_HEADERS] = tuple((str(n), str(v)) for n, v in headers) if headers else ()
    return FeedState(*values)


def stored_item(row: sa.Row[Any]) -> StoredItem:
    """A row of the items table as a StoredItem."""
    item = Item(
        key=row.key,
        title=row.title,
        summary=row.summary,
        url=row.url,
        published=row.published_at,
        source=row.source,
    )
    return StoredItem(
        id=row.id,
        feed_id=row.feed_id,
        item=item,
        first_seen=row.first_seen,
        reportable=row.reportable,
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # takes effect in a file that has no table yet (a new database); an older file keeps
    # its mode until `wirewatch prune --vacuum` rewrites it
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
