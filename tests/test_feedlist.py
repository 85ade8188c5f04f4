"""The feed list: bundled defaults, config feeds and watchlist sources, one per URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.core.config import FeedConfig, Settings
from bot.feeds.feedlist import declared_feeds, default_feeds
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files


def test_default_feeds_are_real_looking_unverified_and_unique() -> None:
    feeds = default_feeds()
    assert len(feeds) >= 30
    assert len({f.url for f in feeds}) == len(feeds)
    for feed in feeds:
        parts = urlsplit(feed.url)
        assert parts.scheme in ("http", "https") and parts.hostname and "." in parts.hostname
        assert feed.name and feed.origin == "default" and feed.verified is False


def test_config_feeds_win_and_sources_join() -> None:
    watchlists = load_watchlists(watchlist_files(BUNDLED_DIR))
    first_default = default_feeds()[0]
    settings = Settings(feeds=[FeedConfig(url=first_default.url, name="Mine")])
    feeds = {f.url: f for f in declared_feeds(settings, watchlists)}
    assert feeds[first_default.url].name == "Mine" and feeds[first_default.url].origin == "config"
    sources = {s.url for w in watchlists for s in w.sources}
    assert sources <= set(feeds)
    assert not {f.url for f in declared_feeds(Settings(default_feeds=False), [])}
