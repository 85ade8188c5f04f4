"""Feeds added, removed, disabled and enabled while the bot keeps its list: what
`wirewatch feeds add|remove|disable|enable|test` and `/news feeds add|remove` do.

A feed is added only after the bot has read it, with its own fetcher, limits and
parser: a URL that answers with a web page is replaced by the first feed the page
names (`discovery`), and `guess` tries the usual feed paths when it names none. The
preview shows the newest items and the watchlists they match. Feeds added from chat
are fetched `guarded` (`address_guard`), then and at every poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.clock import Clock, format_utc, utcnow
from bot.core.errors import UsageError
from bot.core.models import FeedSpec, FeedState, FetchResult, Item, Match, evidence_strings
from bot.core.safe_text import one_line
from bot.core.wording import counted
from bot.feeds.address_guard import UNTRUSTED_ORIGINS
from bot.feeds.discovery import FeedLink, feed_links, guessed_urls, looks_like_html, page_error
from bot.feeds.feed_health import REFUSING
from bot.feeds.fetch import Fetcher
from bot.feeds.parse import FeedParseError
from bot.feeds.parser_process import Parse
from bot.storage.store import MANAGED_ORIGINS, Store

NEWEST = 5  # items a preview shows
TRIED_LINKS = 5  # feeds a page names that are tried, in order, before giving up
_OLDEST = datetime.min.replace(tzinfo=UTC)


class FeedRefused(UsageError):
    """The URL is not a feed the bot can poll (and names none), or the request is not
    allowed; the text says why. `could_guess`: the usual feed paths were not tried;
    `refused_client`: the site answered 401 or 403 (another User-Agent may help)."""

    def __init__(
        self, message: str, *, could_guess: bool = False, refused_client: bool = False
    ) -> None:
        super().__init__(message)
        self.could_guess = could_guess
        self.refused_client = refused_client


@dataclass(frozen=True, slots=True)
class Request:
    """What a feed's requests send besides the bot's own: a User-Agent instead of the
    bot's, and headers (validated by the caller, as `FeedConfig` does)."""

    user_agent: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Preview:
    """A feed read once: where it was found, its title, its newest items (up to NEWEST,
    newest first) with the watchlists each matches, and the page's other feeds."""

    asked: str  # the URL given
    url: str  # the feed's URL: `asked`, or the feed the page at `asked` names
    title: str
    items: tuple[tuple[Item, tuple[Match, ...]], ...]
    item_count: int
    found: str = ""  # "" (asked is the feed), "named by the page" or "guessed"
    others: tuple[FeedLink, ...] = ()  # the other feeds the page named
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Added:
    """What `FeedAdmin.add` did: `known` is the feed already polled at that URL (then
    nothing changed), else the preview was stored as a new feed."""

    preview: Preview | None
    known: FeedState | None = None


