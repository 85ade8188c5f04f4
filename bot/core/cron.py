"""Digest schedules and quiet hours, in a subscription's own time zone.

Cron expressions are APScheduler's (`minute hour day month day-of-week`, e.g.
`0 8 * * mon-fri`). Times are computed from an injected `now`, so that tests can
cross a daylight-saving change. A local time that does not exist on the day clocks
go forward (02:30 in America/Toronto on the second Sunday of March) fires an hour
later by the wall clock, at the same UTC instant as the offset before the change.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

_TICK = timedelta(microseconds=1)
_QUIET = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def check_timezone(name: str) -> ZoneInfo:
    """The zone called `name` (IANA, e.g. America/Toronto); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (expected e.g. America/Toronto)") from exc


def check_cron(expression: str, timezone: str) -> CronTrigger:
    """The trigger for a five-field cron expression; ValueError says what is wrong."""
    from apscheduler.triggers.cron import CronTrigger  # only where a digest is scheduled

    try:
        return CronTrigger.from_crontab(expression, timezone=check_timezone(timezone))
    except ValueError as exc:
        raise ValueError(
            f"{expression!r} is not a cron schedule ({exc}); expected five fields such as "
            "'0 8 * * mon-fri'"
        ) from exc


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the schedule fires, as aware UTC."""
    trigger = check_cron(expression, timezone)
    # APScheduler's answer is the first fire at or after the time given
    fire: datetime | None = trigger.get_next_fire_time(
        None, (after + _TICK).astimezone(trigger.timezone)
    )
    if fire is None:
        raise ValueError(f"{expression!r} never fires again")
    return fire.astimezone(ZoneInfo("UTC"))


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """`22:00-07:00` → (22:00, 07:00); the span may cross midnight. ValueError if malformed."""
    match = _QUIET.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not a span of hours such as 22:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        raise ValueError(f"{value!r} is not a span of hours such as 22:00-07:00")
    return time(h1, m1), time(h2, m2)


def quiet_until(quiet_hours: str | None, timezone: str, now: datetime) -> datetime | None:
    """When the quiet hours that contain `now` end (aware UTC), or None if not quiet now."""
    if quiet_hours is None:
        return None
    start, end = parse_quiet_hours(quiet_hours)
    zone = check_timezone(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date().fromordinal(local.date().toordinal() + 1)
    return datetime.combine(day, end, zone).astimezone(ZoneInfo("UTC"))
