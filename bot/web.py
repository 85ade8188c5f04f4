"""The bot's small web server: `/healthz` and the routes adapters serve (Slack's
`/slack/events` in HTTP mode). Off unless `web.port` is set."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

log = logging.getLogger(__name__)


class WebServer:
    """An aiohttp server on `host:port` (port 0: any free port, see `port`)."""

    def __init__(self, host: str, port: int, routes: Sequence[web.RouteDef] = ()) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        self._app.add_routes([web.get("/healthz", _alive), *routes])
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; `port` then holds the port actually bound."""
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])
        log.info("web server on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


async def _alive(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
