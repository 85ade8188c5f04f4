"""A feed per watchlist: `/feeds/<watchlist>.atom` and `.json` on the bot's web server,
read back by feedparser and by `wirewatch parse`, with a token or public, ETag and 304,
and hostile story text still valid XML and JSON."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import feedparser
import pytest
from feedserver import FeedServer
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from recording import ManualClock, RecordingAdapter
from test_delivery import CANOLA, START, STRAIT, poll_and_deliver, publish, settings
from test_delivery import watchlists_without_sources as offline

from bot.cli.main import main
from bot.core.models import Evidence, Item, Match, StoryMatch
from bot.core.web_settings import WebSettings
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import App, open_app
from bot.service.watchlist_feeds import FeedStory, atom_feed, json_feed

TOKEN = "s3cret-feed-token"
HOSTILE = CANOLA + " ]]&gt; &lt;/title&gt;&lt;b&gt; &amp;amp; &quot;x&quot;"


@pytest.fixture(autouse=True)
def no_feed_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WIREWATCH_FEED_TOKEN"):
            monkeypatch.delenv(name)


@asynccontextmanager
async def serving(
    feed_server: FeedServer, db_url: str, **web: Any
) -> AsyncIterator[tuple[App, str]]:
    """The bot with its web server on a free port, after CANOLA (from two outlets) and
    STRAIT were polled and routed into stories; yields it and its base URL."""
    clock = ManualClock(START)
    config = settings(feed_server, db_url)
    config = config.model_copy(update={"web": WebSettings(port=0, **web)})
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    adapters = {"discord": RecordingAdapter()}
    async with open_app(config, offline(config), adapters, clock, deliver=True) as app:
        await poll_and_deliver(app, clock)
        publish(feed_server, "/a", HOSTILE, STRAIT)
        await poll_and_deliver(app, clock)
        publish(feed_server, "/b", CANOLA + " | Reuters")
        await poll_and_deliver(app, clock)
        assert app.web is not None
        yield app, f"http://127.0.0.1:{app.web.port}"


async def get(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def test_atom_and_json_feeds_read_back_by_feedparser_and_wirewatch_parse(
    feed_server: FeedServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WIREWATCH_FEED_TOKEN", TOKEN)
    async with serving(feed_server, db_url) as (_app, base):
        status, headers, atom = await get(f"{base}/feeds/canola.atom?token={TOKEN}")
        assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
        status, headers, body = await get(f"{base}/feeds/canola.json?token={TOKEN}")
        assert status == 200 and headers["Content-Type"].startswith("application/feed+json")
        _, _, strait = await get(f"{base}/feeds/taiwan-strait.atom?token={TOKEN}")
    ET.fromstring(atom)  # well-formed XML
    data = json.loads(body)
    (item,) = data["items"]
    title = item["title"]  # as the bot stored it, through its own clean-up
    assert title.startswith(CANOLA) and "]]>" in title and '"x"' in title
    parsed = feedparser.parse(atom)  # feedparser 6.0 reads no JSON Feed: `parse` does below
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and parsed.feed.title == "Canola trade and tariffs"
    (entry,) = parsed.entries
    assert entry.title == title and entry.link == item["url"]
    assert entry.link.startswith("https://a.example.test/")
    assert entry.author == "Outlet A" and entry.id == item["id"]
    assert "outlets: Outlet A, Outlet B" in entry.summary and "score " in entry.summary
    assert data["title"] == "Canola trade and tariffs"
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert item["_wirewatch"]["outlets"] == ["Outlet A", "Outlet B"]
    assert item["_wirewatch"]["score"] > 0 and item["_wirewatch"]["evidence"]
    assert [e.title for e in feedparser.parse(strait).entries] == [STRAIT]
    files = []
    for name, document in (("canola.atom", atom), ("canola.json", body)):
        files.append(tmp_path / name)
        files[-1].write_bytes(document)
    assert main(["parse", "--jsonl", *map(str, files)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[1]["parser"] == "jsonfeed"
    for line in lines:
        assert line["error"] is None
        (read,) = line["items"]
        assert read["title"] == title and read["link"] == item["url"]


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("", 403, "the request had no token"),
        ("?token=wrong", 403, "the request had a wrong token"),
        (f"?token={TOKEN}x", 403, "a wrong token"),
        (f"?token={TOKEN}", 200, ""),
    ],
)
async def test_a_token_is_needed_unless_public(
    feed_server: FeedServer,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    status: int,
    says: str,
) -> None:
    monkeypatch.setenv("WIREWATCH_FEED_TOKEN", TOKEN)
    async with serving(feed_server, sqlite_url) as (_app, base):
        got, _, body = await get(f"{base}/feeds/canola.json{query}")
        unknown, _, _ = await get(f"{base}/feeds/no-such-list.json{query}")
    assert got == status and says.encode() in body
    assert unknown == (404 if status == 200 else 403)  # no watchlist named to strangers


async def test_public_feeds_need_no_token_and_unknown_watchlists_are_404(
    feed_server: FeedServer, sqlite_url: str
) -> None:
    async with serving(feed_server, sqlite_url, public_feeds=True) as (_app, base):
        status, headers, _ = await get(f"{base}/feeds/canola.atom")
        unknown, _, text = await get(f"{base}/feeds/nothing.atom")
        other, _, _ = await get(f"{base}/feeds/canola.rss")
    assert status == 200 and headers["Cache-Control"].startswith("public")
    assert unknown == 404 and b"no such watchlist feed" in text and other == 404


async def test_without_a_token_or_public_the_feeds_are_off(
    feed_server: FeedServer, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(feed_server, sqlite_url) as (_app, base):
        status, _, body = await get(f"{base}/feeds/canola.atom?token=anything")
    assert status == 404 and b"watchlist feeds are off: set WIREWATCH_FEED_TOKEN" in body


async def test_an_unchanged_feed_answers_304_to_its_etag(
    feed_server: FeedServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_FEED_TOKEN", TOKEN)
    async with serving(feed_server, sqlite_url) as (app, base):
        url = f"{base}/feeds/canola.atom?token={TOKEN}"
        _, first, _ = await get(url)
        etag = first["ETag"]
        again, headers, body = await get(url, **{"If-None-Match": etag})
        weak, _, _ = await get(url, **{"If-None-Match": f'"other", W/{etag}'})
        other, _, _ = await get(url, **{"If-None-Match": '"other"'})
        publish(feed_server, "/b", CANOLA + " | Reuters", CANOLA + " - CBC News")
        await poll_and_deliver(app, app.dispatcher.clock)  # type: ignore[arg-type]
        changed, _, _ = await get(url, **{"If-None-Match": etag})
    assert (again, weak, other) == (304, 304, 200) and body == b"" and headers["ETag"] == etag
    assert changed == 200


async def test_a_feed_holds_the_last_90_days_and_follows_new_matches(
    feed_server: FeedServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_FEED_TOKEN", TOKEN)
    later = "China lifts its anti-dumping duties on Canadian canola meal"
    async with serving(feed_server, sqlite_url) as (app, base):
        url = f"{base}/feeds/canola.json?token={TOKEN}"
        _, _, first = await get(url)
        clock = app.dispatcher.clock
        assert isinstance(clock, ManualClock)
        clock.advance(timedelta(days=91))
        publish(feed_server, "/a", later)
        await poll_and_deliver(app, clock)
        _, _, second = await get(url)  # something new matched: built again, at once
    titles = [[i["title"] for i in json.loads(body)["items"]] for body in (first, second)]
    assert any(t.startswith(CANOLA) for t in titles[0]) and later not in titles[0]
    assert titles[1] == [later]  # the stories of 91 days ago are left out


def test_check_says_whether_the_feeds_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 0
    assert "watchlist feeds: off (set WIREWATCH_FEED_TOKEN" in capsys.readouterr().out
    monkeypatch.setenv("WIREWATCH_FEED_TOKEN", TOKEN)
    monkeypatch.setenv("WIREWATCH_WEB_PORT", "8080")
    assert main(["check"]) == 0
    assert "watchlist feeds: served with ?token=" in capsys.readouterr().out
    monkeypatch.setenv("WIREWATCH_FEED_TOKEN", "guessable")
    assert main(["check"]) == 2
    said = capsys.readouterr()
    assert "WIREWATCH_FEED_TOKEN must be at least 16 characters (it has 9)" in said.err + said.out
    assert "guessable" not in said.err + said.out


# --- hostile text ------------------------------------------------------------------------------


def story(title: str, summary: str, source: str, url: str) -> FeedStory:
    item = Item("k", title, summary, url, datetime(2026, 11, 23, 8, 0, tzinfo=UTC), source)
    evidence = (Evidence("canola", "canola", "title", title[:40], 100.0),)
    match = Match("canola", 7.5, True, evidence)
    view = StoryMatch(1, item, START, (match,), ())
    return FeedStory(view, (source, "Outlet ]]> <B>"), START)


@hypothesis_settings(deadline=None)
@given(
    title=st.text(max_size=60),
    summary=st.text(max_size=200),
    source=st.text(max_size=20),
    path=st.text(max_size=30),
)
def test_any_story_text_makes_valid_xml_and_json(
    title: str, summary: str, source: str, path: str
) -> None:
    watchlist = next(w for w in load_configured_watchlists_cached() if w.id == "canola")
    hostile = replace(watchlist, title=title or "t", description=summary)
    stories = [
        story(title + "]]>", summary + "\x00\x1b[31m\ud800\ufffe", source, "https://x.test/" + path)
    ]
    atom = atom_feed(hostile, stories)
    root = ET.fromstring(atom)
    entry = root.find("{http://www.w3.org/2005/Atom}entry")
    assert entry is not None
    shown = entry.findtext("{http://www.w3.org/2005/Atom}title") or ""
    assert "]]>" in shown and not any(c in shown for c in "\x00\x1b\ud800\ufffe")
    parsed = feedparser.parse(atom)
    assert not parsed.bozo, parsed.get("bozo_exception")
    document = json_feed(hostile, stories)
    data = json.loads(document.decode("utf-8"))
    assert data["items"][0]["title"] == shown
    assert "\ud800" not in document.decode("utf-8")


_WATCHLISTS: list[Any] = []


def load_configured_watchlists_cached() -> list[Any]:
    if not _WATCHLISTS:
        from bot.core.config import Settings

        _WATCHLISTS.extend(load_configured_watchlists(Settings(default_feeds=False)))
    return _WATCHLISTS
