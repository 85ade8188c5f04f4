"""The `wirewatch` command's entry point: parse the arguments, load the settings (and the
watchlists where the command needs them), run the command's handler, and turn any failure
into its message and exit code (`bot.core.errors`: 0 success, 1 a runtime failure, 2 a
configuration or usage error).

Each handler lives in a module of `bot.cli` that is imported only when its command runs,
so `wirewatch --version` and the image's `wirewatch health` load almost nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.cli.arguments import build_parser
from bot.core.errors import DatabaseError, WirewatchError
from bot.core.inert_logging import InertFormatter
from bot.core.safe_text import without_controls


@dataclass(frozen=True, slots=True)
class Handler:
    """Where a command's handler is (`bot.cli.<module>.<function>`), and what it takes
    besides the arguments: `watchlists` (the settings and the watchlists, the
    subscriptions checked against them and the platforms' secrets first), `settings`,
    `web` (only the web server's settings) or `nothing`."""

    module: str
    function: str
    takes: Literal["watchlists", "settings", "web", "nothing"] = "watchlists"


COMMANDS = {
    "run": Handler("run", "run"),
    "check": Handler("check", "check"),
    "demo": Handler("demo", "demo", takes="settings"),
    "init": Handler("init", "init", takes="nothing"),
    "health": Handler("health", "health", takes="web"),
    "feeds": Handler("feeds", "feeds"),
    "subscriptions": Handler("status", "subscriptions"),
    "deliveries": Handler("deliveries", "deliveries"),
    "match": Handler("matching", "match"),
    "eval": Handler("matching", "evaluate_watchlists"),
    "backtest": Handler("matching", "backtest"),
    "parse": Handler("parse", "parse", takes="settings"),
    "import-opml": Handler("opml", "import_opml"),
    "export-opml": Handler("opml", "export_opml"),
    "backup": Handler("database", "backup", takes="settings"),
    "migrate-db": Handler("database", "migrate_db", takes="settings"),
    "prune": Handler("prune", "prune", takes="settings"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wirewatch` and `python -m bot`; returns the exit code."""
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    try:
        from bot.core.environment import find_config  # after --version and --help

        config = find_config(getattr(args, "config", None))
        handler = COMMANDS[args.command]
        run: Callable[..., int] = getattr(
            importlib.import_module(f"bot.cli.{handler.module}"), handler.function
        )
        if handler.takes == "nothing":
            return run(args)
        if handler.takes == "web":
            from bot.core.web_settings import read_web_settings

            return run(args, read_web_settings(config))
        if handler.takes == "settings":
            from bot.core.config import load_settings

            return run(args, load_settings(config))
        from bot.service.preflight import load_configuration

        settings, watchlists = load_configuration(config)
        return run(args, settings, watchlists)
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
    from sqlalchemy.exc import SQLAlchemyError  # loaded by then if a database was opened

    if isinstance(exc, SQLAlchemyError):
        exc = DatabaseError(f"database error: {str(exc).splitlines()[0]}")
    elif isinstance(exc, OSError):
        exc = WirewatchError(str(exc))
    elif not isinstance(exc, WirewatchError):
        raise exc
    for line in exc.lines():  # an error may quote feed text: each line printed inert
        print(without_controls(line), file=sys.stderr)
    return exc.exit_code


def _setup_logging(verbose: bool) -> None:
    """Log to stderr (rich on a terminal, plain lines otherwise), every line inert: log
    messages quote feed text, which may hold terminal escapes (`InertFormatter`)."""
    level = logging.DEBUG if verbose else logging.INFO
    if sys.stderr.isatty():
        from rich.console import Console  # a terminal only: services log plain lines
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=False
        )
        handler.setFormatter(InertFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(InertFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("apscheduler", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
