"""Digest times and quiet hours across time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.channels import parse_channel
from bot.core.cron import next_fire, quiet_until


def fires(expression: str, zone: str, after: datetime, count: int) -> list[datetime]:
    out = []
    for _ in range(count):
        after = next_fire(expression, zone, after)
        out.append(after)
    return out


def test_weekday_digest_follows_toronto_across_the_autumn_change() -> None:
    # Friday 30 Oct 2026 08:00 EDT is 12:00 UTC; clocks go back on Sunday 1 Nov
    times = fires("0 8 * * mon-fri", "America/Toronto", datetime(2026, 10, 30, 11, tzinfo=UTC), 3)
    assert times == [
        datetime(2026, 10, 30, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 13, 0, tzinfo=UTC),  # Monday, EST: an hour later in UTC
        datetime(2026, 11, 3, 13, 0, tzinfo=UTC),
    ]


def test_spring_forward_gap_fires_once_an_hour_later_by_the_wall_clock() -> None:
    # 02:30 does not exist in Toronto on 8 March 2026
    times = fires("30 2 * * *", "America/Toronto", datetime(2026, 3, 7, 12, tzinfo=UTC), 3)
    assert times == [
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),  # 03:30 EDT
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 6, 30, tzinfo=UTC),
    ]


def test_zones_without_dst_and_the_far_side_of_the_date_line() -> None:
    after = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert next_fire("0 9 * * *", "Asia/Tokyo", after) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert next_fire("0 9 * * *", "Asia/Taipei", after) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    # strictly after: a digest time is never returned twice
    at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert next_fire("0 9 * * *", "Asia/Taipei", at) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_quiet_hours_cross_midnight_in_the_subscription_zone() -> None:
    zone = "America/Vancouver"  # UTC-8 in November
    at_2300 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert quiet_until("22:00-07:00", zone, at_2300) == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    at_0300 = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert quiet_until("22:00-07:00", zone, at_0300) == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    assert quiet_until("22:00-07:00", zone, noon) is None
    assert quiet_until("12:00-13:00", zone, noon) == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert quiet_until(None, zone, noon) is None


def test_quiet_hours_end_on_the_right_side_of_a_dst_change() -> None:
    # the night of 31 Oct → 1 Nov 2026 in Toronto is 25 hours long; 07:00 EST is 12:00 UTC
    night = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT
    assert quiet_until("22:00-07:00", "America/Toronto", night) == datetime(
        2026, 11, 1, 12, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("discord:abc", "Discord channel id"),
        ("slack:general", "Slack channel id"),
        ("discord-webhook:Has Spaces", "webhook name"),
        ("teams:123", "is not a channel"),
        ("", "is not a channel"),
    ],
)
def test_bad_channel_references_say_what_is_expected(reference: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_channel(reference)


def test_channel_references_parse_and_name_their_secrets() -> None:
    assert str(parse_channel(" console ")) == "console"
    hook = parse_channel("slack-webhook:trade-desk")
    assert hook.adapter == "slack"
    assert hook.webhook_env() == "WIREWATCH_SLACK_WEBHOOK_TRADE_DESK"
    assert parse_channel("discord:123456789012345678").webhook_env() is None
