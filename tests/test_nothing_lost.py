"""A delivery that failed for good because of configuration is never lost: the check
names a mistyped webhook before anything is sent, a restart or a /news subscribe sends
what failed again (within retry_for), and `wirewatch deliveries` lists and retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer
from recording import ManualClock, RecordingAdapter
from test_delivery import (
    ALERTS,
    CANOLA,
    CHANNEL,
    START,
    poll_canola_after_baseline,
    running,
    settings,
)

from bot.chat.commands import Caller
from bot.cli.main import main
from bot.core.errors import DeliveryError
from bot.core.models import DeliveryState

GONE = DeliveryError("Discord 404: Unknown Channel (code 10003)", retryable=False)
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], channel: str) -> tuple[int, str]:
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        f"default_feeds: false\nsubscriptions:\n  - channel: {channel}\n    watchlists: [canola]\n"
    )
    code = main(["check", "--config", str(config)])
    return code, capsys.readouterr().err


def test_check_names_a_webhook_variable_that_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIREWATCH_SLACK_WEBHOOK_OTHER", HOOK)
    code, err = check(tmp_path, capsys, "slack-webhook:newsroom")
    assert code == 2
    assert (
        "subscriptions.0.channel: slack-webhook:newsroom needs its URL in "
        "WIREWATCH_SLACK_WEBHOOK_NEWSROOM (or WIREWATCH_SLACK_WEBHOOK_NEWSROOM_FILE), which "
        "is not set (set now: WIREWATCH_SLACK_WEBHOOK_OTHER)"
    ) in err


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not-a-url", "must hold an https URL on hooks.slack.com or hooks.slack-gov.com"),
        ("http://hooks.slack.com/services/x", "not http://hooks.slack.com"),
        ("https://discord.com/api/webhooks/1/x", "not https://discord.com"),
    ],
)
def test_check_refuses_a_webhook_url_of_the_wrong_kind_without_showing_it(
    value: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WIREWATCH_SLACK_WEBHOOK_NEWSROOM", value)
    code, err = check(tmp_path, capsys, "slack-webhook:newsroom")
    assert code == 2 and "WIREWATCH_SLACK_WEBHOOK_NEWSROOM" in err and says in err
    assert "/services/x" not in err and "/webhooks/1/x" not in err


def test_check_accepts_a_slack_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIREWATCH_SLACK_WEBHOOK_NEWSROOM", HOOK)
    assert check(tmp_path, capsys, "slack-webhook:newsroom")[0] == 0


async def test_a_permanent_failure_is_sent_after_the_fix_and_a_restart(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, sqlite_url, ALERTS)
    adapter.fail(CHANNEL, GONE)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        (failed,) = await app.outbox.queue.listing(failed_only=True)
        (sub,) = await app.outbox.subscriptions.list_active(CHANNEL)
    assert adapter.titles() == [] and sub.disabled_reason is not None
    clock.advance(timedelta(hours=5))  # the operator fixes the channel, then restarts
    async with running(config, adapter, clock) as app:
        await app.dispatcher.flush()
        (row,) = await app.outbox.queue.listing()
        (sub,) = await app.outbox.subscriptions.list_active(CHANNEL)
    assert adapter.titles() == [CANOLA]
    assert row.id == failed.id and row.state is DeliveryState.SENT
    assert sub.disabled_reason is None


async def test_a_failure_older_than_retry_for_stays_failed_after_a_restart(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, sqlite_url, ALERTS)
    adapter.fail(CHANNEL, GONE)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
    clock.advance(config.delivery.retry_for + timedelta(hours=1))
    async with running(config, adapter, clock) as app:
        await app.dispatcher.flush()
        (row,) = await app.outbox.queue.listing()
    assert adapter.titles() == [] and row.state is DeliveryState.FAILED


async def test_subscribing_again_in_the_channel_sends_what_failed_there(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock
) -> None:
    adapter = RecordingAdapter()
    config = settings(feed_server, sqlite_url, ALERTS)
    adapter.fail(CHANNEL, GONE)

    async def admin() -> bool:
        return True

    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
        caller = Caller(CHANNEL, "U1", admin)
        looked = await app.commands.answer("subscriptions", caller, {})
        assert "Failed here: 1 delivery, the latest with Discord 404" in looked.message.text
        reply = await app.commands.answer("subscribe", caller, {"watchlist": "canola"})
        assert "Sending again: 1 delivery that failed here." in reply.message.text
        await app.dispatcher.flush()
    assert adapter.titles() == [CANOLA]


@pytest.mark.parametrize("chosen", ["by id", "--all-failed"])
async def test_the_deliveries_command_lists_and_retries_failed_ones(
    chosen: str,
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wirewatch.db'}"
    adapter = RecordingAdapter()
    config = settings(feed_server, url, ALERTS)
    adapter.fail(CHANNEL, GONE)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
    file = tmp_path / "wirewatch.yaml"
    file.write_text(f"default_feeds: false\ndatabase_url: {url}\n")

    def cli(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--config", str(file)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, _ = await asyncio.to_thread(cli, "deliveries", "--failed")
    (line,) = out.splitlines()
    fields = line.split("\t")
    assert code == 0 and fields[1:5] == ["failed", CHANNEL, "alert", CANOLA]
    assert "Unknown Channel" in fields[-1]
    code, out, err = await asyncio.to_thread(cli, "deliveries", "retry", "99999")
    assert code == 2 and "not failed (or no such delivery): 99999" in err
    which = fields[0] if chosen == "by id" else chosen
    code, out, _ = await asyncio.to_thread(cli, "deliveries", "retry", which)
    assert code == 0 and "queued again: 1 delivery" in out
    code, out, _ = await asyncio.to_thread(cli, "deliveries", "retry", "--all-failed")
    assert code == 0 and out == "no delivery has failed: nothing to send again\n"
    code, out, _ = await asyncio.to_thread(cli, "subscriptions")
    assert "STOPPED" not in out  # the operator said it works: the channel delivers again
    clock.advance(datetime.now(UTC) - clock() + timedelta(seconds=1))  # the CLI's clock
    async with running(config, adapter, clock) as app:
        await app.dispatcher.flush()
    assert adapter.titles() == [CANOLA]


async def test_subscriptions_shows_the_stop_the_running_bot_recorded(
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wirewatch.db'}"
    adapter = RecordingAdapter()
    config = settings(feed_server, url, ALERTS)
    adapter.fail(CHANNEL, GONE)
    async with running(config, adapter, clock) as app:
        await poll_canola_after_baseline(feed_server, app, clock)
    file = tmp_path / "wirewatch.yaml"
    file.write_text(
        f"default_feeds: false\ndatabase_url: {url}\nsubscriptions:\n"
        f"  - channel: {CHANNEL}\n    watchlists: [canola]\n"
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WIREWATCH_DISCORD_TOKEN", "token")  # the platform is configured
        code = await asyncio.to_thread(main, ["subscriptions", "--config", str(file)])
    out = capsys.readouterr().out
    assert code == 0 and "STOPPED: Discord 404: Unknown Channel" in out
