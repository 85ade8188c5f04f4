"""HTTP for feeds: one shared aiohttp session, conditional GET, limits, redirects.

A feed may send its own User-Agent, on every hop, and its own headers, only to its own
host: a redirect to another host does not carry them (a cookie or a token given for
one site is not handed to the next).

A guarded fetch (a feed added from chat) goes through a second session, opened at its
first use, whose connector lets `AddressGuard` refuse each address it is about to
connect to, on every hop; it never goes through a proxy, which would hide the address
from the guard.

`Fetcher.fetch` never raises for anything a server or network can do: every failure
becomes a FetchResult with `error_kind` set, so one bad feed costs only its own poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot import USER_AGENT
from bot.core import environment
from bot.core.models import FetchResult
from bot.core.wording import quoted
from bot.feeds.address_guard import REFUSED, AddressGuard
from bot.feeds.charset import content_type_charset
from bot.feeds.fetch_errors import describe_client_error, timed_out, too_large
from bot.feeds.stall_watch import StallWatch, Watched

LONGEST_HOLD = 7 * 86400.0  # seconds: more than any wait a feed's schedule honours
_PERMANENT = {301, 308}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.I)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds for every request: concurrency, timeouts (seconds), body size, redirects."""

    concurrency: int = 32
    per_host: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 90.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    allow_private: tuple[str, ...] = ()  # hosts and ranges a guarded fetch may reach


