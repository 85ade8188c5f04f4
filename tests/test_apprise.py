"""apprise: channels end to end through the outbox, on apprise's real plugins posting to
receivers on 127.0.0.1 (JSON, ntfy, Mattermost, email over a real SMTP server), and
the checks of their URLs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from apprise_receivers import HttpReceiver, Mailbox, http_receiver, smtp_server
from feedserver import FeedServer
from loopback import serve
from recording import ManualClock
from test_delivery import (
    CANOLA,
    START,
    poll_and_deliver,
    poll_canola_after_baseline,
    publish,
    settings,
    watchlists_without_sources,
)

from adapters.apprise import AppriseAdapter, target_of, url_problem
from adapters.apprise import load as load_service
from adapters.apprise_render import FULLWIDTH_AT, Limits, render
from bot.chat.message import Entry, Message, Section, Tone
from bot.cli.main import main
from bot.core.channels import parse_channel
from bot.core.config import Settings, SubscriptionConfig
from bot.core.errors import DeliveryError
from bot.core.models import DeliveryState
from bot.service.app import App, open_app

HOSTILE = "@everyone <@123> <!channel> **bold** [x](http://evil.example)"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@asynccontextmanager
async def running(config: Settings, clock: ManualClock) -> AsyncIterator[App]:
    adapters = {"apprise": AppriseAdapter(timeout=20)}
    watchlists = watchlists_without_sources(config)
    async with open_app(config, watchlists, adapters, clock, deliver=True) as app:
        yield app


def subscribe(feed_server: FeedServer, url: str, channel: str) -> Settings:
    return settings(feed_server, url, SubscriptionConfig(channel=channel, watchlists=["canola"]))


# --- each service, end to end --------------------------------------------------------------


def json_texts(receiver: HttpReceiver) -> list[str]:
    return [f"{r.json()['title']}\n{r.json()['message']}" for r in receiver.requests]


def ntfy_texts(receiver: HttpReceiver) -> list[str]:
    return [f"{r.json()['title']}\n{r.json()['message']}" for r in receiver.requests]


def mattermost_texts(receiver: HttpReceiver) -> list[str]:
    return [r.json()["text"] for r in receiver.requests]


SERVICES: dict[str, tuple[str, Callable[[HttpReceiver], list[str]]]] = {
    "json": ("json://{host}/hook", json_texts),
    "ntfy": ("ntfy://{host}/canola-desk", ntfy_texts),
    "mattermost": ("mmost://{host}/abcdefghijklmnopqrstuvwxyz", mattermost_texts),
}


@pytest.mark.parametrize("service", list(SERVICES))
async def test_an_alert_reaches_the_service_once_through_the_outbox(
    service: str,
    feed_server: FeedServer,
    db_url: str,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    template, texts_of = SERVICES[service]
    async with http_receiver() as receiver:
        host = receiver.url.removeprefix("http://")
        monkeypatch.setenv("WIREWATCH_APPRISE_DESK", template.format(host=host))
        config = subscribe(feed_server, db_url, "apprise:desk")
        async with running(config, clock) as app:
            await poll_canola_after_baseline(feed_server, app, clock)
            await poll_and_deliver(app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.SENT and row.attempts == 1
    (text,) = texts_of(receiver)
    assert CANOLA in text and "https://a.example.test/" in text


async def test_an_alert_arrives_by_email_over_a_real_smtp_server(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server() as mailbox:
        monkeypatch.setenv(
            "WIREWATCH_APPRISE_DESK",
            f"mailto://127.0.0.1:{mailbox.port}?from=bot@example.test&to=desk@example.test",
        )
        config = subscribe(feed_server, sqlite_url, "apprise:desk")
        async with running(config, clock) as app:
            await poll_canola_after_baseline(feed_server, app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.SENT
    (text,) = Mailbox.texts(mailbox)
    assert text.startswith(CANOLA) and '<a href="https://a.example.test/' in text
    assert mailbox.messages[0]["To"] == "desk@example.test"


async def test_hostile_feed_text_arrives_inert_in_each_format(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with http_receiver() as receiver:
        host = receiver.url.removeprefix("http://")
        monkeypatch.setenv("WIREWATCH_APPRISE_MD", f"json://{host}/md")
        monkeypatch.setenv("WIREWATCH_APPRISE_TEXT", f"mmost://{host}/abcdefghijklmnopqrstuvwxyz")
        config = settings(
            feed_server, sqlite_url,
            SubscriptionConfig(channel="apprise:md", watchlists=["canola"]),
            SubscriptionConfig(channel="apprise:text", watchlists=["canola"]),
        )  # fmt: skip
        publish(feed_server, "/a")
        publish(feed_server, "/b")
        async with running(config, clock) as app:
            await poll_and_deliver(app, clock)
            publish(feed_server, "/a", f"{CANOLA} {HOSTILE}")
            await poll_and_deliver(app, clock)
    posted = {r.path: r.json() for r in receiver.requests}
    markdown = posted["/md"]["message"]
    text = posted["/hooks/abcdefghijklmnopqrstuvwxyz"]["text"]
    for shown in (markdown, posted["/md"]["title"], text):
        assert "@" not in shown and "<!" not in shown
        assert f"{FULLWIDTH_AT}everyone" in shown
    assert r"\*\*bold\*\*" in markdown and r"\[x\]\(http\://evil.example\)" in markdown
    # a "text" body that the service reads as Markdown (Mattermost): no link from feed text
    assert "**bold** \uff3bx\uff3d(http://evil.example)" in text
    assert "[x](" not in text and "[x](" not in posted["/md"]["title"]


# --- failures ------------------------------------------------------------------------------


async def test_a_service_error_is_retried_and_the_alert_sent_once(
    feed_server: FeedServer, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [500]
        monkeypatch.setenv("WIREWATCH_APPRISE_DESK", f"json://{receiver.url[7:]}/hook")
        config = subscribe(feed_server, db_url, "apprise:desk")
        async with running(config, clock) as app:
            await poll_canola_after_baseline(feed_server, app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
            assert row.state is DeliveryState.PENDING and row.attempts == 1
            assert row.last_error is not None and "did not take" in row.last_error
            assert receiver.url[7:] not in row.last_error
            clock.advance(timedelta(minutes=5))
            await poll_and_deliver(app, clock)
            await poll_and_deliver(app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.SENT and row.attempts == 2
    assert [r.json()["title"] for r in receiver.requests] == [CANOLA, CANOLA]  # 500, then 200


async def test_a_url_apprise_cannot_use_fails_for_good_until_fixed_and_restarted(
    feed_server: FeedServer,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'wirewatch.db'}"
    async with http_receiver() as receiver:
        good = f"json://{receiver.url[7:]}/hook"
        monkeypatch.setenv("WIREWATCH_APPRISE_DESK", good)
        config = subscribe(feed_server, database, "apprise:desk")
        async with running(config, clock) as app:
            # the secret is replaced by one apprise cannot read while the bot runs
            monkeypatch.setenv("WIREWATCH_APPRISE_DESK", "nosuchservice://secret-token")
            await poll_canola_after_baseline(feed_server, app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
            (sub,) = await app.outbox.subscriptions.list_active("apprise:desk")
        assert row.state is DeliveryState.FAILED and receiver.requests == []
        assert row.last_error is not None and "WIREWATCH_APPRISE_DESK" in row.last_error
        assert "secret-token" not in row.last_error and sub.disabled_reason is not None
        monkeypatch.setenv("WIREWATCH_APPRISE_DESK", good)  # the operator fixes it
        file = tmp_path / "wirewatch.yaml"
        file.write_text(f"default_feeds: false\ndatabase_url: {database}\n")
        code = await asyncio.to_thread(main, ["deliveries", "--failed", "--config", str(file)])
        (line,) = capsys.readouterr().out.splitlines()
        assert code == 0 and line.split("\t")[1:5] == ["failed", "apprise:desk", "alert", CANOLA]
        async with running(config, clock) as app:  # and restarts: it goes out
            await app.dispatcher.flush()
            (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.SENT
    assert [r.json()["title"] for r in receiver.requests] == [CANOLA]


async def test_a_long_digest_goes_in_parts_and_a_cut_off_one_resumes(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts within the service's body limit; a failure after part 2 resumes at part 3."""
    entries = tuple(
        Entry(f"Story {n}", f"https://news.example.test/{n}", "Outlet", None, "canola", 3.0)
        for n in range(200)
    )
    message = Message("Digest: canola", Tone.DIGEST, "200 stories", (Section("Canola", entries),))
    async with http_receiver() as receiver:
        monkeypatch.setenv("WIREWATCH_APPRISE_DESK", f"mmost://{receiver.url[7:]}/abcdefghijkl")
        adapter = AppriseAdapter(timeout=20)
        channel = parse_channel("apprise:desk")
        receiver.statuses = [200, 200, 500]
        recorded: list[int] = []

        async def on_part(n: int) -> None:
            recorded.append(n)

        with pytest.raises(Exception, match="part 3 of"):
            await adapter.send(channel, message, "ww1", 0, on_part)
        assert recorded == [1, 2]
        await adapter.send(channel, message, "ww1", 2, on_part)
    texts = [r.json()["text"] for r in receiver.requests]
    count = len(texts) - 1  # part 3 was posted twice: refused, then accepted
    assert count > 3 and all(len(t) <= 4000 for t in texts)
    assert texts[2] == texts[3] and f"(3/{count})" in texts[2]
    shown = "".join(texts[:2] + texts[3:])
    assert all(f"https://news.example.test/{n}" in shown for n in range(200))


