"""Signed JSON webhooks through the outbox, to a receiver on 127.0.0.1: the signature
checked by an implementation of the test's own, the documented receiver snippet run as
docs/webhooks.md prints it, and the id kept across a retry and a crash."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from apprise_receivers import Request, http_receiver
from feedserver import FeedServer
from loopback import serve
from recording import ManualClock
from test_delivery import (
    CANOLA,
    START,
    STRAIT,
    poll_and_deliver,
    poll_canola_after_baseline,
    publish,
    settings,
    watchlists_without_sources,
)

from adapters.webhook import RETRY_AFTER_MAX, WebhookAdapter
from bot.chat.message import Message, Tone
from bot.cli.main import main
from bot.core.channels import parse_channel
from bot.core.config import Settings, SubscriptionConfig
from bot.core.errors import DeliveryError
from bot.core.models import DeliveryState
from bot.service.app import App, open_app

SECRET = "correct-horse-battery-staple-42"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@asynccontextmanager
async def running(config: Settings, clock: ManualClock) -> AsyncIterator[App]:
    watchlists = watchlists_without_sources(config)
    adapters = {"webhook": WebhookAdapter(timeout=20)}
    async with open_app(config, watchlists, adapters, clock, deliver=True) as app:
        yield app


def configure(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("WIREWATCH_WEBHOOK_SIEM", url)
    monkeypatch.setenv("WIREWATCH_WEBHOOK_SIEM_SECRET", SECRET)


def subscribe(feed_server: FeedServer, db_url: str) -> Settings:
    subscription = SubscriptionConfig(channel="webhook:siem", watchlists=["canola"])
    return settings(feed_server, db_url, subscription)


def independently_signed(request: Request) -> bool:
    """The signature checked by hand: HMAC-SHA256 over timestamp, ".", body."""
    stamp = request.headers["X-Wirewatch-Timestamp"].encode()
    expected = hmac.new(SECRET.encode(), stamp + b"." + request.body, hashlib.sha256)
    return request.headers["X-Wirewatch-Signature"] == "v1=" + expected.hexdigest()


def receiver_snippet() -> dict[str, Any]:
    """The Python block of docs/webhooks.md, run: its names."""
    (code,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert len([line for line in code.splitlines() if line.strip()]) <= 20
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace


async def test_an_alert_is_posted_signed_and_retried_with_the_same_id(
    feed_server: FeedServer, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [500]
        configure(monkeypatch, f"{receiver.url}/wirewatch")
        async with running(subscribe(feed_server, db_url), clock) as app:
            await poll_canola_after_baseline(feed_server, app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
            assert row.state is DeliveryState.PENDING and row.last_error is not None
            assert "HTTP 500" in row.last_error
            await asyncio.sleep(1.1)  # the next attempt is signed in another second
            clock.advance(timedelta(minutes=5))
            await poll_and_deliver(app, clock)
            (row,) = await app.outbox.queue.deliveries_of("alert")
    assert row.state is DeliveryState.SENT
    first, second = receiver.requests
    assert all(independently_signed(r) for r in (first, second))
    assert first.body == second.body
    assert first.headers["X-Wirewatch-Signature"] != second.headers["X-Wirewatch-Signature"]
    body = first.json()
    assert first.headers["X-Wirewatch-Id"] == body["id"] == row.message_id
    assert body["version"] == 1 and body["kind"] == "alert" and body["title"] == CANOLA
    (story,) = body["stories"]
    assert story["url"].startswith("https://a.example.test/") and story["source"] == "Outlet A"
    best = story["matches"][0]
    assert best["watchlist"] == "canola" and best["evidence"] and best["score"] > 0


async def test_the_id_survives_a_crash_between_sending_and_recording(
    feed_server: FeedServer, sqlite_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver has the POST, the bot dies before it hears the answer; after the
    restart the same document comes again with the same id, and the snippet drops it."""
    got: list[Request] = []
    arrived, release = asyncio.Event(), asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        got.append(Request(request.path, dict(request.headers), await request.read()))
        arrived.set()
        if len(got) == 1:
            await release.wait()  # the answer the bot never hears
        return web.json_response({"ok": True})

    app_ = web.Application()
    app_.router.add_post("/hook", handle)
    runner, base = await serve(app_)
    try:
        configure(monkeypatch, f"{base}/hook")
        config = subscribe(feed_server, sqlite_url)
        publish(feed_server, "/a")
        publish(feed_server, "/b")
        async with running(config, clock) as app:
            await poll_and_deliver(app, clock)
            publish(feed_server, "/a", CANOLA)
            await app.pipeline.run_cycle(ignore_schedule=True)
            await app.dispatcher.tick()
            await arrived.wait()
            await app.dispatcher.stop(grace=0.1)  # the process dies here
            (row,) = await app.outbox.queue.deliveries_of("alert")
            assert row.state is DeliveryState.SENDING
        async with running(config, clock) as app:
            await app.dispatcher.flush()
            (row,) = await app.outbox.queue.deliveries_of("alert")
    finally:
        release.set()
        await runner.cleanup()
    assert row.state is DeliveryState.SENT
    first, second = got
    assert first.body == second.body and first.json()["id"] == second.json()["id"]
    snippet = receiver_snippet()
    assert snippet["receive"](SECRET.encode(), first.headers, first.body)["title"] == CANOLA
    assert snippet["receive"](SECRET.encode(), second.headers, second.body) is None


