"""A feed per watchlist: `/feeds/<watchlist>.atom` (Atom 1.0) and `/feeds/<watchlist>.json`
(JSON Feed 1.1) on the bot's web server, the latest stories matched with their outlets,
score and evidence, so that any feed reader can follow a watchlist.

Access: `?token=` must equal `WIREWATCH_FEED_TOKEN` (compared in constant time), unless
`web.public_feeds` is true. With neither, the feeds are off and answer 404 saying so.
Every answer carries a strong ETag of its body; `If-None-Match` with it gives 304. Feed
text is cleaned (`bot.core.safe_text`, and the characters XML 1.0 cannot hold), the
Atom document is built by `xml.etree.ElementTree`, which escapes it. A feed holds at
most `web.feed_size` stories matched in the last 90 days, and is built again only when
its watchlist matched something new or a minute has passed: a request costs one index
lookup otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import Clock, as_utc, utcnow
from bot.core.models import StoryMatch, evidence_strings
from bot.core.safe_text import one_line, url_without_controls, without_controls
from bot.delivery.rows import story_matches, story_sources
from bot.matching.watchlists import Watchlist
from bot.storage.schema import UTCDateTime, items, matches

ATOM = "http://www.w3.org/2005/Atom"
JSON_FEED = "https://jsonfeed.org/version/1.1"
OUTLETS_LISTED = 50  # outlets named per story; the rest are counted
EVIDENCE_LISTED = 10  # evidence lines per story
SUMMARY_LIMIT = 2000  # characters of a story's summary
WINDOW = timedelta(days=90)  # stories matched longer ago are left out of a feed
REBUILD_AFTER = 60.0  # seconds a built feed is served again while nothing new matched
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")  # what XML 1.0 cannot carry
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OFF = (
    "watchlist feeds are off: set WIREWATCH_FEED_TOKEN (and add ?token=… to the feed's "
    "URL), or web.public_feeds: true"
)


@dataclass(frozen=True, slots=True)
class FeedStory:
    """One story of a watchlist's feed: its lead item and best match for the watchlist,
    every outlet that carried it, and when the latest of them did."""

    story: StoryMatch
    outlets: tuple[str, ...]
    updated: datetime


async def last_match(engine: AsyncEngine, watchlist: str) -> datetime | None:
    """When `watchlist` last matched an item (one index lookup): a feed built since is
    still current."""
    query = sa.select(sa.func.max(matches.c.matched_at)).where(matches.c.watchlist == watchlist)
    async with engine.connect() as conn:
        last = (await conn.execute(query)).scalar()
    return as_utc(last) if last is not None else None


async def latest_stories(
    engine: AsyncEngine, watchlist: str, limit: int, since: datetime
) -> list[FeedStory]:
    """The `limit` stories of `watchlist` (reportable items that matched it since
    `since`) last reported most recently, newest first."""
    latest = sa.func.max(items.c.first_seen).label("latest")
    ranked = (
        sa.select(items.c.story_id, latest)
        .join(matches, matches.c.item_id == items.c.id)
        .where(
            matches.c.watchlist == watchlist,
            matches.c.matched_at >= sa.literal(since, UTCDateTime()),
            items.c.reportable.is_(True),
            items.c.story_id.is_not(None),
        )
        .group_by(items.c.story_id)
        .order_by(latest.desc(), items.c.story_id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        order = [(int(s), as_utc(t)) for s, t in (await conn.execute(ranked)).all()]
        if not order:
            return []
        ids = [s for s, _ in order]
        rows = (
            await conn.execute(
                sa.select(matches, items)
                .join(items, items.c.id == matches.c.item_id)
                .where(items.c.story_id.in_(ids), matches.c.watchlist == watchlist)
            )
        ).all()
        outlets = await story_sources(conn, ids)
    views = {v.story_id: v for v in story_matches(rows, outlets)}
    return [
        FeedStory(views[s], tuple(outlets.get(s, ())), updated)
        for s, updated in order
        if s in views
    ]


def atom_feed(watchlist: Watchlist, stories: Sequence[FeedStory]) -> bytes:
    """The Atom 1.0 document of `stories` for `watchlist`, UTF-8."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "title", _line(watchlist.title) or watchlist.id)
    sub(feed, "subtitle", _line(watchlist.summary))
    sub(feed, "id", f"urn:wirewatch:watchlist:{watchlist.id}")
    sub(feed, "updated", _time(max((s.updated for s in stories), default=_EPOCH)))
    sub(feed, "generator", "wirewatch")
    for story in stories:
        lead = story.story.item
        entry = sub(feed, "entry")
        sub(entry, "title", _line(lead.title) or "(no title)")
        sub(entry, "id", f"urn:wirewatch:story:{story.story.story_id}")
        if lead.url:
            sub(entry, "link", href=url_without_controls(lead.url), rel="alternate")
        sub(entry, "published", _time(lead.published or story.story.first_seen))
        sub(entry, "updated", _time(story.updated))
        author = sub(entry, "author")
        sub(author, "name", _line(lead.source) or "unknown")
        sub(entry, "category", term=watchlist.id, label=_line(watchlist.title))
        sub(entry, "summary", _story_text(story), type="text")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def json_feed(watchlist: Watchlist, stories: Sequence[FeedStory]) -> bytes:
    """The JSON Feed 1.1 document of `stories` for `watchlist`, UTF-8; each item carries
    `_wirewatch` (score, evidence, outlets) as the spec's extensions do."""
    items_out: list[dict[str, Any]] = []
    for story in stories:
        lead = story.story.item
        match = story.story.matches[0] if story.story.matches else None
        item: dict[str, Any] = {
            "id": f"urn:wirewatch:story:{story.story.story_id}",
            "title": _line(lead.title) or "(no title)",
            "content_text": _story_text(story),
            "date_published": _time(lead.published or story.story.first_seen),
            "date_modified": _time(story.updated),
            "authors": [{"name": _line(lead.source) or "unknown"}],
            "tags": [watchlist.id],
            "_wirewatch": {
                "score": match.score if match else None,
                "evidence": list(_evidence(story)),
                "outlets": [_line(o) for o in story.outlets[:OUTLETS_LISTED]],
                "outlet_count": len(story.outlets),
            },
        }
        if lead.url:
            item["url"] = url_without_controls(lead.url)
        items_out.append(item)
    document = {
        "version": JSON_FEED,
        "title": _line(watchlist.title) or watchlist.id,
        "description": _line(watchlist.summary),
        "items": items_out,
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def feed_routes(
    engine: AsyncEngine,
    watchlists: Sequence[Watchlist],
    *,
    token: str | None,
    public: bool,
    size: int,
    clock: Clock = utcnow,
) -> list[web.RouteDef]:
    """`GET /feeds/{watchlist}.atom` and `.json`, as the module docstring says."""
    known: Mapping[str, Watchlist] = {w.id: w for w in watchlists}
    # each feed as last built: (its watchlist's last match, when built, body, ETag)
    built: dict[tuple[str, str], tuple[datetime | None, float, bytes, str]] = {}
    formats = {
        "atom": (atom_feed, "application/atom+xml; charset=utf-8"),
        "json": (json_feed, "application/feed+json; charset=utf-8"),
    }

    async def serve(request: web.Request) -> web.Response:
        if not public and token is None:
            raise web.HTTPNotFound(text=OFF)
        if not public:
            given = request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):  # type: ignore[union-attr]
                had = "a wrong token" if given else "no token"
                raise web.HTTPForbidden(
                    text=f"this feed needs ?token= (WIREWATCH_FEED_TOKEN); the request had {had}"
                )
        name, _, suffix = request.match_info["file"].rpartition(".")
        watchlist = known.get(name)
        if suffix not in formats or watchlist is None:
            raise web.HTTPNotFound(text="no such watchlist feed: /feeds/<watchlist>.atom or .json")
        render, content_type = formats[suffix]
        version = await last_match(engine, watchlist.id)
        kept = built.get((watchlist.id, suffix))
        now = time.monotonic()
        if kept is not None and kept[0] == version and now - kept[1] < REBUILD_AFTER:
            body, etag = kept[2], kept[3]
        else:  # the watchlist matched something new, or a minute passed (outlets grow)
            since = clock() - WINDOW
            body = render(watchlist, await latest_stories(engine, watchlist.id, size, since))
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            built[(watchlist.id, suffix)] = (version, now, body, etag)
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=60" if public else "private, max-age=60",
        }
        if _matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers | {"Content-Type": content_type})

    return [web.get("/feeds/{file}", serve)]


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weakly compared, as RFC 9110 asks
    for GET), or is `*`."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _story_text(story: FeedStory) -> str:
    """The summary, then the score, the evidence and the outlets, one per line."""
    lead, match = story.story.item, (story.story.matches[0] if story.story.matches else None)
    lines = []
    summary = _text(lead.summary)[:SUMMARY_LIMIT].strip()
    if summary:
        lines += [summary, ""]
    if match is not None:
        lines.append(f"score {match.score:g}")
    lines += [f"matched {e}" for e in _evidence(story)]
    named = [_line(o) for o in story.outlets[:OUTLETS_LISTED]]
    more = len(story.outlets) - len(named)
    if named:
        lines.append("outlets: " + ", ".join(named) + (f", +{more} more" if more else ""))
    return "\n".join(lines)


def _evidence(story: FeedStory) -> tuple[str, ...]:
    if not story.story.matches:
        return ()
    found = evidence_strings(story.story.matches[0].evidence)[:EVIDENCE_LISTED]
    return tuple(_line(e) for e in found)


def _line(text: str) -> str:
    """Feed text on one line, with nothing XML 1.0 cannot carry."""
    return _NOT_XML.sub("", one_line(text))


def _text(text: str) -> str:
    """Feed text with its line breaks, with nothing XML 1.0 cannot carry."""
    return _NOT_XML.sub("", without_controls(text, keep_newlines=True))


def _time(when: datetime) -> str:
    """RFC 3339 in UTC (`2026-11-23T08:30:00Z`)."""
    return as_utc(when).isoformat(timespec="seconds").replace("+00:00", "Z")