# --- checks --------------------------------------------------------------------------------


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], channel: str) -> tuple[int, str]:
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        f"default_feeds: false\nsubscriptions:\n  - channel: {channel}\n    watchlists: [canola]\n"
    )
    code = main(["check", "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("nosuchservice://s3cr3t-token", "(it starts nosuchservice://)"),
        ("json://", "(it starts json://)"),
        ("s3cr3t-token", "(it has no scheme://)"),
    ],
)
def test_check_names_an_apprise_variable_apprise_cannot_use_without_showing_it(
    value: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WIREWATCH_APPRISE_DESK", value)
    code, out = check(tmp_path, capsys, "apprise:desk")
    assert code == 2
    assert (
        "subscriptions.0.channel: WIREWATCH_APPRISE_DESK holds a URL that apprise cannot use "
        + says
    ) in out
    assert "s3cr3t" not in out


def test_check_names_an_apprise_variable_that_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIREWATCH_APPRISE_OTHER", "json://127.0.0.1:9/x")
    code, out = check(tmp_path, capsys, "apprise:desk")
    assert code == 2
    assert (
        "apprise:desk needs its URL in WIREWATCH_APPRISE_DESK (or "
        "WIREWATCH_APPRISE_DESK_FILE), which is not set (set now: WIREWATCH_APPRISE_OTHER)"
    ) in out


def test_check_accepts_a_good_apprise_url_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "url").write_text("ntfy://127.0.0.1:9/canola-desk\n")  # port 9: nobody there
    monkeypatch.setenv("WIREWATCH_APPRISE_DESK_FILE", str(tmp_path / "url"))
    code, out = check(tmp_path, capsys, "apprise:desk")
    assert code == 0 and "configuration OK" in out
    assert url_problem(parse_channel("apprise:desk")) is None


