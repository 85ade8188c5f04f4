"""The clock: what "now" is, injected everywhere a stage needs it, and how times print."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock: now, as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(when: datetime) -> datetime:
    """`when` as an aware UTC datetime; a naive time is taken as UTC."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def format_utc(when: datetime) -> str:
    """`2026-11-23 08:30 UTC`: `when` in UTC, to the minute (a naive time is taken as UTC)."""
    return as_utc(when).strftime("%Y-%m-%d %H:%M UTC")
