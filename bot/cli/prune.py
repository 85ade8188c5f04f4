"""`wirewatch prune`: retention now, with progress; `--dry-run` counts, `--vacuum`
rewrites the database afterwards."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import nullcontext

from bot.core.clock import utcnow
from bot.core.config import Settings
from bot.service.app import retention_policy
from bot.storage.database_url import display_url, sqlite_file
from bot.storage.retention import KINDS, Pruned, Pruner, RetentionPolicy
from bot.storage.run_lock import RunLock
from bot.storage.store import Store

NAMES = {
    "items": "items that matched nothing",
    "matched_items": "matched items (with their matches)",
    "stories": "stories left without items",
    "deliveries": "finished deliveries",
    "seen_keys": "seen keys of pruned items",
}
PROGRESS_EVERY = 1.0  # seconds between two progress lines of one kind


def prune(args: argparse.Namespace, settings: Settings) -> int:
    """Prune (or count, with `--dry-run`) what the retention settings let go."""
    policy = retention_policy(settings)
    url = settings.resolved_database_url()
    if policy is None and (args.dry_run or not args.vacuum):
        print("retention is off in the config (retention: off): nothing to prune")
        return 0
    if args.dry_run and (file := sqlite_file(url)) is not None and not file.exists():
        print(f"no database at {file} yet: nothing to prune")  # and none made to say so
        return 0
    # a full vacuum holds SQLite's write lock for the whole rewrite: not beside a bot
    running = RunLock(url) if args.vacuum and not args.dry_run else nullcontext()
    with running:
        return asyncio.run(_prune(url, policy, dry_run=args.dry_run, vacuum=args.vacuum))


async def _prune(url: str, policy: RetentionPolicy | None, *, dry_run: bool, vacuum: bool) -> int:
    store = await Store.open(url)
    try:
        pruner = Pruner(store.engine, policy or RetentionPolicy())
        done = Pruned()
        if policy is not None:
            done = await pruner.prune(utcnow(), dry_run=dry_run, progress=_Progress())
        verb = "would delete" if dry_run else "deleted"
        print(f"{verb} from {display_url(url)}:")
        for kind in KINDS:
            print(f"  {NAMES[kind]:<36} {getattr(done, kind):>12,}")
        if done.pages:
            print(f"  free pages returned to the file system {done.pages:>10,}")
        if vacuum and not dry_run:
            print("rewriting the database (VACUUM)…", file=sys.stderr, flush=True)
            await pruner.vacuum()
            print("vacuumed: every free page returned")
        elif not dry_run and await pruner.auto_vacuum() not in (None, "incremental"):
            print(
                "this SQLite file predates incremental vacuuming, so the pruned space stays "
                "in the file for reuse: stop the bot and run `wirewatch prune --vacuum` once "
                "to return it (and every later prune's)"
            )
    finally:
        await store.close()
    return 0


class _Progress:
    """Progress lines on stderr: each kind's count, at most every PROGRESS_EVERY seconds."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, kind: str, count: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            print(f"  … {NAMES[kind]}: {count:,}", file=sys.stderr, flush=True)