async def test_apprise_logs_never_reach_the_bot_s_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apprise logs the URLs it posts to (an ntfy topic is its secret) at INFO: none of
    its records reaches the bot's handlers, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    async with http_receiver() as receiver:
        receiver.statuses = [500]
        monkeypatch.setenv("WIREWATCH_APPRISE_DESK", f"ntfy://{receiver.url[7:]}/s3cr3t-topic")
        message = Message("t", Tone.ALERT, "x")
        adapter = AppriseAdapter(timeout=20)
        channel = parse_channel("apprise:desk")
        with pytest.raises(Exception, match="did not take"):
            await adapter.send(channel, message, "ww1")
        await adapter.send(channel, message, "ww1")
    assert len(receiver.requests) == 2
    assert "s3cr3t" not in caplog.text and not any(r.name == "apprise" for r in caplog.records)


def test_each_service_gets_its_format_and_sizes() -> None:
    cases = {
        "json://127.0.0.1:9/x": ("markdown", Limits(32768, 250)),
        "mmost://127.0.0.1:9/abcdefghijkl": ("text", Limits(4000, 0)),
        "mailto://127.0.0.1:9?from=a@example.test&to=b@example.test": ("html", Limits(32768, 250)),
        "tgram://123456789:abcdefghijklmnopqrstuvwxyz/12345": ("markdown", Limits(4096, 0)),
    }
    for url, expected in cases.items():
        service = load_service(url)
        assert service is not None and target_of(service) == expected, url
    ntfy = load_service("ntfy://127.0.0.1:9/topic")
    assert ntfy is not None
    fmt, limits = target_of(ntfy)
    assert fmt == "text" and limits.title == 200 and limits.body < 7800 - 200
    parts = render(Message("t" * 500, Tone.ALERT, "x" * 20000), fmt, limits)
    assert all(len(p.title) <= 200 and len(p.body) <= limits.body for p in parts)


async def test_a_service_that_hangs_holds_up_neither_the_bot_nor_a_second_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service that answers slower than the timeout: the attempt fails as retryable,
    the next attempt on that channel starts no second call while the first still runs,
    and the event loop's own threads (name lookups, feed parsing) stay free."""
    release = asyncio.Event()
    hits = 0

    async def hang(_request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hang)
    runner, base = await serve(app)
    adapter = AppriseAdapter(timeout=0.3)
    message = Message("t", Tone.ALERT, "x")
    try:
        for n in range(8):  # more channels than apprise has threads
            monkeypatch.setenv(f"WIREWATCH_APPRISE_DESK{n}", f"json://{base[7:]}/hook")
            with pytest.raises(DeliveryError, match="did not answer") as failed:
                await adapter.send(parse_channel(f"apprise:desk{n}"), message, "ww1")
            assert failed.value.retryable
        with pytest.raises(DeliveryError, match="not yet answered"):
            await adapter.send(parse_channel("apprise:desk0"), message, "ww1")
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.getaddrinfo("127.0.0.1", 80), 2)  # the loop's pool is free
    finally:
        release.set()
        await adapter.close()
        await runner.cleanup()
    assert hits <= 8  # no second call on a channel whose first still ran
