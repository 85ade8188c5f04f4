"""`wirewatch backup` and `migrate-db`: copies of the whole database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.core.config import Settings
from bot.storage.backup import backup_sqlite
from bot.storage.database_url import display_url
from bot.storage.migrate_db import migrate_database


def backup(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the SQLite database to a new file, safely while the bot runs."""
    file: Path = args.file
    url = settings.resolved_database_url()
    size = backup_sqlite(url, file)
    print(f"backed up {url} to {file} ({size:,} bytes)")
    return 0


def migrate_db(args: argparse.Namespace, settings: Settings) -> int:
    """Copy every table to another database, ids kept."""
    source: str = args.source
    target: str = args.target

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    copied = asyncio.run(migrate_database(source, target, force=args.force, progress=report))
    print(
        f"copied {sum(copied.values()):,} rows in {len(copied)} tables "
        f"from {display_url(source)} to {display_url(target)}"
    )
    return 0
