"""`wirewatch parse FILE...`: what the bot would store from local feed files, read by the
same parser the bot runs (`bot.feeds.parse.parse_feed`) with the same limits
(`poll.max_bytes`, `poll.max_items`).

A file that cannot be read (missing, a directory, unreadable, too big, not a feed) is an
error on its own line or row, and the other files are still read: the command exits 0
once it has read its arguments. `--jsonl` writes one JSON line per file, inert on a
terminal (`bot.cli.jsonl`); without it, a table per file, every field from outside
(paths, titles, summaries, links, keys, errors) on one inert line
(`bot.core.safe_text.one_line`).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli.jsonl import inert_json
from bot.core.clock import format_utc
from bot.core.config import Settings
from bot.core.errors import FeedError, UsageError
from bot.core.safe_text import one_line
from bot.core.wording import counted
from bot.feeds.discovery import page_problem
from bot.feeds.fetch_errors import too_large
from bot.feeds.parse import ParsedFeed, parse_feed

log = logging.getLogger(__name__)

SUMMARY_SHOWN = 200  # characters of a summary in the table (--jsonl has all of it)
_HTTP_URL = re.compile(r"https?://[^\s/?#]+", re.I)


@dataclass(frozen=True, slots=True)
class FileReading:
    """One file's reading: what was parsed, or why nothing was."""

    file: str
    parsed: ParsedFeed | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The `--jsonl` line: file, parser, items, warning and error."""
        parsed = self.parsed
        items = [
            {
                "key": i.key,
                "title": i.title,
                "summary": i.summary,
                "link": i.url,
                "published": i.published.isoformat().replace("+00:00", "Z")
                if i.published
                else None,
            }
            for i in (parsed.items if parsed else ())
        ]
        return {
            "file": self.file,
            "parser": parsed.parser if parsed else None,
            "items": items,
            "warning": parsed.warning if parsed else None,
            "error": self.error,
        }


def parse(args: argparse.Namespace, settings: Settings) -> int:
    """Read each file as the bot would and show its items; exit 0."""
    base_url = args.base_url
    if base_url is not None and not _HTTP_URL.match(base_url.strip()):
        raise UsageError(f"parse: --base-url must be an http(s) URL, not {one_line(base_url)!r}")
    readings = (
        read_file(path, base_url, settings.poll.max_bytes, settings.poll.max_items)
        for path in args.files
    )
    if args.jsonl:
        for reading in readings:
            sys.stdout.write(inert_json(reading.as_json()) + "\n")
            sys.stdout.flush()
    else:
        print_readings(Console(highlight=False, soft_wrap=True), readings)
    return 0


def read_file(path: Path, base_url: str | None, max_bytes: int, max_items: int) -> FileReading:
    """`path` read and parsed as a body fetched from `base_url` (by default the file's own
    file:// URL, against which no relative link resolves); never raises."""
    name = str(path)
    try:
        with path.open("rb") as file:
            body = file.read(max_bytes + 1)
    except OSError as exc:
        return FileReading(name, error=f"cannot read it: {exc.strerror or exc}")
    if len(body) > max_bytes:
        return FileReading(name, error=too_large(max_bytes))
    url = base_url.strip() if base_url else path.resolve().as_uri()
    if (problem := page_problem(body, url)) is not None:  # as a poll reads a page
        return FileReading(name, error=problem)
    try:
        return FileReading(name, parse_feed(body, url, max_items=max_items))
    except FeedError as exc:
        return FileReading(name, error=str(exc))
    except Exception as exc:  # a bug in a parser: this file says so, the others are read
        log.debug("parsing %s failed", name, exc_info=True)
        return FileReading(name, error=f"the parser failed: {type(exc).__name__}: {exc}")


def print_readings(console: Console, readings: Iterable[FileReading]) -> None:
    """Each file: its name, parser and item count (or its error), then its items in a
    table: published, title and summary, link, and the key when it is not the link."""
    for reading in readings:
        header = Text(one_line(reading.file), style="bold")
        parsed = reading.parsed
        if parsed is None:
            header.append(f"  error: {one_line(reading.error or '')}", style="red")
            console.print(header)
            continue
        header.append(
            f"  {counted(len(parsed.items), 'item')}, {parsed.parser} parser", style="dim"
        )
        if parsed.title:
            header.append(f"  {one_line(parsed.title)}")
        console.print(header)
        if parsed.warning:
            console.print(Text(f"  {one_line(parsed.warning)}", style="yellow"))
        if not parsed.items:
            continue
        table = Table(show_header=True, expand=False)
        for label in ("published", "title and summary", "link"):
            table.add_column(label, overflow="fold")
        for item in parsed.items:
            text = Text(one_line(item.title) or "(no title)", style="bold")
            summary = one_line(item.summary)
            if summary:
                cut = (
                    summary[: SUMMARY_SHOWN - 1] + "…" if len(summary) > SUMMARY_SHOWN else summary
                )
                text.append(f"\n{cut}", style="dim")
            if item.key != item.url:
                text.append(f"\nkey {one_line(item.key)}", style="dim")
            table.add_row(
                format_utc(item.published) if item.published else "undated",
                text,
                Text(one_line(item.url or "")),
            )
        console.print(table)
