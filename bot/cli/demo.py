"""`wirewatch demo`: the whole bot on sample feeds served on 127.0.0.1, in under a minute.

It needs no network and no configuration, and touches nothing of the user's: a sample
feed server on a free loopback port, a database in a temporary folder, the bundled
watchlists, and a console subscription. The first poll records a baseline and reports
nothing (as a real first poll does); then new items appear, the second poll matches
them, and their alerts and a digest print as they would be posted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.core.config import FeedConfig, Settings, SubscriptionConfig
from bot.core.models import CycleSummary
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files
from bot.service.app import console_only, open_app

DIGEST = "0 8 * * *"  # the demo queues its digest at once; this is only its schedule


@dataclass(frozen=True, slots=True)
class Outlet:
    """One sample feed: its path on the server, its name, and its items before and after."""

    path: str
    name: str
    before: tuple[dict[str, Any], ...]
    after: tuple[dict[str, Any], ...]


class SampleServer:
    """Serves the sample feeds on 127.0.0.1; `advance` adds the second poll's items."""

    def __init__(self, outlets: list[Outlet], now: datetime) -> None:
        self.outlets = {o.path: o for o in outlets}
        self.now = now
        self.advanced = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> SampleServer:
        app = web.Application()
        app.router.add_get("/{name}", self._feed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, outlet: Outlet) -> str:
        """Where `outlet`'s feed is served."""
        return f"http://127.0.0.1:{self.port}{outlet.path}"

    def advance(self) -> None:
        """From now on, every feed also holds its `after` items."""
        self.advanced = True

    async def _feed(self, request: web.Request) -> web.Response:
        outlet = self.outlets.get(request.path)
        if outlet is None:
            raise web.HTTPNotFound()
        items = outlet.after + outlet.before if self.advanced else outlet.before
        body = _rss(outlet, items, self.now)
        return web.Response(body=body, content_type="application/rss+xml", charset="utf-8")


def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo; exit 0 once the alerts and the digest have printed."""
    return asyncio.run(_demo(settings))


async def _demo(settings: Settings) -> int:
    outlets = _outlets()
    watchlists = [replace(w, sources=()) for w in load_watchlists(watchlist_files(BUNDLED_DIR))]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="wirewatch-demo-") as folder:
        async with SampleServer(outlets, now) as server:
            demo_settings = Settings(
                data_dir=Path(folder),
                default_feeds=False,
                feeds=[FeedConfig(url=server.url(o), name=o.name) for o in outlets],
                poll=settings.poll,
                subscriptions=[
                    SubscriptionConfig(
                        channel="console",
                        watchlists=[w.id for w in watchlists],
                        alerts=True,
                        digest=DIGEST,
                    )
                ],
            )
            print(
                f"wirewatch demo: {len(outlets)} sample feeds on 127.0.0.1:{server.port}, the "
                f"{len(watchlists)} bundled watchlists, a database in {folder} (deleted after)."
            )
            # the terminal only: the operator's Slack or Discord must not hear of the demo
            async with open_app(demo_settings, watchlists, console_only(), deliver=True) as app:
                first = await app.pipeline.run_cycle(ignore_schedule=True)
                print(
                    f"\n1. First poll: {first.new_items} items recorded as the baseline, none "
                    "reported. A real first poll does the same, so a new installation does "
                    "not flood you with old stories."
                )
                server.advance()
                second = await app.pipeline.run_cycle(ignore_schedule=True)
                print(
                    f"\n2. Second poll: {second.new_items} new items, "
                    f"{_stories(second)} matching a watchlist. Their alerts, as a console "
                    "subscription posts them (two outlets carrying one story make one alert):\n"
                )
                await app.dispatcher.flush()
                print("3. A digest of everything matched, as a scheduled digest posts it:\n")
                for sub in await app.outbox.subscriptions.list_active():
                    await app.outbox.digests.queue_now(sub.id, datetime.now(UTC))
                await app.dispatcher.flush()
    print(
        "That was the whole pipeline. Next: `wirewatch init` writes a starter "
        "wirewatch.yaml for your own feeds, then `wirewatch check` and `wirewatch run`."
    )
    return 0


def _stories(summary: CycleSummary) -> int:
    return len({report.item.key for report in summary.reports})


def _outlets() -> list[Outlet]:
    text = files("bot.cli").joinpath("samples/demo_feeds.yaml").read_text(encoding="utf-8")
    return [
        Outlet(o["path"], o["name"], tuple(o["before"]), tuple(o["after"]))
        for o in yaml.safe_load(text)["outlets"]
    ]


def _rss(outlet: Outlet, items: tuple[dict[str, Any], ...], now: datetime) -> bytes:
    entries = "".join(
        f'<item><guid isPermaLink="false">{escape(i["id"])}</guid>'
        f"<title>{escape(i['title'])}</title>"
        f"<link>https://news.example.test{outlet.path.removesuffix('.xml')}/{i['id']}</link>"
        f"<description>{escape(i['summary'])}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=i['minutes']))}</pubDate></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(outlet.name)}</title><link>https://news.example.test/</link>"
        f"{entries}</channel></rss>"
    ).encode()
