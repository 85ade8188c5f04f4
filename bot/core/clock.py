"""The clock: what "now" is, injected everywhere a stage needs it, and how times print."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

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


def format_time(when: datetime, timezone: str = "UTC") -> str:
    """`when` as a reader in `timezone` (an IANA name) reads it, to the minute, with the
    zone's abbreviation (`2026-11-23 03:30 EST`) or, where it has none, its offset."""
    if timezone == "UTC":
        return format_utc(when)
    local = as_utc(when).astimezone(ZoneInfo(timezone))
    name = local.strftime("%Z")
    offset = local.utcoffset()
    if offset is not None and (not name or name[0] in "+-"):  # "+09" reads as UTC+9
        minutes = int(offset.total_seconds() // 60)
        hours, rest = divmod(abs(minutes), 60)
        name = f"UTC{'-' if minutes < 0 else '+'}{hours}" + (f":{rest:02d}" if rest else "")
    return local.strftime(f"%Y-%m-%d %H:%M {name}")
