"""The `wirewatch` command: run, check, feeds, match, eval, backtest, import/export-opml.

Exit codes: 0 success; 1 a runtime failure (database, file); 2 a configuration or
usage error, printed as a list of problems without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.cli.reports import (
    CycleProgress,
    evidence_line,
    print_evaluation,
    print_feed_health,
    print_reports,
    print_subscriptions,
    print_summary,
)
from bot.core.clock import utcnow
from bot.core.config import Settings, find_config, load_settings
from bot.core.errors import DatabaseError, UsageError, WirewatchError
from bot.core.models import FeedState, Report, StoredItem
from bot.feeds.feedlist import declared_feeds
from bot.feeds.opml import OpmlError, read_opml, write_opml
from bot.matching.evaluation import evaluate, load_examples
from bot.matching.matcher import Matcher
from bot.matching.watchlists import Watchlist, load_watchlist, resolve_watchlists_dir
from bot.service.app import (
    App,
    check_subscriptions,
    configured_platforms,
    load_configured_watchlists,
    open_app,
)
from bot.service.health import probe, probe_url
from bot.service.scheduler import run_until_stopped
from bot.storage.backup import backup_sqlite
from bot.storage.migrate_db import migrate_database
from bot.storage.store import display_url

log = logging.getLogger("wirewatch")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with `--help` on every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $WIREWATCH_CONFIG, else ./wirewatch.yaml "
        "if present, else built-in defaults)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    parser = argparse.ArgumentParser(
        prog="wirewatch",
        parents=[common],
        description="Poll news feeds, match them against watchlists, report what is new.",
    )
    parser.add_argument("--version", action="version", version=f"wirewatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", parents=[common], help="poll feeds until stopped (SIGINT/SIGTERM)")
    run.add_argument(
        "--once", action="store_true", help="poll every feed once, print what is new, and exit 0"
    )
    sub.add_parser("check", parents=[common], help="validate config and watchlists, then exit")
    health = sub.add_parser(
        "health", parents=[common], help="ask the running bot if it is ready: exit 0, else 1"
    )
    health.add_argument("--url", help="the bot's /readyz URL (default: from web.host, web.port)")
    sub.add_parser("feeds", parents=[common], help="feed health: failing feeds first")
    sub.add_parser(
        "subscriptions",
        parents=[common],
        help="subscriptions and whether they deliver, the outbox, the latest failures",
    )
    match = sub.add_parser("match", parents=[common], help="which watchlists match some text")
    match.add_argument("text", nargs="*", help="the text to match (title first)")
    match.add_argument("--summary", default="", help="text matched as the summary field")
    match.add_argument(
        "--jsonl",
        action="store_true",
        help="read JSON lines {title, summary, id, url} from stdin; "
        "write one JSON line of matches per input line",
    )
    ev = sub.add_parser(
        "eval",
        parents=[common],
        help="precision, recall and F1 of the watchlists on labelled examples",
    )
    ev.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="JSON-lines files {title, summary, labels} (default: the examples "
        "folder beside the watchlists)",
    )
    ev.add_argument(
        "--min-f1",
        type=float,
        default=None,
        metavar="X",
        help="exit 1 when any watchlist's F1 is below X",
    )
    ev.add_argument("--quiet", action="store_true", help="print the scores only")
    bt = sub.add_parser(
        "backtest", parents=[common], help="run a watchlist (id or file) over stored items"
    )
    bt.add_argument("watchlist", help="a watchlist id, or the path of a watchlist file")
    bt.add_argument("--days", type=float, default=7.0, help="look back this many days (default 7)")
    backup = sub.add_parser(
        "backup", parents=[common], help="copy the SQLite database to FILE (safe while running)"
    )
    backup.add_argument("file", type=Path, help="the new backup file")
    mig = sub.add_parser(
        "migrate-db",
        parents=[common],
        help="copy every table to another database (SQLite to PostgreSQL), ids kept",
    )
    mig.add_argument("--from", dest="source", required=True, metavar="URL", help="sqlite:///PATH")
    mig.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="postgresql://USER:PW@HOST/DB"
    )
    mig.add_argument(
        "--force", action="store_true", help="delete what the target holds, then copy over it"
    )
    imp = sub.add_parser("import-opml", parents=[common], help="add the feeds of an OPML file")
    imp.add_argument("file", type=Path)
    exp = sub.add_parser("export-opml", parents=[common], help="write the feed list as OPML")
    exp.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wirewatch` and `python -m bot`; returns the exit code."""
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    try:
        settings = load_settings(find_config(getattr(args, "config", None)))
        # these need no watchlists and no secrets (the HEALTHCHECK's probe runs every 30 s)
        if args.command in _SETTINGS_ONLY:
            return _dispatch_settings_only(args, settings)
        watchlists = load_configured_watchlists(settings)
        check_subscriptions(settings, watchlists, configured_platforms())
        return _dispatch(args, settings, watchlists)
    except Exception as exc:  # every failure ends here, as a message and an exit code
        return _report(exc)
    except KeyboardInterrupt:
        return 130


