"""`wirewatch check`: validate the config file and the watchlists, then say what they hold."""

from __future__ import annotations

import argparse
from collections import Counter

from bot.core.config import Settings
from bot.feeds.feedlist import declared_feeds
from bot.matching.watchlists import Watchlist
from bot.storage.database_url import display_url


def check(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Say what the valid configuration declares (main has validated it by now); exit 0."""
    feeds = declared_feeds(settings, watchlists)
    origins = Counter(f.origin for f in feeds)
    by_origin = ", ".join(f"{n} {origin}" for origin, n in sorted(origins.items()))
    print(
        f"configuration OK: {len(watchlists)} watchlists "
        f"({', '.join(w.id for w in watchlists)}), {len(feeds)} declared feeds "
        f"({by_origin or 'none'}), {len(settings.subscriptions)} subscriptions, "
        f"database {display_url(settings.resolved_database_url())}"
    )
    return 0
