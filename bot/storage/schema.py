"""The tables and the migrations that build them, in order. Applied at every startup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from bot.storage.turns import MIGRATION, take_turn_sync


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite stores them as text in SQLAlchemy's own DATETIME format
    (`2026-11-23 08:30:00.000000`), written and read with the C-level isoformat and
    fromisoformat, which are much faster than SQLAlchemy's Python formatter.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(26))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.isoformat(" ", "microseconds")[:26]
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if isinstance(value, str):
            return _read_stored(value)
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@lru_cache(maxsize=4096)
def _read_stored(text: str) -> datetime:
    """A datetime as SQLite stores it, read back aware. Cached: the feeds of one batch
    share their poll times, read again at every cycle."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("url", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, default=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("interval_s", sa.Integer),
    sa.Column("fetch_url", sa.Text),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("body_hash", sa.Text),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_success_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", UTCDateTime),
    sa.Column("next_poll_at", UTCDateTime),
    sa.Column("hold_until", UTCDateTime),
    sa.Column("first_polled_at", UTCDateTime),
    sa.Column("items_seen", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # v6: what the last parse of a changed body had to say (entries cut, charset wrong)
    sa.Column("parse_warning", sa.Text),
    # v7: the feed's own title as its last parse read it (names a feed given no name)
    sa.Column("title", sa.Text),
    # v8: the request settings the config or `feeds add` gave the feed, and what its last
    # parsed body held (its newest item's date, its item count), which tells a stale feed
    sa.Column("user_agent", sa.Text),
    sa.Column("request_headers", sa.JSON(none_as_null=True)),  # [[name, value], ...]
    sa.Column("newest_item_at", UTCDateTime),
    sa.Column("last_item_count", sa.Integer),
    # v10: when a body of the feed was last parsed (an OK poll), which tells whether a
    # pruned item's seen key may still come back (see `seen_keys`)
    sa.Column("last_parsed_at", UTCDateTime),
    # v11: the worker polling the feed now, and until when its claim holds
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", UTCDateTime),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("published_at", UTCDateTime),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("reportable", sa.Boolean, nullable=False),
    sa.Column("story_id", sa.Integer),  # added by v2
    sa.UniqueConstraint("feed_id", "key", name="uq_items_feed_key"),
    sa.Index("ix_items_url", "url", unique=True),
    sa.Index("ix_items_first_seen", "first_seen"),
)

matches = sa.Table(
    "matches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    sa.Column("watchlist", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("alert", sa.Boolean, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("reported", sa.Boolean, nullable=False),
    sa.Column("matched_at", UTCDateTime, nullable=False),
    sa.Column("routed_at", UTCDateTime),  # added by v2
    sa.UniqueConstraint("item_id", "watchlist", name="uq_matches_item_watchlist"),
    sa.Index("ix_matches_watchlist_time", "watchlist", "matched_at"),
)

# v10: the feed-side keys of pruned items, kept while a feed may still carry them, so that
# an item deleted by retention is not taken for a new one. `seen_at` is when the item was
# pruned or last found in a parsed body of any feed; a key whose feed has parsed a body
# since without it, longer than `retention.seen_keys` ago, is deleted.
seen_keys = sa.Table(
    "seen_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("seen_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("feed_id", "key", name="uq_seen_keys_feed_key"),
    sa.Index("ix_seen_keys_url", "url"),
    sa.Index("ix_seen_keys_seen_at", "seen_at"),
)

