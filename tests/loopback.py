"""Serving an aiohttp app on 127.0.0.1 for the fakes and the feed server."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start `app` on a free loopback port; return its runner (to `cleanup()`) and its
    base URL (`http://127.0.0.1:<port>`)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
