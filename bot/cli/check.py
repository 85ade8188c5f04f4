"""`wirewatch check`: validate the config file and the watchlists, then say what they hold
and where each watchlist came from."""

from __future__ import annotations

import argparse
from collections import Counter

from bot.core.config import Settings
from bot.core.environment import feed_token
from bot.core.feed_groups import FEED_GROUPS
from bot.core.safe_text import one_line
from bot.core.wording import counted
from bot.feeds.feedlist import declared_feeds
from bot.matching.watchlists import BUNDLED_DIR, Watchlist
from bot.storage.database_url import display_url


def check(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Say what the valid configuration declares (main has validated it by now); exit 0."""
    feeds = declared_feeds(settings, watchlists)
    origins = Counter(f.origin for f in feeds)
    by_origin = ", ".join(f"{n} {origin}" for origin, n in sorted(origins.items()))
    print("configuration OK")
    print(f"  watchlists: {_sources(watchlists) or 'none'}")
    print(f"  feeds: {counted(len(feeds), 'declared feed')} ({by_origin or 'none'})")
    groups = settings.bundled_groups
    if groups and (groups.include is not None or groups.exclude):
        left_out = [g for g in FEED_GROUPS if not groups.polled(g)]
        print(f"    bundled groups left out: {', '.join(left_out) or 'none'}")
    if not feeds:
        print("    nothing will be polled: add feeds, or set default_feeds: true")
    print(f"  subscriptions: {len(settings.subscriptions)}")
    print(f"  database: {display_url(settings.resolved_database_url())}")
    print(f"  watchlist feeds: {_feeds(settings)}")
    return 0


def _feeds(settings: Settings) -> str:
    """Whether `/feeds/<watchlist>.atom` and `.json` are served, and to whom."""
    web = settings.web
    if web.public_feeds:
        where = "off until web.port is set" if web.port is None else "to anyone"
        return f"public ({where}; web.public_feeds: true)"
    if feed_token() is None:
        return "off (set WIREWATCH_FEED_TOKEN, or web.public_feeds: true, to serve them)"
    if web.port is None:
        return "off until web.port is set (WIREWATCH_FEED_TOKEN is set)"
    return "served with ?token= (WIREWATCH_FEED_TOKEN)"


def _sources(watchlists: list[Watchlist]) -> str:
    """`4 bundled (…); 1 from ./watchlists (…)`: the watchlists by the folder they came
    from (a local watchlist with a bundled one's id replaces it)."""
    by_folder: dict[str, list[str]] = {}
    for watchlist in watchlists:
        folder = watchlist.path.parent if watchlist.path is not None else None
        where = "bundled" if folder is None or folder.resolve() == BUNDLED_DIR else f"from {folder}"
        by_folder.setdefault(where, []).append(watchlist.id)
    return "; ".join(
        f"{len(ids)} {where} ({one_line(', '.join(ids))})" for where, ids in by_folder.items()
    )
