"""The feeds to poll: the bundled defaults, the config file's, and the watchlists' own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from bot.core.config import DefaultFeeds, Settings
from bot.core.feed_groups import FEED_STATUSES, unknown_group
from bot.core.models import FeedSpec
from bot.matching.watchlists import Watchlist, all_sources

BUNDLED_FILE = "default_feeds.yaml"


@dataclass(frozen=True, slots=True)
class BundledFeed:
    """An entry of the bundled list: the feed, its group, and what its check concluded
    (`status`, one of FEED_STATUSES; the feed counts as verified only when confirmed)."""

    spec: FeedSpec
    group: str
    status: str


@cache
def bundled_feeds() -> tuple[BundledFeed, ...]:
    """Every entry of `bot/feeds/default_feeds.yaml`, in file order; ValueError for an
    entry without a known group or status (a broken build, not a user's mistake)."""
    text = files("bot.feeds").joinpath(BUNDLED_FILE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where built with it
    return tuple(_bundled(n, e) for n, e in enumerate(yaml.load(text, Loader=loader)["feeds"]))


def _bundled(n: int, entry: dict[str, Any]) -> BundledFeed:
    group, status = str(entry.get("group")), str(entry.get("status"))
    if problem := unknown_group(group):
        raise ValueError(f"{BUNDLED_FILE}, feed {n}: {problem}")
    if status not in FEED_STATUSES:
        raise ValueError(f"{BUNDLED_FILE}, feed {n}: status {status!r} is none of {FEED_STATUSES}")
    spec = FeedSpec(
        url=entry["url"], name=entry["name"], origin="default", verified=status == "confirmed"
    )
    return BundledFeed(spec, group, status)


def default_feeds(chosen: DefaultFeeds | None = None) -> list[FeedSpec]:
    """The bundled default feeds of the groups `chosen` polls (None: every group)."""
    return [
        b.spec for b in bundled_feeds() if chosen is None or chosen.polled(b.group)
    ]  # fmt: skip


def declared_feeds(settings: Settings, watchlists: Iterable[Watchlist]) -> list[FeedSpec]:
    """Every feed the configuration declares, one per URL; the config file's entry wins
    (a bundled feed's URL given there keeps the bundled name unless the entry names it,
    so that `user_agent` or `headers` alone can be set for it). The watchlists' own
    `sources` are polled with the default feeds unless `watchlist_sources` says otherwise."""
    bundled = {b.spec.url: b.spec for b in bundled_feeds()}
    chosen: dict[str, FeedSpec] = {}
    for feed in settings.feeds:
        spec = FeedSpec(
            url=feed.url, name=feed.name or feed.url, origin="config", interval=feed.interval,
            user_agent=feed.user_agent, headers=tuple(feed.headers.items()),
        )  # fmt: skip
        if feed.name is None and spec.url in bundled:
            spec = replace(spec, name=bundled[spec.url].name)
        chosen[spec.url] = spec
    sources = settings.watchlist_sources
    groups = settings.bundled_groups
    if bool(groups) if sources is None else sources:
        for spec in all_sources(watchlists):
            chosen.setdefault(spec.url, spec)
    for spec in default_feeds(groups):
        chosen.setdefault(spec.url, spec)
    return list(chosen.values())
