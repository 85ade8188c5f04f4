"""The `wirewatch` command line's grammar: every subcommand and its options."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot import __version__

# `run --role`: bot.service.roles.Role's values (that module loads SQLAlchemy; a test
# holds the two equal)
ROLES = ("all", "poller", "deliverer", "gateway")


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
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="among workers sharing a PostgreSQL database: only poll feeds, only deliver, "
        "or only answer /news (default: all of it)",
    )
    sub.add_parser("check", parents=[common], help="validate config and watchlists, then exit")
    sub.add_parser(
        "demo",
        parents=[common],
        help="see the bot work on sample feeds served on 127.0.0.1 (no network, no setup)",
    )
    init = sub.add_parser("init", parents=[common], help="write a commented starter wirewatch.yaml")
    init.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=Path("wirewatch.yaml"),
        help="where to write it (default: ./wirewatch.yaml; an existing file is never overwritten)",
    )
    health = sub.add_parser(
        "health", parents=[common], help="ask the running bot if it is ready: exit 0, else 1"
    )
    health.add_argument(
        "--url",
        help="the bot's address (http://host:8080) or its /readyz URL "
        "(default: from web.host, web.port)",
    )
    _feeds_parser(sub, common)
    sub.add_parser(
        "subscriptions",
        parents=[common],
        help="subscriptions and whether they deliver, the outbox, the latest failures",
    )
    dl = sub.add_parser(
        "deliveries",
        parents=[common],
        help="the latest alerts and digests in the outbox; `retry` sends failed ones again",
    )
    dl.add_argument("--failed", action="store_true", help="only the failed deliveries")
    dl.add_argument("--limit", type=int, default=50, help="how many to list (default 50)")
    dl_sub = dl.add_subparsers(dest="action", metavar="ACTION")
    retry = dl_sub.add_parser(
        "retry", parents=[common], help="queue failed deliveries again once their channel works"
    )
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="failed deliveries' ids")
    retry.add_argument("--all-failed", action="store_true", help="every failed delivery")
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
        "--split",
        choices=["tuning", "held-out", "all"],
        default=None,
        help="score a part of the labelled public headlines (examples/headlines/) instead of files",
    )
    ev.add_argument(
        "--batch",
        type=int,
        default=None,
        metavar="N",
        help="score only the examples of batch N (the labelled headlines were gathered in batches)",
    )
    ev.add_argument(
        "--min-f1",
        type=float,
        default=None,
        metavar="X",
        help="exit 1 when any watchlist's F1 is below X",
    )
    ev.add_argument(
        "--min-recall",
        type=float,
        default=None,
        metavar="X",
        help="exit 1 when any watchlist's recall is below X",
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
    prune = sub.add_parser(
        "prune",
        parents=[common],
        help="delete what the retention settings let go, now (a running bot does it hourly)",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    prune.add_argument(
        "--vacuum",
        action="store_true",
        help="then rewrite the database to return all free space (SQLite: the bot stopped)",
    )
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
    prs = sub.add_parser(
        "parse",
        parents=[common],
        help="read local feed files (RSS, Atom, RDF, JSON Feed) and show what the bot "
        "would store from each",
    )
    prs.add_argument("files", nargs="+", type=Path, metavar="FILE", help="a feed file")
    prs.add_argument(
        "--base-url",
        metavar="URL",
        help="the URL the files were fetched from: relative links resolve against the "
        "feed's own site link, else against it (default: no http(s) URL, so they stay unresolved)",
    )
    prs.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON line per file: {file, parser, items: [{key, title, summary, link, "
        "published}], warning, error}",
    )
    imp = sub.add_parser("import-opml", parents=[common], help="add the feeds of an OPML file")
    imp.add_argument("file", type=Path)
    exp = sub.add_parser("export-opml", parents=[common], help="write the feed list as OPML")
    exp.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    return parser


def _request_options(parser: argparse.ArgumentParser) -> None:
    """`--user-agent` and `--header`: what the feed's requests send (`feeds add|test`)."""
    parser.add_argument(
        "--user-agent",
        metavar="TEXT",
        help="send this User-Agent for this feed instead of the bot's (for a site that "
        "refuses the bot: a browser's)",
    )
    parser.add_argument(
        "--header",
        action="append",
        metavar='"NAME: VALUE"',
        help="send this request header to the feed's host (repeat for more)",
    )


def _feeds_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """`wirewatch feeds` (health) and its actions on the feed list."""
    feeds = sub.add_parser(
        "feeds",
        parents=[common],
        help="feed health, failing feeds first; or add, remove, disable, enable, test a feed",
        description="Without an action: feed health, failing feeds first.",
    )
    actions = feeds.add_subparsers(dest="feeds_action", metavar="ACTION")
    add = actions.add_parser(
        "add",
        parents=[common],
        help="read a feed (or the feed a web page names), show its newest items and "
        "their matches, and poll it from now on",
    )
    add.add_argument("url", help="the feed's URL, or a page that names its feed")
    add.add_argument("--name", help="the name to show (default: the feed's own title)")
    add.add_argument(
        "--interval",
        metavar="DURATION",
        help="poll it this often, e.g. 10m (default: poll.interval)",
    )
    add.add_argument(
        "--guess",
        action="store_true",
        help="when the URL is not a feed and names none, try /feed, /rss, /atom.xml...",
    )
    _request_options(add)
    test = actions.add_parser(
        "test", parents=[common], help="what `feeds add` would show, without adding the feed"
    )
    test.add_argument("url", help="the feed's URL, or a page that names its feed")
    test.add_argument("--guess", action="store_true", help="as for `feeds add`")
    _request_options(test)
    for name, what in (
        ("remove", "stop polling a feed added by OPML, `feeds add` or chat (history kept)"),
        ("disable", "stop polling any feed until `feeds enable` (it stays listed)"),
        ("enable", "poll a disabled feed again (also one disabled by 410 Gone)"),
    ):
        action = actions.add_parser(name, parents=[common], help=what)
        action.add_argument("feed", metavar="URL_OR_ID", help="the feed's URL or its id")
