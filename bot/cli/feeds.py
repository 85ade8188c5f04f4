"""`wirewatch feeds`: feed health, and the feed list changed without editing YAML
(`add`, `test`, `remove`, `disable`, `enable`)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from bot.cli.reports import print_feed_health
from bot.core.clock import utcnow
from bot.core.config import FeedConfig, Settings
from bot.core.errors import UsageError
from bot.core.safe_text import one_line
from bot.feeds.feed_admin import FeedRefused, Preview, Request, feed_label, preview_lines
from bot.matching.watchlists import Watchlist
from bot.service.app import App, open_app

Action = Callable[[App, argparse.Namespace, Console], Awaitable[int]]
GUESS_HINT = "; `--guess` tries the usual feed paths (/feed, /rss, /atom.xml...)"
REFUSED_HINT = (
    '; the site refuses this client: `--user-agent "Mozilla/5.0 ..."` sends a browser\'s '
    "(docs/feeds.md)"
)


def feeds(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Feed health, failing feeds first (no action), or the action asked for; exit 0,
    or 2 for a URL that is not a feed, an unknown feed, or a change refused."""
    action = ACTIONS[getattr(args, "feeds_action", None) or "health"]
    console = Console(highlight=False, soft_wrap=True)

    async def run() -> int:
        async with open_app(settings, watchlists) as app:
            return await action(app, args, console)

    return asyncio.run(run())


async def _health(app: App, args: argparse.Namespace, console: Console) -> int:
    feeds = await app.store.list_feeds(active_only=True)
    print_feed_health(console, feeds, utcnow(), app.settings.poll.stale_after)
    return 0


def _checked(action: str, args: argparse.Namespace) -> FeedConfig:
    """The URL and the options given, checked as a config file's feed is; UsageError
    naming each problem."""
    headers: dict[str, str] = {}
    for given in args.header or ():
        name, colon, value = given.partition(":")
        if not colon:
            problem = f"--header {one_line(given)!r}: write it as 'Name: value'"
            raise UsageError(f"feeds {action}: {problem}")
        headers[name.strip()] = value.strip()
    try:
        return FeedConfig(
            url=args.url, name=getattr(args, "name", None),
            interval=getattr(args, "interval", None), user_agent=args.user_agent,
            headers=headers,
        )  # fmt: skip
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != '[key]')}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise UsageError(f"feeds {action}: {one_line(problems)}") from None


def _request(checked: FeedConfig) -> Request:
    return Request(checked.user_agent, tuple(checked.headers.items()))


async def _add(app: App, args: argparse.Namespace, console: Console) -> int:
    checked = _checked("add", args)
    try:
        added = await app.feeds.add(
            checked.url, origin="cli", name=checked.name, interval=checked.interval,
            guess=args.guess, request=_request(checked),
        )  # fmt: skip
    except FeedRefused as exc:
        raise _refused("not added", exc) from None
    if added.preview is not None:
        _print_preview(console, added.preview)
    if added.known is not None:
        known = added.known
        said = f"already polled: {feed_label(known)} (#{known.id}); nothing changed"
        console.print(Text(one_line(said)))
        return 0
    assert added.preview is not None
    name = checked.name or added.preview.title or added.preview.url
    said = f"added {name} <{added.preview.url}>: polled from the next cycle on"
    console.print(Text(one_line(said), style="bold green"))
    return 0


async def _test(app: App, args: argparse.Namespace, console: Console) -> int:
    checked = _checked("test", args)
    try:
        preview = await app.feeds.preview(checked.url, guess=args.guess, request=_request(checked))
    except FeedRefused as exc:
        raise _refused("not a feed", exc) from None
    _print_preview(console, preview)
    return 0


async def _remove(app: App, args: argparse.Namespace, console: Console) -> int:
    try:
        feed = await app.feeds.remove(args.feed)
    except FeedRefused as exc:
        raise UsageError(f"feeds remove: {exc}") from None
    console.print(Text(f"removed {feed_label(feed)}: no longer polled"))
    return 0


async def _disable(app: App, args: argparse.Namespace, console: Console) -> int:
    return await _switch(app, args, console, enabled=False)


async def _enable(app: App, args: argparse.Namespace, console: Console) -> int:
    return await _switch(app, args, console, enabled=True)


async def _switch(app: App, args: argparse.Namespace, console: Console, *, enabled: bool) -> int:
    try:
        feed, changed = await app.feeds.set_enabled(args.feed, enabled)
    except FeedRefused as exc:
        raise UsageError(f"feeds {'enable' if enabled else 'disable'}: {exc}") from None
    state = "enabled" if enabled else "disabled"
    said = f"{state} {feed_label(feed)}" if changed else f"{feed_label(feed)} was {state} already"
    console.print(Text(one_line(said)))
    return 0


def _print_preview(console: Console, preview: Preview) -> None:
    for n, line in enumerate(preview_lines(preview)):
        console.print(Text(line, style="bold" if n == 0 else ""))


def _refused(what: str, exc: FeedRefused) -> UsageError:
    hint = GUESS_HINT if exc.could_guess else ""
    if exc.refused_client:
        hint = REFUSED_HINT
    return UsageError(f"{what}: {exc}{hint}")


ACTIONS: dict[str, Action] = {
    "health": _health,
    "add": _add,
    "test": _test,
    "remove": _remove,
    "disable": _disable,
    "enable": _enable,
}
