"""Hostile requests to `/slack/events` in Slack HTTP mode: refused before anything parses
them, never a 500, never acted on, never logged whole; and a command whose answer
cannot be posted logs a warning, not an unretrieved task exception."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from fakeslack import FakeSlack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_slack import SECRET, adapter_for, bot_with_slack, signed

from adapters.slack import SlackAdapter
from adapters.slack_gate import (
    MAX_BODY_BYTES,
    WINDOW_SECONDS,
    RecentDeliveries,
    delivery_keys,
    signature_problem,
)
from bot.service.app import App

FORM = "application/x-www-form-urlencoded"
MARKER = "ZZ-CANARY-ZZ"  # in bodies that must never reach the log


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    try:
        yield slack
    finally:
        await slack.stop()


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


@asynccontextmanager
async def slack_bot(
    fake: FakeSlack, sqlite_url: str
) -> AsyncIterator[tuple[App, SlackAdapter, str, aiohttp.ClientSession]]:
    """The whole bot in Slack HTTP mode, its `/slack/events` URL and an HTTP session."""
    fake.users["UADMIN"] = {"id": "UADMIN", "is_admin": True}
    adapter = adapter_for(fake)
    async with (
        bot_with_slack(fake, sqlite_url, adapter) as (app, url),
        aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as http,
    ):
        yield app, adapter, url, http


async def settled(adapter: SlackAdapter) -> None:
    """Wait until every /news answer task of `adapter` has finished, then collect garbage
    (an unretrieved task exception is logged when its task is collected)."""
    for _ in range(250):
        if not adapter._tasks:
            break
        await asyncio.sleep(0.02)
    assert not adapter._tasks
    await asyncio.sleep(0.05)
    gc.collect()


async def assert_nothing_acted_on(app: App, adapter: SlackAdapter, fake: FakeSlack) -> None:
    await settled(adapter)
    assert fake.responses == []
    assert [method for method, _ in fake.calls] == ["auth.test"]  # at start-up, nothing since
    assert await app.outbox.subscriptions.list_active() == []


def assert_logged_briefly(caplog: pytest.LogCaptureFixture, *, refusals: int = 1) -> None:
    """Each refusal logged once in a short line; no body, no signature, no traceback."""
    assert "Traceback" not in caplog.text and "never retrieved" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert all(len(record.getMessage()) < 300 for record in caplog.records)
    assert MARKER not in caplog.text and "v0=" not in caplog.text and SECRET not in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    refused = [r for r in caplog.records if "refused a Slack request" in r.getMessage()]
    assert len(refused) == refusals, caplog.text


def admin_subscribe_form(**extra: str) -> str:
    """The form of `/news subscribe canola` by a workspace admin (what an attacker would
    want run), with `extra` fields."""
    body, _ = signed("subscribe canola " + MARKER, "http://127.0.0.1:9/response", user="UADMIN")
    return urllib.parse.urlencode(dict(urllib.parse.parse_qsl(body)) | extra)


def forged_headers(content_type: str | None = FORM, ts: str | None = None) -> dict[str, str]:
    headers = {
        "X-Slack-Request-Timestamp": str(int(time.time())) if ts is None else ts,
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    return headers | ({"Content-Type": content_type} if content_type else {})


async def refused(
    fake: FakeSlack,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
    body: bytes | str,
    headers: dict[str, str],
) -> None:
    """`body` with `headers` gets 401, is not acted on and is logged in one short line."""
    async with slack_bot(fake, sqlite_url) as (app, adapter, url, http):
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 401, await resp.text()
            assert await resp.json() == {"error": "invalid request"}
        await assert_nothing_acted_on(app, adapter, fake)
    assert_logged_briefly(caplog)


# --- one regression test per attack ------------------------------------------------------


async def test_unsigned_payload_list_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    body = admin_subscribe_form(payload="[1,2]")
    await refused(fake, sqlite_url, caplog_info, body, forged_headers())


async def test_unsigned_payload_null_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    body = admin_subscribe_form(payload="null")
    await refused(fake, sqlite_url, caplog_info, body, forged_headers())


async def test_unsigned_non_json_payload_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    body = admin_subscribe_form(payload="{not json")
    await refused(fake, sqlite_url, caplog_info, body, forged_headers())


async def test_unsigned_json_body_that_is_not_an_object_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    await refused(fake, sqlite_url, caplog_info, "[1,2]", forged_headers("application/json"))


async def test_unsigned_binary_body_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    body = b"\xff\xfe\x00payload=\x80\x81" + MARKER.encode() + bytes(range(256))
    await refused(fake, sqlite_url, caplog_info, body, forged_headers(None))


async def test_a_non_numeric_timestamp_header_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    body = admin_subscribe_form()
    # signed with the right secret over the timestamp as sent: still refused
    digest = hmac.new(SECRET.encode(), f"v0:abc:{body}".encode(), hashlib.sha256).hexdigest()
    headers = forged_headers(ts="abc") | {"X-Slack-Signature": f"v0={digest}"}
    await refused(fake, sqlite_url, caplog_info, body, headers)
    assert "malformed X-Slack-Request-Timestamp" in caplog_info.text


async def test_a_request_without_signature_headers_is_refused_with_401(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    await refused(fake, sqlite_url, caplog_info, admin_subscribe_form(), {"Content-Type": FORM})


async def test_a_large_unsigned_form_is_refused_and_not_logged(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    body = admin_subscribe_form(junk=MARKER * ((MAX_BODY_BYTES - 1000) // len(MARKER)))
    assert MAX_BODY_BYTES - 1000 < len(body) <= MAX_BODY_BYTES
    await refused(fake, sqlite_url, caplog_info, body, forged_headers())


async def unfinished_request(url: str, head: str, chunks: list[bytes]) -> bytes:
    """Send `head` and then `chunks` on a raw connection, never finishing the body;
    return all the server answers before it closes the connection (which it must do
    within 5 seconds: it does not wait for, nor read, the rest)."""
    split = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(split.hostname, split.port)
    try:
        writer.write(head.replace("{path}", split.path).encode())
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)  # to the end: the server closed
    finally:
        writer.close()


async def test_an_oversized_body_gets_413_before_it_is_read(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(fake, sqlite_url) as (app, adapter, url, _):
        # Content-Length says 10 MB; only 1 kB ever comes: the answer cannot wait for it
        head = (
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM + "\r\n"
            "Content-Length: 10000000\r\n\r\n"
        )
        answer = await unfinished_request(url, head, [MARKER.encode() * 50])
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        # no length announced (chunked): reading stops just past the cap
        head = "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"%x\r\n%s\r\n" % (4096, MARKER.encode() * (4096 // len(MARKER)) + b"=" * 4)
        answer = await unfinished_request(url, head, [chunk] * (MAX_BODY_BYTES // 4096 + 1))
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"Connection: close" in answer
        await assert_nothing_acted_on(app, adapter, fake)
    assert_logged_briefly(caplog_info, refusals=2)
    assert "body over 65536 bytes (Content-Length 10000000)" in caplog_info.text


def signed_raw(body: bytes, content_type: str = FORM) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"payload=%5B1%2C2%5D", FORM), (b"payload=null", FORM), (b"payload=%7Bnot", FORM),
     (b"\xff\xfe", FORM), (b"[1,2]", "application/json"), (b"[" * 60_000, "application/json")],
    ids=["payload-list", "payload-null", "payload-not-json", "binary", "json-list", "deep"],
)  # fmt: skip
async def test_a_signed_request_bolt_cannot_read_gets_400_not_500(
    fake: FakeSlack,
    sqlite_url: str,
    caplog_info: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
) -> None:
    async with slack_bot(fake, sqlite_url) as (app, adapter, url, http):
        async with http.post(url, data=body, headers=signed_raw(body, content_type)) as resp:
            assert resp.status == 400
        await assert_nothing_acted_on(app, adapter, fake)
    assert_logged_briefly(caplog_info, refusals=0)
    assert "refused a signed Slack request bolt cannot read" in caplog_info.text


async def test_a_replayed_signed_request_is_acted_on_once(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(fake, sqlite_url) as (app, adapter, url, http):
        body, headers = signed("subscribe canola", f"{fake.url}/response/1", user="UADMIN")
        for _ in range(3):  # Slack's request, then two replays of it by whoever saw it
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200
        await settled(adapter)
        (answer,) = fake.responses
        assert answer["text"] == "Subscribed"
        assert len(await app.outbox.subscriptions.list_active("slack:C0123456789")) == 1
        # a new command (its own trigger_id and signature) is acted on as usual
        body, headers = signed("help", f"{fake.url}/response/2")
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200
        await settled(adapter)
        assert len(fake.responses) == 2
    assert caplog_info.text.count("ignored a repeat of a Slack request") == 2
    assert_logged_briefly(caplog_info, refusals=0)


async def test_a_slack_retry_of_a_command_already_acked_is_not_run_again(
    fake: FakeSlack, sqlite_url: str, caplog_info: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(fake, sqlite_url) as (app, adapter, url, http):
        now = int(time.time())
        body, headers = signed(
            "subscribe canola", f"{fake.url}/response/1", user="UADMIN", ts=now, trigger="7.7.7"
        )
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200
        # Slack signs its retry anew (a later timestamp); the trigger_id is the same
        body, headers = signed(
            "subscribe canola", f"{fake.url}/response/1", user="UADMIN", ts=now + 1,
            trigger="7.7.7",
        )  # fmt: skip
        headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200 and resp.headers["X-Slack-No-Retry"] == "1"
            assert await resp.read() == b""
        await settled(adapter)
        assert len(fake.responses) == 1
        assert len(await app.outbox.subscriptions.list_active()) == 1
    assert "ignored a repeat of a Slack request already acted on (Slack's retry '1')" in (
        caplog_info.text
    )


@pytest.mark.parametrize(
    "response_url",
    [None, "", "not a url", "ftp://127.0.0.1/x", "http://127.0.0.1:1/closed-port", "/response/404"],
    ids=["missing", "empty", "not-a-url", "not-http", "unreachable", "refused-404"],
)
async def test_a_command_whose_answer_cannot_be_posted_logs_a_warning(
    fake: FakeSlack,
    sqlite_url: str,
    caplog_info: pytest.LogCaptureFixture,
    response_url: str | None,
) -> None:
    if response_url == "/response/404":
        response_url = f"{fake.url}/missing/404"  # the fake serves no such path: 404
    async with slack_bot(fake, sqlite_url) as (_, adapter, url, http):
        body, headers = signed("subscribe canola", response_url, user="UADMIN")
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200  # acked: the failure is ours to log, not Slack's
        await settled(adapter)
    assert fake.responses == []
    assert_logged_briefly(caplog_info, refusals=0)
    warnings = [r.getMessage() for r in caplog_info.records if r.name == "adapters.slack"]
    if response_url in (None, "", "not a url", "ftp://127.0.0.1/x"):
        assert warnings == [
            "cannot answer /news from UADMIN: the command came without a usable "
            "response_url, so it was not run"
        ]
    elif "closed-port" in str(response_url):
        assert warnings == [
            "cannot post the /news answer for UADMIN to its response_url (ClientConnectorError)"
        ]
    else:
        assert len(warnings) == 1 and warnings[0].startswith(
            "Slack refused the /news answer for UADMIN: HTTP 404"
        )
    assert "/response" not in caplog_info.text and "/missing" not in caplog_info.text


async def test_close_cancels_an_answer_still_running(fake: FakeSlack) -> None:
    adapter = adapter_for(fake)
    started = asyncio.Event()

    async def slow(_command: object) -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(slow(None))
    adapter._tasks.add(task)
    task.add_done_callback(adapter._tasks.discard)
    await started.wait()
    await adapter.close()
    assert task.cancelled() and not adapter._tasks


# --- any unsigned request: 401 or 413, never 500 ---------------------------------------

header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("é\t€"), max_size=80
)
timestamps = st.one_of(
    st.none(),
    header_text,
    st.integers(-(10**20), 10**20).map(str),
    st.integers(-WINDOW_SECONDS * 2, WINDOW_SECONDS * 2).map(lambda d: str(int(time.time()) + d)),
)
signatures = st.one_of(
    st.none(),
    header_text,
    st.binary(min_size=32, max_size=32).map(lambda b: "v0=" + b.hex()),
    st.binary(min_size=32, max_size=32).map(lambda b: "v0=" + b.hex().upper()),
)
payloads = st.one_of(
    st.sampled_from(["[1,2]", "null", "{", "{}", '"x"', "1e999", "[" * 5000, '{"type":1}']),
    st.text(max_size=200),
)
bodies = st.one_of(
    st.binary(max_size=2000),
    payloads.map(lambda p: urllib.parse.urlencode({"payload": p})),
    payloads,
    st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=8).map(
        urllib.parse.urlencode
    ),
    st.sampled_from([MAX_BODY_BYTES + 1, 3 * MAX_BODY_BYTES]).map(lambda n: b"a=" * (n // 2)),
)
content_types = st.sampled_from([None, FORM, "application/json", "text/plain", "multipart/x"])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    content_type=content_types,
    timestamp=timestamps,
    signature=signatures,
    retry=st.sampled_from([None, "1", "x"]),
)
async def test_any_unsigned_request_is_refused_never_a_500(
    shared_bot: tuple[App, SlackAdapter, str, aiohttp.ClientSession, FakeSlack],
    body: bytes | str,
    content_type: str | None,
    timestamp: str | None,
    signature: str | None,
    retry: str | None,
) -> None:
    _, _, url, http, _ = shared_bot
    headers = {
        name: value
        for name, value in [
            ("Content-Type", content_type),
            ("X-Slack-Request-Timestamp", timestamp),
            ("X-Slack-Signature", signature),
            ("X-Slack-Retry-Num", retry),
        ]
        if value is not None
    }
    size = len(body)
    async with http.post(url, data=body, headers=headers) as resp:
        assert resp.status == (413 if size > MAX_BODY_BYTES else 401), await resp.text()


@pytest.fixture
async def shared_bot(
    fake: FakeSlack, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[App, SlackAdapter, str, aiohttp.ClientSession, FakeSlack]]:
    """One bot for every example of the fuzz test; afterwards, nothing was acted on and
    nothing was logged beyond one short line per refusal."""
    caplog.set_level(logging.INFO)
    async with slack_bot(fake, sqlite_url) as (app, adapter, url, http):
        yield app, adapter, url, http, fake
        await assert_nothing_acted_on(app, adapter, fake)
    assert "Traceback" not in caplog.text and "never retrieved" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert all(len(record.getMessage()) < 300 for record in caplog.records)


# --- the parts, one by one ---------------------------------------------------------------


def test_a_signature_is_checked_on_the_raw_bytes_within_five_minutes() -> None:
    body = b"text=caf\xc3\xa9&x=\xff"
    now = 1_795_000_000
    digest = hmac.new(SECRET.encode(), b"v0:%d:" % now + body, hashlib.sha256).hexdigest()
    good = f"v0={digest}"
    assert signature_problem(SECRET, str(now), good, body, now + WINDOW_SECONDS) is None
    assert signature_problem(SECRET, str(now), good, body, now - WINDOW_SECONDS) is None
    problems = {
        "stale": signature_problem(SECRET, str(now), good, body, now + WINDOW_SECONDS + 1),
        "body": signature_problem(SECRET, str(now), good, body + b" ", now),
        "secret": signature_problem("other", str(now), good, body, now),
        "upper": signature_problem(SECRET, str(now), good.upper(), body, now),
        "float": signature_problem(SECRET, f"{now}.0", good, body, now),
        "signed": signature_problem(SECRET, f"+{now}", good, body, now),
        "unicode digits": signature_problem(SECRET, "١٢٣", good, body, now),
        "no timestamp": signature_problem(SECRET, None, good, body, now),
        "no signature": signature_problem(SECRET, str(now), None, body, now),
        "non-ascii signature": signature_problem(SECRET, str(now), "v0=é" * 10, body, now),
    }
    assert all(problems.values()), problems
    assert str(now) not in str(problems) and digest not in str(problems)


def test_a_delivery_is_named_by_its_signature_and_its_trigger_or_event_id() -> None:
    assert delivery_keys("v0=ab", b"command=%2Fnews&trigger_id=1.2.3") == [
        "signature:v0=ab",
        "trigger_id:1.2.3",
    ]
    assert delivery_keys("v0=ab", b'{"event_id": "Ev1"}') == ["signature:v0=ab", "event_id:Ev1"]
    for odd in (b"\xff", b"[1,2]", b"{" + b"[" * 100_000, b'{"event_id": 5}', b"a=1"):
        assert delivery_keys("v0=ab", odd) == ["signature:v0=ab"]


def test_deliveries_are_remembered_for_the_window_and_in_bounded_number() -> None:
    now = [0.0]
    recent = RecentDeliveries(seconds=300, limit=3, clock=lambda: now[0])
    assert recent.first_time(["a", "t1"])
    assert not recent.first_time(["b", "t1"])  # same trigger: a retry
    assert not recent.first_time(["a"])  # same signature: a replay
    assert len(recent) == 2  # nothing new remembered for the repeats
    now[0] = 301.0
    assert recent.first_time(["a", "t1"])  # forgotten after the window (Slack refuses it then)
    for n in range(10):
        assert recent.first_time([f"k{n}"])
    assert len(recent) == 3  # the oldest dropped first
    assert recent.first_time(["a"]) and not recent.first_time(["k9"])
