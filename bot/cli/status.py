"""`wirewatch subscriptions`: the state of delivery the bot keeps in its database."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console

from bot.cli.reports import print_subscriptions
from bot.core.config import Settings
from bot.matching.watchlists import Watchlist
from bot.service.app import open_app


def subscriptions(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Each subscription and whether it delivers, the outbox by state, the latest
    failures; exit 0."""
    return asyncio.run(_subscriptions(settings, watchlists))


async def _subscriptions(settings: Settings, watchlists: list[Watchlist]) -> int:
    async with open_app(settings, watchlists) as app:
        subs = await app.outbox.subscriptions.list_active()
        counts = await app.outbox.queue.counts()
        failures = await app.outbox.queue.listing(failed_only=True, limit=10)
    print_subscriptions(Console(highlight=False, soft_wrap=True), subs, counts, failures)
    return 0
