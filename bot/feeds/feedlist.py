"""The feeds to poll: the bundled defaults, the config file's, and the watchlists' own."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files

import yaml

from bot.core.config import Settings
from bot.core.models import FeedSpec
from bot.matching.watchlists import Watchlist, all_sources


def default_feeds() -> list[FeedSpec]:
    """The bundled default feed list (`bot/feeds/default_feeds.yaml`), all marked unverified."""
    text = files("bot.feeds").joinpath("default_feeds.yaml").read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["feeds"]
    return [
        FeedSpec(url=e["url"], name=e["name"], origin="default", verified=bool(e["verified"]))
        for e in entries
    ]


def declared_feeds(settings: Settings, watchlists: Iterable[Watchlist]) -> list[FeedSpec]:
    """Every feed the configuration declares, one per URL; the config file's entry wins.
    The watchlists' own `sources` are polled with the default feeds unless
    `watchlist_sources` says otherwise."""
    chosen: dict[str, FeedSpec] = {}
    for feed in settings.feeds:
        chosen[feed.url] = FeedSpec(
            url=feed.url, name=feed.name or feed.url, origin="config", interval=feed.interval
        )
    sources = settings.watchlist_sources
    if settings.default_feeds if sources is None else sources:
        for spec in all_sources(watchlists):
            chosen.setdefault(spec.url, spec)
    if settings.default_feeds:
        for spec in default_feeds():
            chosen.setdefault(spec.url, spec)
    return list(chosen.values())
