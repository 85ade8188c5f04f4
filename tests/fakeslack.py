"""A fake Slack on 127.0.0.1: the Web API, response URLs, incoming webhooks and a Socket
Mode WebSocket, recording what the real slack-sdk / slack-bolt code sends."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import serve

Reply = tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class FakeSlack:
    """Record every call; `script[method]` (or `script["hook:<name>"]`) queues replies
    (status, body, headers), None for answering as usual."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    script: dict[str, list[Reply | None]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    envelopes: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    acks: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by ts, as now
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_post("/hooks/{name}", self._hook)
        app.router.add_get("/link/", self._link)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def updated(self) -> list[dict[str, Any]]:
        """The bodies of every chat.update call, in order."""
        return [body for method, body in self.calls if method == "chat.update"]

    def posted(self) -> list[dict[str, Any]]:
        """The bodies of every chat.postMessage call, in order."""
        return [body for method, body in self.calls if method == "chat.postMessage"]

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.method == "GET":
            body = dict(request.query)
        elif request.content_type == "application/json":
            body = json.loads(raw or "{}")
        else:
            body = dict(urllib.parse.parse_qsl(raw))
        body["_auth"] = request.headers.get("Authorization", "")
        self.calls.append((method, body))
        if reply := self._scripted(method):
            status, payload, headers = reply
            return web.json_response(payload, status=status, headers=headers)
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team_id": "T1", "user_id": "UBOT", "bot_id": "B1", "team": "t"}
            )
        if method == "chat.postMessage":
            ts = f"1795000000.{len(self.posted()):06d}"
            self.messages[ts] = body
            return web.json_response({"ok": True, "channel": body.get("channel"), "ts": ts})
        if method == "chat.update":
            ts = str(body.get("ts"))
            if ts not in self.messages:
                return web.json_response({"ok": False, "error": "message_not_found"})
            self.messages[ts] = self.messages[ts] | body
            return web.json_response({"ok": True, "channel": body.get("channel"), "ts": ts})
        if method == "users.info":
            user = self.users.get(str(body.get("user")), {"id": body.get("user")})
            return web.json_response({"ok": True, "user": user})
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": f"ws{self.url[4:]}/link/?ticket=t"})
        return web.json_response({"ok": False, "error": "unknown_method"})

    def _scripted(self, key: str) -> Reply | None:
        """The next scripted reply for `key`, if one is queued and not None."""
        queued = self.script.get(key)
        return queued.pop(0) if queued else None

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hooks.append((name, await request.json()))
        if reply := self._scripted(f"hook:{name}"):
            status, payload, headers = reply
            return web.Response(status=status, text=str(payload.get("text", "")), headers=headers)
        return web.Response(text="ok")

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})

        async def push() -> None:
            while True:
                await ws.send_json(await self.envelopes.get())

        pusher = asyncio.create_task(push())
        try:
            async for message in ws:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    self.acks.put_nowait(data)
        finally:
            pusher.cancel()
        return ws