class FeedAdmin:
    """Adds, previews, removes, disables and enables feeds in `store`, reading them with
    the bot's own `fetcher` and `parse`."""

    def __init__(self, store: Store, fetcher: Fetcher, parse: Parse, clock: Clock = utcnow):
        self.store = store
        self.fetcher = fetcher
        self.parse = parse
        self.clock = clock

    async def preview(
        self,
        url: str,
        *,
        guess: bool = False,
        guarded: bool = False,
        request: Request = Request(),
    ) -> Preview:
        """Read `url` as the bot would poll it (a page: the first feed it names that
        reads; none, with `guess`: the first of the usual paths that reads), sending
        `request`'s User-Agent and headers; FeedRefused says why nothing could be read."""
        url = url.strip()
        if guarded and (refusal := self.fetcher.guard.url_refusal(url)) is not None:
            raise FeedRefused(f"{url}: {refusal}")
        fetched = await self._fetch(url, guarded, request)
        problem: str
        if fetched.error is not None or fetched.body is None:
            problem = fetched.error or f"HTTP {fetched.status}"
            if fetched.status in REFUSING:
                raise FeedRefused(f"{url}: {problem}", refused_client=True)
        elif looks_like_html(fetched.body):
            links = feed_links(fetched.body, fetched.final_url or url)
            for n, link in enumerate(links[:TRIED_LINKS]):
                read = await self._read(link.url, guarded, request)
                if isinstance(read, Preview):
                    others = links[:n] + links[n + 1 :]
                    return _found(read, url, "named by the page", others)
            problem = page_error(links)
            if links:  # named feeds that do not read: guessing would hide that
                raise FeedRefused(f"{url}: {problem}, but none of them reads as a feed")
        else:
            read = await self._read_body(url, fetched.body, fetched.charset)
            if isinstance(read, Preview):
                return read
            problem = read
        if guess:
            for candidate in guessed_urls(url):
                read = await self._read(candidate, guarded, request)
                if isinstance(read, Preview):
                    return _found(read, url, "guessed", ())
            problem += "; none of the usual feed paths (/feed, /rss, /atom.xml...) reads either"
        raise FeedRefused(f"{url}: {problem}", could_guess=not guess)

    async def add(
        self,
        url: str,
        *,
        origin: str,
        name: str | None = None,
        interval: timedelta | None = None,
        guess: bool = False,
        request: Request = Request(),
    ) -> Added:
        """Read `url` (`preview`) and keep the feed found there, from `origin` ("cli",
        "chat"), with its `request` settings: polled from the next cycle on, across
        restarts. A URL the bot polls already changes nothing."""
        known = await self.store.find_feed(url.strip(), by_id=False)  # "5" is no feed's URL
        if known is not None:
            return Added(None, known)
        guarded = origin in UNTRUSTED_ORIGINS
        preview = await self.preview(url, guess=guess, guarded=guarded, request=request)
        known = await self.store.find_feed(preview.url, by_id=False)
        if known is not None:
            return Added(preview, known)
        spec = FeedSpec(
            url=preview.url, name=name or preview.url, origin=origin, interval=interval,
            title=preview.title or None, user_agent=request.user_agent,
            headers=request.headers,
        )  # fmt: skip
        await self.store.add_feeds([spec], self.clock())
        return Added(preview)

    async def remove(self, url_or_id: str, *, origins: Sequence[str] | None = None) -> FeedState:
        """Stop polling the feed at `url_or_id` (a URL or a feed id), if it came from OPML,
        the command line or chat (only from `origins`, when given); FeedRefused for a feed
        the config file, a watchlist or the bundled defaults declare."""
        feed = await self._feed(url_or_id)
        if feed.origin in MANAGED_ORIGINS:
            raise FeedRefused(f"{feed_label(feed)} {_declared_by(feed.origin)}")
        if origins is not None and feed.origin not in origins:
            raise FeedRefused(
                f"{feed_label(feed)} was added by the bot's operator ({feed.origin}), "
                "so only they can remove it"
            )
        await self.store.remove_feed(feed.id)
        return feed

    async def set_enabled(self, url_or_id: str, enabled: bool) -> tuple[FeedState, bool]:
        """Enable or disable any feed (kept in the database, so across restarts); returns
        the feed and whether anything changed."""
        feed = await self._feed(url_or_id)
        if (feed.disabled_reason is None) == enabled:
            return feed, False
        await self.store.set_enabled(feed.id, enabled)
        return feed, True

    async def _feed(self, url_or_id: str) -> FeedState:
        feed = await self.store.find_feed(url_or_id)
        if feed is None:
            raise FeedRefused(
                f"no feed {one_line(url_or_id)!r} is polled; `wirewatch feeds` lists each "
                "feed's id and URL"
            )
        return feed

    async def _fetch(self, url: str, guarded: bool, request: Request) -> FetchResult:
        return await self.fetcher.fetch(
            url, guarded=guarded, user_agent=request.user_agent, headers=request.headers
        )

    async def _read(self, url: str, guarded: bool, request: Request) -> Preview | str:
        """The feed at `url` read, or why it cannot be (a page counts as not a feed)."""
        fetched = await self._fetch(url, guarded, request)
        if fetched.error is not None or fetched.body is None:
            return fetched.error or f"HTTP {fetched.status}"
        if looks_like_html(fetched.body):
            return "a web page, not a feed"
        return await self._read_body(url, fetched.body, fetched.charset)

    async def _read_body(self, url: str, body: bytes, charset: str | None) -> Preview | str:
        try:
            matched = await self.parse(body, url, None, charset)
        except FeedParseError as exc:
            return str(exc)
        parsed = matched.parsed
        pairs = sorted(
            zip(parsed.items, matched.matches, strict=True),
            key=lambda pair: pair[0].published or _OLDEST,
            reverse=True,
        )  # stable: undated items keep their order, after the dated ones
        return Preview(
            url, url, parsed.title, tuple(pairs[:NEWEST]), len(parsed.items),
            warning=parsed.warning,
        )  # fmt: skip


def preview_lines(preview: Preview) -> list[str]:
    """The preview as lines of text (feed text in them is untrusted: print each inert)."""
    lines = [f"{preview.title or '(no title)'} <{preview.url}>"]
    if preview.found == "named by the page":
        lines.append(f"the page {preview.asked} names this feed")
    elif preview.found == "guessed":
        lines.append(f"found at a usual feed path of {preview.asked}")
    if preview.others:
        lines.append("the page also names: " + ", ".join(link.url for link in preview.others))
    if preview.warning:
        lines.append(f"read with a warning: {preview.warning}")
    shown = len(preview.items)
    lines.append(
        counted(preview.item_count, "item") + (f"; the newest {shown}:" if shown else "")
    )  # fmt: skip
    for item, matches in preview.items:
        when = format_utc(item.published) if item.published else "undated"
        lines.append(f"• {item.title or '(no title)'} ({when})")
        lines.extend(f"    {match_line(m)}" for m in matches)
    if preview.items and not any(matches for _, matches in preview.items):
        lines.append("none of these items matches a watchlist")
    return [one_line(line) if not line.startswith("    ") else line for line in lines]


def match_line(match: Match) -> str:
    """`canola (score 7, alert): canola: "canola" (title)`."""
    flag = ", alert" if match.alert else ""
    hits = "; ".join(evidence_strings(match.evidence))
    return one_line(f"matches {match.watchlist} (score {match.score:g}{flag}): {hits}")


def _found(read: Preview, asked: str, how: str, others: Sequence[FeedLink]) -> Preview:
    return Preview(
        asked, read.url, read.title, read.items, read.item_count, how, tuple(others),
        read.warning,
    )  # fmt: skip


def feed_label(feed: FeedState) -> str:
    """`Name <URL>`, or the URL alone for a feed with no name yet, on one line."""
    return one_line(f"{feed.name} <{feed.url}>" if feed.name != feed.url else feed.url)


def _declared_by(origin: str) -> str:
    """Why a declared feed cannot be removed from the command line, and what to do."""
    if origin == "config":
        return "comes from the config file: remove it from `feeds:` there"
    if origin == "watchlist":
        return "comes from a watchlist's `sources`: remove it from that watchlist"
    return (
        "is one of the bundled default feeds: leave out its group in the config file "
        "(`default_feeds: {exclude: [group]}`, docs/feeds.md), or `wirewatch feeds "
        "disable` this one"
    )
