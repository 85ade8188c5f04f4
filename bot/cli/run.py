"""`wirewatch run`: poll until stopped, or once with `--once`, printing what is new."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time

from rich.console import Console

from bot import __version__
from bot.cli.reports import CycleProgress, print_reports, print_summary
from bot.core.clock import format_utc, utcnow
from bot.core.config import Settings
from bot.core.errors import UsageError
from bot.core.wording import counted
from bot.delivery.queue import Waiting
from bot.matching.watchlists import Watchlist
from bot.service.app import App, open_app
from bot.service.roles import Role
from bot.service.scheduler import run_until_stopped
from bot.storage.database_url import display_url, is_sqlite

log = logging.getLogger("wirewatch")


def run(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Run the bot; exit 0 when stopped (or after one pass with `--once`)."""
    role = Role(args.role)
    if role is not Role.ALL and (args.once or is_sqlite(settings.resolved_database_url())):
        raise UsageError(
            f"run --role {role}: roles divide the work of several `wirewatch run` sharing a "
            "PostgreSQL database; with SQLite, or with --once, one process does all of it"
        )
    return asyncio.run(_run(settings, watchlists, once=args.once, role=role))


async def _run(settings: Settings, watchlists: list[Watchlist], *, once: bool, role: Role) -> int:
    console = Console(highlight=False, soft_wrap=True)
    async with open_app(settings, watchlists, deliver=True, role=role) as app:
        if once:
            await _cycle(app, console, ignore_schedule=True)
            await app.dispatcher.flush()
            _say_what_waits(await app.outbox.queue.waiting(utcnow()))
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "wirewatch %s: %d watchlists, database %s%s",
            __version__,
            len(watchlists),
            display_url(settings.resolved_database_url()),
            f", role {role}" if role is not Role.ALL else "",
        )
        await run_until_stopped(
            (lambda: _cycle(app, console)) if role.polls else None,
            settings.poll.tick.total_seconds(),
            stop,
            deliver=app.tick,
            prune=app.prune if app.pruner is not None and role.delivers else None,
            prune_seconds=settings.retention.every.total_seconds(),
            keep_gateway=app.gateway.keep if app.gateway is not None else None,
        )
        log.info("stopped")
    return 0


async def _cycle(app: App, console: Console, *, ignore_schedule: bool = False) -> None:
    progress = CycleProgress(console)
    started = time.monotonic()
    try:
        summary = await app.pipeline.run_cycle(
            ignore_schedule=ignore_schedule,
            on_start=progress.start,
            on_poll=progress.advance,
            on_reports=None
            if app.console_subscribed  # the console adapter shows them as alerts
            else lambda reports: print_reports(console, reports, app.watchlists),
        )
    finally:
        progress.stop()
    elapsed = time.monotonic() - started
    busy = summary.new_items or summary.reports or summary.baseline_feeds or summary.stale_matched
    if ignore_schedule or busy:  # a long run is quiet about cycles that found nothing
        print_summary(
            console, summary, elapsed, name_failures=ignore_schedule,
            max_item_age=app.settings.poll.max_item_age,
        )  # fmt: skip
    elif summary.polls:
        log.debug("cycle: %d feeds polled in %.1f s, nothing new", len(summary.polls), elapsed)


def _say_what_waits(waiting: Waiting) -> None:
    """After `run --once` has sent everything due: what it left pending, and why."""
    if waiting.later:
        held = waiting.later - waiting.retrying
        reasons = [
            f"{waiting.retrying} to retry after an error" if waiting.retrying else "",
            f"{held} held by quiet hours" if held else "",
        ]
        first = format_utc(waiting.next_at) if waiting.next_at else "later"
        log.warning(
            "%s not sent yet (%s; the first due %s): `wirewatch run` sends them when due",
            counted(waiting.later, "delivery"),
            ", ".join(r for r in reasons if r),
            first,
        )
    if waiting.stopped:
        log.warning(
            "%s wait for a channel whose delivery stopped: see `wirewatch subscriptions`",
            counted(waiting.stopped, "delivery"),
        )
