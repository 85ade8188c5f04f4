"""The fetcher against a real loopback server: validators, limits, redirects, errors."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web
from feedserver import Feed, FeedServer, endless, redirect, rss, silent, slow, status, trickle

from bot import USER_AGENT
from bot.feeds.fetch import Fetcher, FetchLimits, parse_max_age, parse_retry_after
from bot.feeds.stall_watch import SWEEPER_NAME

BODY = rss([("g1", "Canola duties lifted", "https://news.example.test/a")])


async def test_conditional_get_with_etag_and_last_modified(feed_server: FeedServer) -> None:
    feed_server.feeds["/f"] = Feed(BODY, etag='"v1"', last_modified="Mon, 23 Nov 2026 00:00:00 GMT")
    async with Fetcher(FetchLimits()) as fetcher:
        first = await fetcher.fetch(feed_server.url("/f"))
        second = await fetcher.fetch(feed_server.url("/f"), first.etag, first.last_modified)
    assert first.status == 200 and first.body == BODY and first.etag == '"v1"'
    assert second.status == 304 and second.body is None and second.error is None
    sent = feed_server.request_headers["/f"][1]
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Mon, 23 Nov 2026 00:00:00 GMT"
    assert sent["User-Agent"] == USER_AGENT and "github.com" in USER_AGENT


async def test_gzip_body_is_decompressed(feed_server: FeedServer) -> None:
    feed_server.feeds["/gz"] = Feed(BODY, gzip=True)
    async with Fetcher(FetchLimits()) as fetcher:
        result = await fetcher.fetch(feed_server.url("/gz"))
    assert result.body == BODY
    assert "gzip" in feed_server.request_headers["/gz"][0]["Accept-Encoding"]


async def test_size_cap_by_content_length_and_while_streaming(feed_server: FeedServer) -> None:
    feed_server.feeds["/big"] = Feed(b"x" * 5000)
    feed_server.handlers["/endless"] = endless()
    async with Fetcher(FetchLimits(max_bytes=4096)) as fetcher:
        declared = await fetcher.fetch(feed_server.url("/big"))
        streamed = await fetcher.fetch(feed_server.url("/endless"))
    assert declared.error_kind == "too_large" and declared.body is None
    assert streamed.error_kind == "too_large" and "poll.max_bytes (4 KiB)" in (streamed.error or "")


async def test_gzip_bomb_is_capped_after_decompression(feed_server: FeedServer) -> None:
    feed_server.feeds["/bomb"] = Feed(b"<" * 3_000_000, gzip=True)  # ~3 KB on the wire
    async with Fetcher(FetchLimits(max_bytes=1_000_000)) as fetcher:
        result = await fetcher.fetch(feed_server.url("/bomb"))
    assert result.error_kind == "too_large"


async def test_redirect_chain_remembers_only_permanent_targets(feed_server: FeedServer) -> None:
    feed_server.feeds["/final"] = Feed(BODY)
    feed_server.handlers["/old"] = redirect(301, "/middle")
    feed_server.handlers["/middle"] = redirect(308, feed_server.url("/final"))
    feed_server.handlers["/temp"] = redirect(302, "/middle")
    async with Fetcher(FetchLimits()) as fetcher:
        permanent = await fetcher.fetch(feed_server.url("/old"))
        temporary = await fetcher.fetch(feed_server.url("/temp"))
    assert permanent.body == BODY and permanent.permanent_url == feed_server.url("/final")
    assert temporary.body == BODY and temporary.permanent_url is None


async def test_redirect_loop_and_too_many_redirects(feed_server: FeedServer) -> None:
    feed_server.handlers["/a"] = redirect(302, "/b")
    feed_server.handlers["/b"] = redirect(302, "/a")
    for i in range(10):
        feed_server.handlers[f"/r{i}"] = redirect(301, f"/r{i + 1}")
    async with Fetcher(FetchLimits(max_redirects=5)) as fetcher:
        loop = await fetcher.fetch(feed_server.url("/a"))
        long = await fetcher.fetch(feed_server.url("/r0"))
    assert loop.error_kind == "redirect" and "loop" in (loop.error or "")
    assert long.error_kind == "redirect" and "more than 5" in (long.error or "")


async def test_error_statuses(feed_server: FeedServer) -> None:
    feed_server.handlers["/gone"] = status(410)
    feed_server.handlers["/limited"] = status(429, {"Retry-After": "120"})
    feed_server.handlers["/broken"] = status(500)
    async with Fetcher(FetchLimits()) as fetcher:
        gone = await fetcher.fetch(feed_server.url("/gone"))
        limited = await fetcher.fetch(feed_server.url("/limited"))
        broken = await fetcher.fetch(feed_server.url("/broken"))
        missing = await fetcher.fetch(feed_server.url("/nope"))
    assert gone.error_kind == "gone"
    assert limited.status == 429 and limited.retry_after == 120.0
    assert broken.status == 500 and broken.error == "HTTP 500"
    assert missing.status == 404 and missing.error_kind == "http"


async def test_read_timeout_and_refused_connection(feed_server: FeedServer) -> None:
    feed_server.handlers["/slow"] = slow(1.5, BODY)
    with socket.socket() as sock:  # a port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with Fetcher(FetchLimits(read_timeout=0.3)) as fetcher:
        timed_out = await fetcher.fetch(feed_server.url("/slow"))
        refused = await fetcher.fetch(f"http://127.0.0.1:{closed_port}/feed")
    assert timed_out.error_kind == "timeout"
    assert refused.error_kind == "connection"


async def test_read_timeout_is_the_wait_for_a_byte_not_for_the_whole_body(
    feed_server: FeedServer,
) -> None:
    # eight pieces 0.1 s apart: 0.8 s in all, but never 0.3 s without a byte
    pieces = [BODY[n : n + len(BODY) // 8 + 1] for n in range(0, len(BODY), len(BODY) // 8 + 1)]
    feed_server.handlers["/steady"] = trickle(pieces, every=0.1)
    feed_server.handlers["/silent"] = silent(1.5, BODY)  # not even headers
    task = asyncio.current_task()
    assert task is not None
    async with Fetcher(FetchLimits(read_timeout=0.3, total_timeout=30)) as fetcher:
        steady = await fetcher.fetch(feed_server.url("/steady"))
        # twice in one task, as a poller does: the watch's own cancellation must leave the
        # task as it found it, or the second timeout would escape as a CancelledError
        for _ in range(2):
            quiet = await fetcher.fetch(feed_server.url("/silent"))
            assert (
                quiet.error_kind == "timeout"
                and quiet.error == "timed out: no data for 0.3 s (poll.read_timeout)"
            )
            assert task.cancelling() == 0
    assert steady.status == 200 and steady.body == BODY
    assert not [t for t in asyncio.all_tasks() if t.get_name() == SWEEPER_NAME], "sweeper stopped"


async def test_total_timeout_cuts_a_body_that_never_stops_trickling(
    feed_server: FeedServer,
) -> None:
    feed_server.handlers["/trickle"] = trickle([b"<!-- still here -->"] * 1000, every=0.05)
    loop = asyncio.get_running_loop()
    async with Fetcher(FetchLimits(read_timeout=0.3, total_timeout=0.6)) as fetcher:
        started = loop.time()
        result = await fetcher.fetch(feed_server.url("/trickle"))
        took = loop.time() - started
    assert (
        result.error_kind == "timeout"
        and result.error == "timed out: the whole request took over 0.6 s (poll.total_timeout)"
    )
    assert took < 5, "cut at the total timeout, not after the 50 s the server would trickle"


async def test_a_fetch_cancelled_from_outside_stays_cancelled(feed_server: FeedServer) -> None:
    feed_server.handlers["/slow"] = slow(1.5, BODY)
    async with Fetcher(FetchLimits(read_timeout=60)) as fetcher:
        task = asyncio.create_task(fetcher.fetch(feed_server.url("/slow")))
        await asyncio.sleep(0.2)  # waiting for the body
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the watch and the caller cancel at the same moment: the caller wins
        task = asyncio.create_task(fetcher.fetch(feed_server.url("/slow")))
        await asyncio.sleep(0.2)
        fetcher._stalls.sweep(asyncio.get_running_loop().time() + 3600)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_per_host_concurrency_is_bounded(feed_server: FeedServer) -> None:
    active = 0
    peak = 0

    async def counting(_request: web.Request) -> web.StreamResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return web.Response(body=BODY)

    for i in range(8):
        feed_server.handlers[f"/c{i}"] = counting
    async with Fetcher(FetchLimits(per_host=2)) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(feed_server.url(f"/c{i}")) for i in range(8))
        )
    assert all(r.body == BODY for r in results)
    assert peak == 2


def test_retry_after_and_max_age_parsing() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after(later, now) == 90.0
    assert parse_retry_after("soon") is None
    assert parse_max_age("public, max-age=600") == 600.0
    assert parse_max_age("no-cache, max-age=600") is None
    assert parse_max_age(None) is None


async def test_connection_errors_read_in_our_words_naming_the_host() -> None:
    async with Fetcher(FetchLimits(connect_timeout=5)) as fetcher:
        refused = await fetcher.fetch("http://127.0.0.1:9/feed")
        unknown = await fetcher.fetch("http://feeds.invalid/feed")
    assert refused.error_kind == "connection"
    assert refused.error == "cannot connect to 127.0.0.1 port 9: connection refused"
    assert unknown.error_kind == "connection" and unknown.error is not None
    assert unknown.error.startswith("cannot find the host feeds.invalid (DNS)")
    for error in (refused.error, unknown.error):
        assert "ssl:default" not in error and "ConnectionKey" not in error


async def test_http_proxy_from_the_environment_and_no_proxy(
    monkeypatch: pytest.MonkeyPatch, feed_server: FeedServer
) -> None:
    """HTTP_PROXY carries a feed's request; a host NO_PROXY names is reached directly."""
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append((await reader.readline()).strip())
        while (await reader.readline()).strip():
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    feed_server.feeds["/direct"] = Feed(BODY)
    try:
        async with Fetcher(FetchLimits()) as fetcher:
            proxied = await fetcher.fetch("http://feeds.example.test/world.xml")
            direct = await fetcher.fetch(feed_server.url("/direct"))
    finally:
        server.close()
        await server.wait_closed()
    assert proxied.body == BODY and direct.body == BODY
    assert asked == [b"GET http://feeds.example.test/world.xml HTTP/1.1"]
    assert "/direct" in feed_server.request_headers