class Fetcher:
    """Fetches feeds through one session, at most `concurrency` at once and `per_host` a host."""

    def __init__(self, limits: FetchLimits) -> None:
        self.limits = limits
        self._global = asyncio.Semaphore(limits.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(limits.per_host)
        )
        self._session: aiohttp.ClientSession | None = None
        self._guarded: aiohttp.ClientSession | None = None
        self.guard = AddressGuard(limits.allow_private)
        self._stalls = StallWatch(limits.read_timeout, limits.total_timeout)
        self._proxies = environment.proxies()
        self._routes: dict[str, tuple[str, str | None]] = {}

    async def __aenter__(self) -> Fetcher:
        self._session = self._open_session(aiohttp.TCPConnector(
            limit=0, ttl_dns_cache=300, enable_cleanup_closed=True
        ))  # fmt: skip
        self._stalls.start()
        return self

    def _open_session(self, connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
        # read and total timeouts are the StallWatch's: no timer per request
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.limits.connect_timeout)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers={
                "User-Agent": self.limits.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
            auto_decompress=True,
            trust_env=False,  # proxies are read once (_proxy); aiohttp's per-request env and
        )  # .netrc lookups made every poll four times slower

    def _guarded_session(self) -> aiohttp.ClientSession:
        """The session of guarded fetches, opened at the first one."""
        if self._guarded is None:
            self._guarded = self._open_session(aiohttp.TCPConnector(
                limit=0, ttl_dns_cache=300, enable_cleanup_closed=True,
                socket_factory=self.guard.socket_factory,
            ))  # fmt: skip
        return self._guarded

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            for session in (self._session, self._guarded):
                if session is not None:
                    await session.close()
            self._session = self._guarded = None
        finally:
            await self._stalls.stop()

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        guarded: bool = False,
        user_agent: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> FetchResult:
        """Conditional GET of `url`, following up to `max_redirects` redirects by hand;
        `guarded` (a feed added from chat): each hop only to an address `guard` allows.
        `user_agent` replaces the bot's on every hop; `headers` go to `url`'s host only."""
        try:
            host, _ = self._route(url)
        except ValueError:  # urlsplit's: "http://[bad/x", a port out of range
            return _error(None, f"{quoted(url)} is not a URL that can be fetched", "http")
        # a per-host limit as wide as the global one can never bind: one semaphore is enough
        per_host = self._hosts[host] if self.limits.per_host < self.limits.concurrency else None
        async with self._global, per_host or contextlib.nullcontext():
            watched = self._stalls.watch()
            try:
                own = _Own(host, user_agent, tuple(headers))
                return await self._fetch(url, etag, last_modified, watched, guarded, own)
            except asyncio.CancelledError:
                if (reason := self._stalls.claim(watched)) is None:
                    raise
                return FetchResult(status=None, error=reason, error_kind="timeout")
            except TimeoutError:  # connecting
                error = timed_out(
                    "connecting took over", self.limits.connect_timeout, "connect_timeout"
                )
                return FetchResult(status=None, error=error, error_kind="timeout")
            except aiohttp.ClientConnectorError as exc:
                refused = str(exc.os_error)
                if REFUSED in refused:  # one address or several ("Multiple exceptions: ")
                    error = refused[refused.index(REFUSED) :].splitlines()[0][:300]
                    return FetchResult(status=None, error=error, error_kind="refused")
                error = describe_client_error(exc)
                return FetchResult(status=None, error=error, error_kind="connection")
            except (aiohttp.ClientError, ValueError, UnicodeError) as exc:
                return FetchResult(status=None, error=describe_client_error(exc), error_kind="http")
            finally:
                self._stalls.done(watched)

    async def _fetch(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        watched: Watched,
        guarded: bool,
        own: _Own,
    ) -> FetchResult:
        assert self._session is not None, "use Fetcher as an async context manager"
        headers: dict[str, str] = {}
        if own.user_agent:
            headers["User-Agent"] = own.user_agent
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        elsewhere = headers  # what a hop to another host sends
        if own.headers:
            headers = {**headers, **dict(own.headers)}
        visited = {url}
        permanent: str | None = None
        all_permanent = True
        for _hop in range(self.limits.max_redirects + 1):
            host, proxy = self._route(url)
            session = self._session
            if guarded and not self.guard.allows_host(host):
                if (refusal := self.guard.url_refusal(url)) is not None:
                    return _error(None, refusal, "refused")
                session, proxy = self._guarded_session(), None
            sent = headers if host == own.host else elsewhere
            async with session.get(url, headers=sent, allow_redirects=False, proxy=proxy) as resp:
                self._stalls.receiving(watched, resp.content)
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        return _error(resp.status, "redirect without a Location", "http")
                    url = urljoin(url, location)
                    if urlsplit(url).scheme not in ("http", "https"):
                        return _error(resp.status, f"redirect to {url!r}", "http")
                    if url in visited:
                        return _error(resp.status, f"redirect loop at {url}", "redirect")
                    visited.add(url)
                    all_permanent = all_permanent and resp.status in _PERMANENT
                    permanent = url if all_permanent else permanent
                    continue
                return await self._finish(resp, permanent, url)
        return _error(None, f"more than {self.limits.max_redirects} redirects", "redirect")

    def _route(self, url: str) -> tuple[str, str | None]:
        """The host of `url` and its proxy (HTTP(S)_PROXY, NO_PROXY), decided once per URL."""
        route = self._routes.get(url)
        if route is None:
            parts = urlsplit(url)
            host = parts.hostname or ""
            proxy = self._proxies.get(parts.scheme)
            bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
            if proxy and bypass(host, self._proxies):
                proxy = None
            if len(self._routes) > 100_000:
                self._routes.clear()
            route = self._routes[url] = (host, proxy)
        return route

    async def _finish(
        self, resp: aiohttp.ClientResponse, permanent: str | None, url: str
    ) -> FetchResult:
        # each result built once, by keyword: a dict of common fields unpacked into the
        # constructor cost a twentieth of an unchanged poll
        status, headers = resp.status, resp.headers
        retry_after = parse_retry_after(headers.get("Retry-After"))
        max_age = parse_max_age(headers.get("Cache-Control"))
        body = error = kind = None
        if status == 200:
            declared = resp.content_length
            if declared is not None and declared > self.limits.max_bytes:
                error, kind = too_large(self.limits.max_bytes), "too_large"
            elif declared is not None and "Content-Encoding" not in headers:
                # the parser stops at the declared length, so the cap holds without streaming
                body = await resp.read()
            elif (body := await self._read_capped(resp)) is None:
                error, kind = too_large(self.limits.max_bytes), "too_large"
        elif status != 304:
            error, kind = f"HTTP {status}", "gone" if status == 410 else "http"
        return FetchResult(
            status=status,
            body=body,
            etag=headers.get("ETag") if body is not None else None,
            last_modified=headers.get("Last-Modified") if body is not None else None,
            permanent_url=permanent,
            retry_after=retry_after,
            max_age=max_age,
            error=error,
            error_kind=kind,
            charset=content_type_charset(headers.get("Content-Type")) if body is not None else None,
            final_url=url,
        )

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes | None:
        """The body, streamed; None once it grows past `max_bytes`."""
        streamed = bytearray()
        async for chunk in resp.content.iter_chunked(1 << 16):
            streamed += chunk
            if len(streamed) > self.limits.max_bytes:
                return None
        return bytes(streamed)


@dataclass(frozen=True, slots=True)
class _Own:
    """A feed's own request settings: its host (where `headers` may go), its User-Agent."""

    host: str
    user_agent: str | None
    headers: tuple[tuple[str, str], ...]


def _error(status: int | None, message: str, kind: str) -> FetchResult:
    return FetchResult(status=status, error=message, error_kind=kind)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), at most
    LONGEST_HOLD: a server's number, however large, must not overflow a timedelta."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), LONGEST_HOLD)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - (now or datetime.now(UTC))).total_seconds()), LONGEST_HOLD)


def parse_max_age(value: str | None) -> float | None:
    """`max-age` from a Cache-Control header, at most LONGEST_HOLD, or None (also for
    no-cache / no-store)."""
    if not value or re.search(r"no-(cache|store)", value, re.I):
        return None
    match = _MAX_AGE.search(value)
    return min(float(match.group(1)), LONGEST_HOLD) if match else None