async def test_the_documented_receiver_refuses_tampering_staleness_and_replays() -> None:
    snippet = receiver_snippet()
    receive, secret = snippet["receive"], SECRET.encode()
    async with http_receiver() as receiver:
        adapter = WebhookAdapter(timeout=20)
        with pytest.MonkeyPatch.context() as env:
            configure(env, f"{receiver.url}/hook")
            await adapter.send(parse_channel("webhook:siem"), Message("t", Tone.ALERT), "ww7")
        await adapter.close()
    (request,) = receiver.requests
    headers, body = request.headers, request.body
    tampered = body.replace(b'"title":"t"', b'"title":"T"')
    assert tampered != body
    with pytest.raises(ValueError, match="signature"):
        receive(secret, headers, tampered)
    with pytest.raises(ValueError, match="signature"):
        receive(b"another secret entirely", headers, body)
    old = str(int(time.time()) - 3600)
    stale = dict(headers, **{"X-Wirewatch-Timestamp": old})
    stale["X-Wirewatch-Signature"] = (
        "v1=" + hmac.new(secret, old.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    with pytest.raises(ValueError, match="stale"):
        receive(secret, stale, body)
    assert receive(secret, headers, body)["id"] == headers["X-Wirewatch-Id"]
    assert receive(secret, headers, body) is None  # the same request again: a replay


@pytest.mark.parametrize(
    ("status", "retryable", "retry_after"),
    [(404, False, None), (400, False, None), (301, False, None), (408, True, None),
     (429, True, RETRY_AFTER_MAX), (503, True, RETRY_AFTER_MAX), (502, True, None)],
)  # fmt: skip
async def test_answers_are_sorted_into_retryable_and_permanent(
    status: int, retryable: bool, retry_after: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [status]
        receiver.headers = {"Retry-After": "86400", "Location": "https://elsewhere.test/"}
        configure(monkeypatch, f"{receiver.url}/hook")
        adapter = WebhookAdapter(timeout=20)
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(parse_channel("webhook:siem"), Message("t", Tone.ALERT), "ww1")
        await adapter.close()
    assert caught.value.retryable is retryable and caught.value.retry_after == retry_after
    assert f"HTTP {status}" in caught.value.reason and "127.0.0.1" not in caught.value.reason
    assert len(receiver.requests) == 1  # a redirect is not followed


async def test_an_unreachable_receiver_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "http://127.0.0.1:9/hook")  # port 9: nobody listens
    adapter = WebhookAdapter(timeout=5)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(parse_channel("webhook:siem"), Message("t", Tone.ALERT), "ww1")
    await adapter.close()
    assert caught.value.retryable and "unreachable" in caught.value.reason


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        "default_feeds: false\nsubscriptions:\n"
        "  - channel: webhook:siem\n    watchlists: [canola]\n"
    )
    code = main(["check", "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize(
    ("url", "secret", "says"),
    [
        ("https://hooks.example.test/x9", None,
         "webhook:siem needs its signing secret in WIREWATCH_WEBHOOK_SIEM_SECRET (or "
         "WIREWATCH_WEBHOOK_SIEM_SECRET_FILE), which is not set"),
        ("https://hooks.example.test/x9", "short",
         "WIREWATCH_WEBHOOK_SIEM_SECRET: a signing secret needs at least 16 characters"),
        ("http://hooks.example.test/x9", SECRET,
         "WIREWATCH_WEBHOOK_SIEM must hold an https URL: plain http is allowed only to this "
         "machine (localhost), not to hooks.example.test"),
        ("ftp://hooks.example.test/x9", SECRET,
         "WIREWATCH_WEBHOOK_SIEM must hold an https URL, not ftp://…"),
        ("x9", SECRET, "WIREWATCH_WEBHOOK_SIEM must hold an https URL, not something else"),
        ("https://hooks.example.test:99999/x9", SECRET,
         "WIREWATCH_WEBHOOK_SIEM does not hold a URL (its host or port cannot be read)"),
    ],
)  # fmt: skip
def test_check_names_what_is_wrong_with_a_webhook_without_showing_it(
    url: str,
    secret: str | None,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WIREWATCH_WEBHOOK_SIEM", url)
    if secret:
        monkeypatch.setenv("WIREWATCH_WEBHOOK_SIEM_SECRET", secret)
    code, out = check(tmp_path, capsys)
    assert code == 2 and f"subscriptions.0.channel: {says}" in out
    assert "x9" not in out and SECRET not in out


@pytest.mark.parametrize("url", ["https://hooks.example.test/x", "http://127.0.0.1:8080/x",
                                 "http://localhost/x", "http://[::1]:8080/x"])  # fmt: skip
def test_check_accepts_https_and_loopback_http(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(monkeypatch, url)
    assert check(tmp_path, capsys)[0] == 0


def test_a_webhook_name_may_not_be_another_s_secret_variable() -> None:
    for name in ("webhook:siem-secret", "webhook:siem_file", "apprise:desk-file"):
        with pytest.raises(ValueError, match="not ending in -file or -secret"):
            parse_channel(name)
    assert parse_channel("webhook:secrets").signing_env() == "WIREWATCH_WEBHOOK_SECRETS_SECRET"


async def test_a_digest_rebuilt_the_same_after_a_lost_answer_keeps_its_id(
    feed_server: FeedServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver got the digest but its answer was lost; meanwhile a match of another
    watchlist moved the routing window. The retry holds the same stories: same id."""
    clock = ManualClock(START)
    got: list[Request] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(Request(request.path, dict(request.headers), await request.read()))
        if len(got) == 1:
            await asyncio.sleep(1.5)  # accepted, but the answer comes too late
        return web.json_response({"ok": True})

    receiver = web.Application()
    receiver.router.add_post("/hook", handle)
    runner, base = await serve(receiver)
    monkeypatch.setenv("WIREWATCH_WEBHOOK_SIEM", f"{base}/hook")
    monkeypatch.setenv("WIREWATCH_WEBHOOK_SIEM_SECRET", "correct-horse-battery-staple-42")
    sub = SubscriptionConfig(
        channel="webhook:siem", watchlists=["canola"], alerts=False,
        digest="0 8 * * *", timezone="America/Toronto",
    )  # fmt: skip
    config = settings(feed_server, sqlite_url, sub)
    adapters = {"webhook": WebhookAdapter(timeout=0.5)}
    try:
        async with open_app(
            config, watchlists_without_sources(config), adapters, clock, deliver=True
        ) as app:
            await poll_canola_after_baseline(feed_server, app, clock)
            clock.now = START.replace(hour=13, second=30)  # after 08:00 in Toronto
            await poll_and_deliver(app, clock)  # the first POST: its answer is lost
            publish(feed_server, "/b", STRAIT)  # a match of a watchlist not subscribed
            clock.advance(timedelta(minutes=5))
            await asyncio.sleep(1.6)
            await poll_and_deliver(app, clock)  # the retry
    finally:
        await runner.cleanup()
    first, second = got[0].json(), got[1].json()
    assert [s["title"] for s in first["stories"]] == [s["title"] for s in second["stories"]]
    assert first["id"] == second["id"]
