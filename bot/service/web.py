"""The bot's small web server: `/healthz` (alive), `/readyz` (ready to work),
`/metrics` (Prometheus) and the routes adapters serve (Slack's `/slack/events` in HTTP
mode). Off unless `web.port` is set."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bot.core.metrics import CONTENT_TYPE
from bot.feeds.address_guard import address_kind
from bot.service.health import Readiness

log = logging.getLogger(__name__)


class WebServer:
    """An aiohttp server on `host:port` (port 0: any free port, see `port`)."""

    def __init__(self, host: str, port: int, routes: Sequence[web.RouteDef] = ()) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        self._app.add_routes([web.get("/healthz", _alive), *routes])
        self._runner: web.AppRunner | None = None

    def add_routes(self, routes: Sequence[web.RouteDef]) -> None:
        """Serve `routes` too; only before `start`."""
        self._app.add_routes(routes)

    async def start(self) -> None:
        """Listen; `port` then holds the port actually bound."""
        # lingering_time=0: a body a handler left unread (a refused oversized upload) is
        # not read on and discarded for 10 s; the connection is closed after the answer
        self._runner = web.AppRunner(self._app, access_log=None, lingering_time=0)
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


def status_routes(
    readiness: Callable[[], Awaitable[Readiness]],
    metrics: Callable[[], Awaitable[bytes]],
    *,
    public: bool = False,
) -> list[web.RouteDef]:
    """`/readyz`: 200 when every check passes, else 503, with each check's result as
    JSON; `/metrics`: the Prometheus exposition text. Unless `public`, both answer only
    loopback and private addresses (the image's health check, a Prometheus beside it)
    and are not found from the internet, where Slack's HTTP mode may open the port."""

    def hidden(request: web.Request) -> bool:
        if public:
            return False
        try:
            return address_kind(ipaddress.ip_address(request.remote or "")) is None
        except ValueError:
            return True

    async def ready(request: web.Request) -> web.Response:
        if hidden(request):
            raise web.HTTPNotFound()
        result = await readiness()
        return web.json_response(
            {"status": "ready" if result.ready else "not ready", "checks": dict(result.checks)},
            status=200 if result.ready else 503,
        )

    async def scrape(request: web.Request) -> web.Response:
        if hidden(request):
            raise web.HTTPNotFound()
        return web.Response(body=await metrics(), headers={"Content-Type": CONTENT_TYPE})

    return [web.get("/readyz", ready), web.get("/metrics", scrape)]


async def _alive(_request: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer."""
    return web.json_response({"status": "ok"})
