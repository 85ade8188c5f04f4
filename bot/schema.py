"""The tables and the migrations that build them, in order. Applied at every startup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite stores them as text in SQLAlchemy's own DATETIME format
    (`2026-11-23 08:30:00.000000`), written and read with the C-level isoformat and
    fromisoformat: SQLAlchemy's Python formatter was a fifth of a cold poll cycle.
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
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    sa.UniqueConstraint("item_id", "watchlist", name="uq_matches_item_watchlist"),
    sa.Index("ix_matches_watchlist_time", "watchlist", "matched_at"),
)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[feeds, items, matches])


# Append only: each step moves the schema from version i to i + 1. Never edit a shipped step;
# a later step that changes a table alters it here rather than editing the Table above.
MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1]


def migrate(conn: Connection) -> int:
    """Bring the database to the newest version; returns the number of steps applied."""
    metadata.create_all(conn, tables=[schema_version])
    current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
    for version in range(current, len(MIGRATIONS)):
        MIGRATIONS[version](conn)
        conn.execute(schema_version.insert().values(version=version + 1))
    return len(MIGRATIONS) - current
