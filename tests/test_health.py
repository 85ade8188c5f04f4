"""`/healthz`, `/readyz`, `/metrics` on the bot's own web server, and `wirewatch health`
asking a running bot: real feed server, real SQLite, the recording adapter."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from feedserver import FeedServer
from prometheus_client.parser import text_string_to_metric_families
from recording import ManualClock, RecordingAdapter
from test_delivery import CANOLA, CHANNEL, START, publish, settings, watchlists_without_sources

from bot.core.config import SubscriptionConfig
from bot.core.web_settings import WebSettings
from bot.service.app import App, open_app


@asynccontextmanager
async def serving(
    feed_server: FeedServer, db_url: str, adapter: RecordingAdapter, clock: ManualClock
) -> AsyncIterator[tuple[App, str]]:
    """A delivering bot with its web server on a free port; yields it and its base URL."""
    config = settings(
        feed_server, db_url, SubscriptionConfig(channel=CHANNEL, watchlists=["canola"])
    ).model_copy(update={"web": WebSettings(port=0)})
    async with open_app(
        config, watchlists_without_sources(config), {"discord": adapter}, clock, deliver=True
    ) as app:
        assert app.web is not None
        yield app, f"http://127.0.0.1:{app.web.port}"


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_readyz_waits_for_the_scheduler_and_names_a_disconnected_adapter(
    feed_server: FeedServer, db_url: str
) -> None:
    adapter = RecordingAdapter()
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with serving(feed_server, db_url, adapter, ManualClock(START)) as (app, base):
        assert await get(f"{base}/healthz") == (200, {"status": "ok"})
        status, body = await get(f"{base}/readyz")
        assert status == 503 and body["checks"]["scheduler"] == "not started"
        await app.tick()
        status, body = await get(f"{base}/readyz")
        assert status == 200 and body == {
            "status": "ready",
            "checks": {"scheduler": "ok", "store": "ok", "discord": "ok"},
        }
        adapter.down = "gateway disconnected (reconnecting)"
        status, body = await get(f"{base}/readyz")
        assert status == 503 and body["checks"]["discord"] == adapter.down


async def test_metrics_count_polls_matches_and_deliveries(
    feed_server: FeedServer, db_url: str
) -> None:
    adapter, clock = RecordingAdapter(), ManualClock(START)
    publish(feed_server, "/a")
    publish(feed_server, "/b")
    async with serving(feed_server, db_url, adapter, clock) as (app, base):
        await app.pipeline.run_cycle(ignore_schedule=True)  # the first poll: nothing is news
        publish(feed_server, "/a", CANOLA)
        feed_server.feeds.pop("/b")  # now a 404
        await app.pipeline.run_cycle(ignore_schedule=True)
        adapter.delay = 0.5  # the alert is in flight while the first scrape happens
        await app.tick()
        status, queued = await get(f"{base}/metrics")
        await app.dispatcher.drain()
        status, text = await get(f"{base}/metrics")
    assert status == 200 and len(adapter.sent) == 1
    before, after = samples(queued), samples(text)
    assert before[("wirewatch_outbox_depth", ())] == 1
    assert after[("wirewatch_outbox_depth", ())] == 0
    assert after[("wirewatch_polls_total", (("outcome", "ok"),))] == 3
    assert after[("wirewatch_polls_total", (("outcome", "failed"),))] == 1
    assert after[("wirewatch_fetch_errors_total", (("kind", "http"),))] == 1
    assert after[("wirewatch_items_total", ())] == 3  # two calm items, then the canola one
    assert after[("wirewatch_matches_total", (("watchlist", "canola"),))] == 1
    assert after[("wirewatch_deliveries", (("state", "sent"),))] == 1
    sent = ("wirewatch_delivery_attempts_total", (("platform", "discord"), ("result", "sent")))
    assert after[sent] == 1
    assert after[("wirewatch_delivery_latency_seconds_count", (("kind", "alert"),))] == 1
    assert after[("wirewatch_last_successful_poll_timestamp_seconds", ())] == START.timestamp()


async def health(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "health", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_wirewatch_health_exits_0_when_ready_and_1_otherwise(
    feed_server: FeedServer, sqlite_url: str, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\n")
    async with serving(feed_server, sqlite_url, adapter, ManualClock(START)) as (app, base):
        await app.tick()
        code, out, _ = await health("--url", base, cwd=tmp_path)  # the address alone
        assert (code, out.splitlines()[0]) == (0, "ready") and "store: ok" in out
        adapter.down = "gateway disconnected"
        code, out, _ = await health("--url", f"{base}/readyz", cwd=tmp_path)
        assert code == 1 and "discord: gateway disconnected" in out
    code, out, _ = await health("--url", f"{base}/readyz", cwd=tmp_path)
    assert code == 1 and "no answer from" in out
    code, _, err = await health(cwd=tmp_path)
    assert code == 1 and "the web server is off" in err


@pytest.mark.parametrize("port", ["eighty", "70000"])
async def test_a_bad_web_port_is_a_configuration_error(port: str, tmp_path: Path) -> None:
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check",
        cwd=tmp_path, env=os.environ | {"WIREWATCH_WEB_PORT": port},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "WIREWATCH_WEB_PORT" in err.decode()


@pytest.mark.parametrize(
    ("peer", "public", "answers"),
    [("127.0.0.1", False, True), ("172.18.0.5", False, True), ("8.8.8.8", False, False),
     ("2001:4860::8888", False, False), ("8.8.8.8", True, True)],
)  # fmt: skip
async def test_status_routes_answer_the_internet_only_when_made_public(
    peer: str, public: bool, answers: bool
) -> None:
    from unittest.mock import MagicMock

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from bot.service.health import Readiness
    from bot.service.web import status_routes

    async def ready() -> Readiness:
        return Readiness({"scheduler": "ok"})

    async def metrics() -> bytes:
        return b"wirewatch_items_total 1\n"

    transport = MagicMock()  # a client on the internet cannot be made on loopback
    transport.get_extra_info.side_effect = lambda key, default=None: (
        (peer, 40000) if key == "peername" else default
    )
    for route in status_routes(ready, metrics, public=public):
        request = make_mocked_request("GET", route.path, transport=transport)
        if answers:
            response = await route.handler(request)
            assert response.status == 200
        else:
            with pytest.raises(web.HTTPNotFound):
                await route.handler(request)