stories = sa.Table(
    "stories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("watchlists", sa.JSON, nullable=False),
    sa.Column("alerts", sa.Boolean, nullable=False),
    sa.Column("digest", sa.Text),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("min_score", sa.Float, nullable=False),
    sa.Column("quiet_hours", sa.Text),
    sa.Column("nothing_new", sa.Boolean, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("digest_watermark", sa.Integer, nullable=False),
    sa.Column("next_digest_at", UTCDateTime),
    sa.Column("last_digest_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("mention_role", sa.Text),  # added by v3
    # v9: how alerts grow with their story (edit, thread, off); NULL: the channel's default
    sa.Column("followups", sa.Text),
    sa.Index("ix_subscriptions_channel", "channel"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "subscription_id",
        sa.Integer,
        sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("dedupe", sa.Text, nullable=False, unique=True),
    sa.Column("story_id", sa.Integer, sa.ForeignKey("stories.id", ondelete="SET NULL")),
    sa.Column("payload", sa.JSON),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("first_attempt_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.Text),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("window_end", sa.Integer),  # digests: the last match id the sent digest covered
    # v5: parts of a split message the platform accepted before an attempt failed (a
    # digest partly posted keeps its message in `payload` and its `window_end`)
    sa.Column("parts_sent", sa.Integer, nullable=False, server_default="0"),
    # v9: a follow-up's alert (the row whose message it edits or replies to), and an
    # alert's thread once a reply opened one (Discord's thread channel)
    sa.Column("parent_id", sa.Integer),
    sa.Column("thread_id", sa.Text),
    # v11: the worker sending it (state `sending`), and until when its claim holds
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", UTCDateTime),
    sa.Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# v11: named leases shared by the workers of one database (the router, a channel's sender)
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("until", UTCDateTime, nullable=False),
)


def _create_v1(conn: Connection) -> None:
    # the Tables above already carry later columns; a fresh database gets them here and
    # the later steps see them present (`_add_column`)
    metadata.create_all(conn, tables=[feeds, items, matches])


def _stories_subscriptions_outbox_v2(conn: Connection) -> None:
    """Stories, subscriptions and the delivery outbox. Matches get `routed_at` (set once
    a match is grouped into a story and its alerts are queued); matches stored before
    this version count as routed, so an upgrade does not re-announce history."""
    metadata.create_all(conn, tables=[stories, subscriptions, deliveries])
    _add_column(conn, "items", "story_id", "INTEGER")
    _add_column(conn, "matches", "routed_at", _datetime_sql(conn))
    conn.execute(sa.text("UPDATE matches SET routed_at = matched_at"))
    conn.execute(sa.text("CREATE INDEX ix_matches_unrouted ON matches (routed_at, id)"))
    conn.execute(sa.text("CREATE INDEX ix_items_story ON items (story_id)"))


def _subscription_mention_role_v3(conn: Connection) -> None:
    """Subscriptions may name a Discord role that their alerts ping."""
    _add_column(conn, "subscriptions", "mention_role", "TEXT")


def _partial_story_index_v4(conn: Connection) -> None:
    """Index only the items that belong to a story. Most never do, and indexing every
    insert's NULL was an eighth of SQLite's work in storing a cold cycle's items."""
    conn.execute(sa.text("DROP INDEX ix_items_story"))
    conn.execute(
        sa.text("CREATE INDEX ix_items_story ON items (story_id) WHERE story_id IS NOT NULL")
    )


def _delivery_parts_v5(conn: Connection) -> None:
    """Deliveries count the parts of a split message already accepted, so that a retry
    after a failure halfway posts only the rest."""
    _add_column(conn, "deliveries", "parts_sent", "INTEGER NOT NULL DEFAULT 0")


def _feed_parse_warning_v6(conn: Connection) -> None:
    """Feeds keep the last parse's warning (items cut by poll.max_items, a wrong declared
    charset, malformed XML), for `wirewatch feeds` and `/news feeds`."""
    _add_column(conn, "feeds", "parse_warning", "TEXT")


def _feed_title_v7(conn: Connection) -> None:
    """Feeds keep their own title, which names a feed the config or OPML gave no name.
    (From this version a feed's origin may be "cli" or "chat"; a chat feed's fetches may
    not reach private addresses.)"""
    _add_column(conn, "feeds", "title", "TEXT")


def _feed_requests_and_staleness_v8(conn: Connection) -> None:
    """Feeds keep their own request settings (a User-Agent, headers) and what their last
    parsed body held: its newest item's date and its item count, for the stale flag.
    Every feed's validators and body hash are cleared, so that its next poll reads and
    parses its body once and records both (items already stored stay known, by key)."""
    _add_column(conn, "feeds", "user_agent", "TEXT")
    _add_column(conn, "feeds", "request_headers", "JSON")
    _add_column(conn, "feeds", "newest_item_at", _datetime_sql(conn))
    _add_column(conn, "feeds", "last_item_count", "INTEGER")
    conn.execute(sa.text("UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL"))


def _alert_followups_v9(conn: Connection) -> None:
    """Alerts that grow with their story: subscriptions say how (`followups`), and
    follow-up deliveries (edits of an alert, replies in its thread) name their alert
    (`parent_id`); an alert keeps the thread its first reply opened (`thread_id`)."""
    _add_column(conn, "subscriptions", "followups", "TEXT")
    _add_column(conn, "deliveries", "parent_id", "INTEGER")
    _add_column(conn, "deliveries", "thread_id", "TEXT")
    conn.execute(
        sa.text(
            "CREATE INDEX ix_deliveries_parent ON deliveries (parent_id) "
            "WHERE parent_id IS NOT NULL"
        )
    )


def _retention_v10(conn: Connection) -> None:
    """Retention: the seen keys of pruned items, each feed's last parse time (which tells
    when a pruned item has left its feed), and deliveries indexed by story. (SQLite
    files created from this version on are in incremental auto_vacuum mode; an older
    file changes mode at its first `wirewatch prune --vacuum`.)"""
    metadata.create_all(conn, tables=[seen_keys])
    _add_column(conn, "feeds", "last_parsed_at", _datetime_sql(conn))
    # deleting a story sets its deliveries' story_id to NULL: found by index, not a scan
    conn.execute(
        sa.text(
            "CREATE INDEX ix_deliveries_story ON deliveries (story_id) WHERE story_id IS NOT NULL"
        )
    )


def _worker_leases_v11(conn: Connection) -> None:
    """Workers sharing one database claim feeds and deliveries for a while (`lease_owner`,
    `lease_until`), and hold named leases (`leases`) for work one of them does at a time."""
    for table in ("feeds", "deliveries"):
        _add_column(conn, table, "lease_owner", "TEXT")
        _add_column(conn, table, "lease_until", _datetime_sql(conn))
    metadata.create_all(conn, tables=[leases])


def _add_column(conn: Connection, table: str, column: str, sql_type: str) -> None:
    """ALTER TABLE ... ADD COLUMN, unless the table was created with it already."""
    if column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


def _datetime_sql(conn: Connection) -> str:
    return "VARCHAR(26)" if conn.dialect.name == "sqlite" else "TIMESTAMP WITHOUT TIME ZONE"


# Append only: each step moves the schema from version i to i + 1. Never edit a shipped step;
# a later step that changes a table alters it there, and the Table above shows the result.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _create_v1,
    _stories_subscriptions_outbox_v2,
    _subscription_mention_role_v3,
    _partial_story_index_v4,
    _delivery_parts_v5,
    _feed_parse_warning_v6,
    _feed_title_v7,
    _feed_requests_and_staleness_v8,
    _alert_followups_v9,
    _retention_v10,
    _worker_leases_v11,
]


def migrate(conn: Connection) -> int:
    """Bring the database to the newest version; returns the number of steps applied.
    On PostgreSQL, workers starting at once migrate one after another (an advisory lock
    held until the transaction ends), so the first migrates and the others find it done."""
    take_turn_sync(conn, MIGRATION)
    metadata.create_all(conn, tables=[schema_version])
    current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
    for version in range(current, len(MIGRATIONS)):
        MIGRATIONS[version](conn)
        conn.execute(schema_version.insert().values(version=version + 1))
    return len(MIGRATIONS) - current
