"""`wirewatch deliveries`: the outbox row by row, and `deliveries retry` to send failed
ones again once their channel is fixed."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console

from bot.cli.reports import print_deliveries
from bot.core.clock import utcnow
from bot.core.config import Settings
from bot.core.errors import UsageError
from bot.core.wording import counted
from bot.matching.watchlists import Watchlist
from bot.service.app import open_app


def deliveries(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """List the latest deliveries (`--failed`: the failed ones), or with `retry`, queue
    failed ones again; exit 0, or 2 when `retry` names no delivery."""
    if args.action == "retry":
        return asyncio.run(_retry(settings, watchlists, args.ids, every=args.all_failed))
    return asyncio.run(_list(settings, watchlists, failed_only=args.failed, limit=args.limit))


async def _list(
    settings: Settings, watchlists: list[Watchlist], *, failed_only: bool, limit: int
) -> int:
    async with open_app(settings, watchlists) as app:
        rows = await app.outbox.queue.listing(failed_only=failed_only, limit=limit)
    print_deliveries(Console(highlight=False, soft_wrap=True), rows)
    return 0


async def _retry(
    settings: Settings, watchlists: list[Watchlist], ids: list[int], *, every: bool
) -> int:
    if every == bool(ids):
        raise UsageError("deliveries retry: give the ids of failed deliveries, or --all-failed")
    async with open_app(settings, watchlists) as app:
        failed = await app.outbox.queue.failed_channels(None if every else ids)
        missing = sorted(set(ids) - set(failed))
        if missing:
            listed = ", ".join(map(str, missing))
            raise UsageError(
                f"deliveries retry: not failed (or no such delivery): {listed}; "
                "`wirewatch deliveries --failed` lists the failed ones"
            )
        for channel in sorted(set(failed.values())):  # the operator says it works now
            await app.outbox.subscriptions.enable_channel(channel)
        requeued = await app.outbox.queue.requeue_failed(
            utcnow(), ids=None if every else list(failed)
        )
    if not requeued:
        print("no delivery has failed: nothing to send again")
        return 0
    print(
        f"queued again: {counted(len(requeued), 'delivery')}; the running bot "
        "sends them at its next delivery tick (or `wirewatch run --once` now)"
    )
    return 0
