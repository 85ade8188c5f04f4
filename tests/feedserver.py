"""A programmable feed server on 127.0.0.1 for tests and benchmarks (aiohttp, real sockets)."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from loopback import serve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Feed:
    """A feed body with optional validators; `conditional` answers 304 when they match."""

    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """Serves `feeds[path]` or a custom `handlers[path]`; counts requests and keeps headers."""

    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.handlers: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.request_headers: dict[str, list[dict[str, str]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> FeedServer:
        """Listen on an ephemeral loopback port."""
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        self._runner, base = await serve(app)
        self.port = int(base.rsplit(":", 1)[1])
        return self

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path_qs if request.path_qs in self.handlers else request.path
        self.hits[path] += 1
        self.request_headers.setdefault(path, []).append(dict(request.headers))
        if path in self.handlers:
            return await self.handlers[path](request)
        feed = self.feeds.get(path)
        if feed is None:
            return web.Response(status=404, text="not found")
        if (feed.etag and request.headers.get("If-None-Match") == feed.etag) or (
            feed.last_modified and request.headers.get("If-Modified-Since") == feed.last_modified
        ):
            return web.Response(status=304)
        headers = dict(feed.headers)
        if feed.etag:
            headers["ETag"] = feed.etag
        if feed.last_modified:
            headers["Last-Modified"] = feed.last_modified
        body = feed.body
        if feed.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = feed.content_type
        return web.Response(body=body, headers=headers)


def status(code: int, headers: dict[str, str] | None = None) -> Handler:
    """A handler answering `code` with `headers`."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers or {}, text=f"status {code}")

    return handler


def redirect(code: int, location: str) -> Handler:
    """A handler redirecting to `location` with `code`."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers={"Location": location})

    return handler


def slow(delay: float, body: bytes = b"") -> Handler:
    """A handler that sends headers, then stalls `delay` seconds before the body."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await asyncio.sleep(delay)
        await response.write(body)
        return response

    return handler


def silent(delay: float, body: bytes = b"") -> Handler:
    """A handler that sends nothing at all, not even headers, for `delay` seconds."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        return web.Response(body=body)

    return handler


def trickle(pieces: list[bytes], every: float) -> Handler:
    """A handler that sends headers, then one piece of the body every `every` seconds."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        try:
            for piece in pieces:
                await asyncio.sleep(every)
                await response.write(piece)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    return handler


def endless(chunk: bytes = b"<!-- padding -->" * 4096) -> Handler:
    """A handler streaming a body with no Content-Length that never ends on its own."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        try:
            for _ in range(100_000):
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    return handler


def rss(items: list[tuple[str, str, str]], title: str = "Test Feed") -> bytes:
    """A small RSS 2.0 document from (guid, title, link) triples."""
    entries = "".join(
        f'<item><guid isPermaLink="false">{g}</guid><title>{t}</title><link>{link}</link>'
        f"<description>About {t}</description></item>"
        for g, t, link in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example.test/</link>{entries}</channel></rss>"
    ).encode()
