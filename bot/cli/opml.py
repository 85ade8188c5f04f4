"""`wirewatch import-opml` and `export-opml`: feed lists exchanged with other readers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.core.clock import utcnow
from bot.core.config import Settings
from bot.core.errors import UsageError
from bot.core.models import FeedState
from bot.feeds.opml import OpmlError, read_opml, write_opml
from bot.matching.watchlists import Watchlist
from bot.service.app import open_app


def import_opml(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Add an OPML file's feeds to the bot's own feed list."""
    file: Path = args.file
    try:
        specs = read_opml(file.read_bytes())
    except OSError as exc:  # a missing or unreadable input file is a usage error, as for eval
        raise UsageError(f"import-opml: cannot read {file}: {exc.strerror}") from exc
    except OpmlError as exc:
        raise OpmlError(f"{file}: {exc}") from exc

    async def add() -> list[str]:
        async with open_app(settings, watchlists) as app:
            return await app.store.add_feeds(specs, utcnow())

    added = asyncio.run(add())
    print(
        f"{file}: {len(specs)} feeds, {len(added)} added, {len(specs) - len(added)} already known"
    )
    return 0


def export_opml(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Write every active feed as OPML 2.0, to `--output` or stdout."""
    output: Path | None = args.output

    async def load() -> list[FeedState]:
        async with open_app(settings, watchlists) as app:
            return await app.store.list_feeds(active_only=True)

    feeds = asyncio.run(load())
    data = write_opml(sorted(feeds, key=lambda f: f.name.lower()))
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        print(f"wrote {len(feeds)} feeds to {output}", file=sys.stderr)
    return 0