def _report(exc: Exception) -> int:
    """Print `exc` for the user and return the exit code (see `bot.core.errors`); a library
    error that no stage translated is named by its kind, never shown as a traceback."""
    if isinstance(exc, BrokenPipeError):  # `wirewatch feeds | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if isinstance(exc, SQLAlchemyError):
        exc = DatabaseError(f"database error: {str(exc).splitlines()[0]}")
    elif isinstance(exc, OSError):
        exc = WirewatchError(str(exc))
    elif not isinstance(exc, WirewatchError):
        raise exc
    for line in exc.lines():
        print(line, file=sys.stderr)
    return exc.exit_code


_SETTINGS_ONLY = frozenset({"health", "backup", "migrate-db"})


def _dispatch_settings_only(args: argparse.Namespace, settings: Settings) -> int:
    """The commands that need neither the watchlists nor the platforms' secrets."""
    commands: dict[str, Callable[[], int]] = {
        "health": lambda: _health(settings, args.url),
        "backup": lambda: _backup(settings, args.file),
        "migrate-db": lambda: _migrate_db(args.source, args.target, force=args.force),
    }
    return commands[args.command]()


def _dispatch(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    commands: dict[str, Callable[[], int]] = {
        "run": lambda: asyncio.run(_run(settings, watchlists, once=args.once)),
        "check": lambda: _check(settings, watchlists),
        "feeds": lambda: asyncio.run(_feeds(settings, watchlists)),
        "subscriptions": lambda: asyncio.run(_subscriptions(settings, watchlists)),
        "match": lambda: _match(args, watchlists),
        "eval": lambda: _eval(args, settings, watchlists),
        "backtest": lambda: _backtest(args, settings, watchlists),
        "import-opml": lambda: _import_opml(settings, watchlists, args.file),
        "export-opml": lambda: _export_opml(settings, watchlists, args.output),
    }
    return commands[args.command]()


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("apscheduler", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _run(settings: Settings, watchlists: list[Watchlist], *, once: bool) -> int:
    console = Console(highlight=False, soft_wrap=True)
    async with open_app(settings, watchlists, deliver=True) as app:
        if once:
            await _cycle(app, console, ignore_schedule=True)
            await app.dispatcher.tick()
            await app.dispatcher.drain()
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "wirewatch %s: %d watchlists, database %s",
            __version__,
            len(watchlists),
            display_url(settings.resolved_database_url()),
        )
        await run_until_stopped(
            lambda: _cycle(app, console),
            settings.poll.tick.total_seconds(),
            stop,
            deliver=app.tick,
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
    if summary.polls or ignore_schedule:
        elapsed = time.monotonic() - started
        print_summary(console, summary, elapsed, name_failures=ignore_schedule)


def _health(settings: Settings, url: str | None) -> int:
    if url is None:
        if settings.web.port is None:
            print(
                "wirewatch: the web server is off, so there is nothing to ask; set web.port "
                "(or WIREWATCH_WEB_PORT) for the running bot, or give --url",
                file=sys.stderr,
            )
            return 1
        url = probe_url(settings.web.host, settings.web.port)
    ready, details = probe(url)
    print(f"{'ready' if ready else 'not ready'}\n{details}".rstrip())
    return 0 if ready else 1


def _check(settings: Settings, watchlists: list[Watchlist]) -> int:
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


async def _feeds(settings: Settings, watchlists: list[Watchlist]) -> int:
    async with open_app(settings, watchlists) as app:
        feeds = await app.store.list_feeds(active_only=True)
    print_feed_health(Console(highlight=False, soft_wrap=True), feeds, utcnow())
    return 0


async def _subscriptions(settings: Settings, watchlists: list[Watchlist]) -> int:
    async with open_app(settings, watchlists) as app:
        subs = await app.outbox.subscriptions.list_active()
        counts = await app.outbox.queue.counts()
        failures = await app.outbox.queue.recent_failures()
    print_subscriptions(Console(highlight=False, soft_wrap=True), subs, counts, failures)
    return 0


def _match(args: argparse.Namespace, watchlists: list[Watchlist]) -> int:
    matcher = Matcher(watchlists)
    if args.jsonl:
        for line in sys.stdin:
            sys.stdout.write(json.dumps(match_json_line(matcher, line), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        return 0
    title = " ".join(args.text)
    if not title and not args.summary:
        raise UsageError(
            'match: give the text to match, e.g. wirewatch match "China lifts canola duties"'
        )
    console = Console(highlight=False, soft_wrap=True)
    verdicts = sorted(matcher.judge(title, args.summary), key=lambda v: -v.score)
    matched = [v for v in verdicts if v.matched]
    for verdict in matched:
        flag = " ALERT" if verdict.alert else ""
        console.print(Text(f"{verdict.watchlist.id}: score {verdict.score:g}{flag}", style="bold"))
        console.print(Text(f"  matched {evidence_line(verdict.evidence)}"))
    if not matched:
        console.print("no watchlist matches")
    for verdict in verdicts:
        if not verdict.matched:
            console.print(
                Text(f"{verdict.watchlist.id}: no match ({verdict.shortfall()})", style="dim")
            )
    return 0


def match_json_line(matcher: Matcher, line: str) -> dict[str, Any]:
    """One `match --jsonl` output object for one input line; bad input gives an `error`."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "matches": [], "error": f"invalid JSON: {exc.msg}"}
    if not isinstance(obj, dict):
        return {"id": None, "matches": [], "error": "expected a JSON object"}
    item_id = obj.get("id")
    title, summary = obj.get("title", ""), obj.get("summary", "")
    if not isinstance(title, str) or not isinstance(summary, str):
        return {"id": item_id, "matches": [], "error": "title and summary must be strings"}
    matches = [
        {
            "watchlist": m.watchlist,
            "score": m.score,
            "alert": m.alert,
            "evidence": [
                {
                    "group": e.group,
                    "alias": e.alias,
                    "field": e.field,
                    "text": e.text,
                    "similarity": e.similarity,
                }
                for e in m.evidence
            ],
        }
        for m in matcher.match(title, summary)
    ]
    return {"id": item_id, "matches": matches}


def _eval(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    files = list(args.files)
    if not files:
        folder = resolve_watchlists_dir(settings.watchlists_dir) / "examples"
        files = sorted(folder.glob("*.jsonl"))
        if not files:
            raise UsageError(f"eval: no example files given and none in {folder}")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"eval: no such file: {', '.join(missing)}")
    examples = load_examples(files)
    result = evaluate(Matcher(watchlists), examples)
    console = Console(highlight=False, soft_wrap=True)
    print_evaluation(console, result, show_misses=not args.quiet)
    if args.min_f1 is not None:
        low = [s for s in result.scores if s.f1 < args.min_f1]
        if low:
            names = ", ".join(f"{s.watchlist} ({s.f1:.3f})" for s in low)
            print(f"F1 below {args.min_f1}: {names}", file=sys.stderr)
            return 1
    return 0


def _backtest(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    candidate = Path(args.watchlist)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        tested = load_watchlist(candidate)
    else:
        known = {w.id: w for w in watchlists}
        if args.watchlist not in known:
            raise UsageError(
                f"backtest: no watchlist {args.watchlist!r}; known: {', '.join(known)}"
                " (or give the path of a watchlist file)"
            )
        tested = known[args.watchlist]
    if args.days <= 0:
        raise UsageError("backtest: --days must be positive")
    since = utcnow() - timedelta(days=args.days)

    async def load() -> tuple[list[StoredItem], set[int]]:
        async with open_app(settings, watchlists) as app:
            stored = await app.store.items_since(since)
            return stored, await app.store.matched_item_ids(tested.id, since)

    stored, before = asyncio.run(load())
    matcher = Matcher([tested])
    reports = [Report(s.item, m) for s in stored for m in matcher.match_item(s.item)]
    ids = {s.item.key: s.id for s in stored}
    now_matched = {ids[r.item.key] for r in reports}
    console = Console(highlight=False, soft_wrap=True)
    print_reports(console, reports, [tested])
    alerts = sum(1 for r in reports if r.match.alert)
    console.print(
        f"backtest {tested.id}: {len(reports)} of {len(stored)} items stored in the last "
        f"{args.days:g} days would match ({alerts} as alerts); compared with the stored "
        f"matches: {len(now_matched - before)} new, {len(before - now_matched)} no longer matched",
        markup=False,
    )
    return 0


def _backup(settings: Settings, file: Path) -> int:
    url = settings.resolved_database_url()
    size = backup_sqlite(url, file)
    print(f"backed up {url} to {file} ({size:,} bytes)")
    return 0


def _migrate_db(source: str, target: str, *, force: bool) -> int:
    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    copied = asyncio.run(migrate_database(source, target, force=force, progress=report))
    print(
        f"copied {sum(copied.values()):,} rows in {len(copied)} tables "
        f"from {display_url(source)} to {display_url(target)}"
    )
    return 0


def _import_opml(settings: Settings, watchlists: list[Watchlist], file: Path) -> int:
    try:
        specs = read_opml(file.read_bytes())
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


def _export_opml(settings: Settings, watchlists: list[Watchlist], output: Path | None) -> int:
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
