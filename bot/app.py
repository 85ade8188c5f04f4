"""The composition root: settings, watchlists, store, fetcher, matcher and pipeline wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.config import Settings
from bot.feedlist import declared_feeds
from bot.fetch import Fetcher, FetchLimits
from bot.matcher import Matcher
from bot.pipeline import Pipeline, utcnow
from bot.polling import PollPolicy
from bot.store import Store
from bot.watchlists import Watchlist, load_watchlists, resolve_watchlists_dir, watchlist_files


def load_configured_watchlists(settings: Settings) -> list[Watchlist]:
    """The watchlists of the configured folder (raises SourceError on any broken one)."""
    return load_watchlists(watchlist_files(resolve_watchlists_dir(settings.watchlists_dir)))


def fetch_limits(settings: Settings) -> FetchLimits:
    """The fetcher's limits from the poll settings."""
    poll = settings.poll
    defaults = FetchLimits()
    return FetchLimits(
        concurrency=poll.concurrency,
        per_host=poll.per_host,
        connect_timeout=poll.connect_timeout.total_seconds(),
        read_timeout=poll.read_timeout.total_seconds(),
        total_timeout=poll.total_timeout.total_seconds(),
        max_bytes=poll.max_bytes,
        max_redirects=poll.max_redirects,
        user_agent=poll.user_agent or defaults.user_agent,
    )


@dataclass(frozen=True, slots=True)
class App:
    """Everything a running bot holds."""

    settings: Settings
    watchlists: tuple[Watchlist, ...]
    store: Store
    pipeline: Pipeline


@asynccontextmanager
async def open_app(settings: Settings, watchlists: list[Watchlist]) -> AsyncIterator[App]:
    """Open the store (migrating it), declare the feeds, and start one HTTP session."""
    store = await Store.open(settings.resolved_database_url())
    try:
        await store.sync_feeds(declared_feeds(settings, watchlists), utcnow())
        policy = PollPolicy(
            interval=settings.poll.interval,
            max_backoff=settings.poll.max_backoff,
            dead_after=settings.poll.dead_after,
        )
        async with Fetcher(fetch_limits(settings)) as fetcher:
            pipeline = Pipeline(
                store, fetcher, Matcher(watchlists), policy, settings.poll.max_item_age
            )
            yield App(settings, tuple(watchlists), store, pipeline)
    finally:
        await store.close()
