"""A fake Discord on 127.0.0.1: the REST API (v10) and a minimal gateway, recording what
the real discord.py sends. Point discord.py at it with `Route.BASE = fake.api` and
`DiscordWebSocket.DEFAULT_GATEWAY = fake.gateway`.

REST replies carry exactly `Content-Type: application/json` (discord.py compares the
header as a whole) and 429s carry a `Via` header (without one discord.py takes a 429 for
a Cloudflare ban). The gateway sends HELLO, answers IDENTIFY with READY and a
GUILD_CREATE per guild in `guilds`, acks heartbeats, and dispatches what is put in
`events` (raw `INTERACTION_CREATE` payloads and the like).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import WSMsgType, web
from loopback import serve

APP_ID = 700000000000000001  # the application, and its bot user
GUILD_ID = 800000000000000001
CHANNEL_ID = 900000000000000001
ADMIN_ROLE = 600000000000000001
ALERT_ROLE = 600000000000000002
MANAGE_CHANNELS = 1 << 4
TIMESTAMP = "2026-11-23T08:30:00+00:00"


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: status, JSON body (None for an empty one), headers, delay."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Call:
    """One REST request as received."""

    method: str
    path: str  # after /api/v10
    query: dict[str, str]
    body: Any  # the JSON body, or None
    auth: str  # the Authorization header ("" without one)
    at: float  # event-loop time of arrival


def rate_limited(retry_after: float) -> Reply:
    """Discord's 429: `retry_after` seconds in the body and in Retry-After."""
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {"Via": "1.1 google", "Retry-After": f"{retry_after:g}", "X-RateLimit-Scope": "user"}
    return Reply(429, body, headers)


def error(status: int, message: str, code: int) -> Reply:
    """A Discord JSON error, e.g. `error(403, "Missing Access", 50001)`."""
    return Reply(status, {"message": message, "code": code})


@dataclass
class FakeDiscord:
    """Record every REST call; `script["POST /channels/1/messages"]` queues replies for
    that route (None: answer as usual), which otherwise answers as Discord would."""

    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[Reply | None]] = field(default_factory=dict)
    guilds: list[dict[str, Any]] = field(default_factory=list)
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    identify: dict[str, Any] | None = None
    identifies: list[dict[str, Any]] = field(default_factory=list)  # one per shard connected
    shards: int = 1  # what GET /gateway/bot recommends
    url: str = ""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id, as now
    _runner: web.AppRunner | None = None
    _messages: int = 0

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gw/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api(self) -> str:
        """The REST base to give discord.py."""
        return f"{self.url}/api/v10"

    @property
    def gateway(self) -> yarl.URL:
        """The gateway URL to give discord.py."""
        return yarl.URL(f"ws{self.url[4:]}/gw/")

    def of(self, method: str, pattern: str) -> list[Call]:
        """The calls of `method` whose path fully matches the regex `pattern`, in order."""
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    async def wait_for(self, found: Callable[[], bool], seconds: float = 5.0) -> None:
        """Poll until `found()` holds (raises AssertionError after `seconds`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not found():
            if loop.time() > deadline:
                raise AssertionError(f"not seen in {seconds} s; calls: {self.calls}")
            await asyncio.sleep(0.01)

    # --- REST ----------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body = json.loads(raw) if raw and request.content_type == "application/json" else None
        at = asyncio.get_running_loop().time()
        auth = request.headers.get("Authorization", "")
        self.calls.append(Call(request.method, path, dict(request.query), body, auth, at))
        queued = self.script.get(f"{request.method} {path}")
        reply = queued.pop(0) if queued else None
        if reply is None:
            return self._answer(request.method, path, body)
        await asyncio.sleep(reply.delay)
        return _json(reply.body, reply.status, reply.headers)

    def _answer(self, method: str, path: str, body: Any) -> web.Response:
        if path == "/gateway/bot":
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return _json(
                {"url": str(self.gateway), "shards": self.shards, "session_start_limit": limit}
            )
        if path == "/users/@me":
            return _json(user(APP_ID, "wirewatch") | {"bot": True})
        if path == "/oauth2/applications/@me":
            return _json(
                {"id": str(APP_ID), "name": "wirewatch", "description": "", "icon": None,
                 "bot_public": False, "bot_require_code_grant": False, "verify_key": "00",
                 "owner": user(1, "owner"), "flags": 0}
            )  # fmt: skip
        if method == "PUT" and re.fullmatch(
            rf"/applications/{APP_ID}(/guilds/\d+)?/commands", path
        ):
            return _json([_command(n, c) for n, c in enumerate(body or [])])
        if method == "POST" and (match := re.fullmatch(r"/channels/(\d+)/messages", path)):
            return _json(self._message(match.group(1), body or {}))
        if method == "POST" and re.fullmatch(r"/webhooks/\d+/[^/]+", path):
            return _json(self._message(str(CHANNEL_ID), body or {}))
        if method == "PATCH" and (
            match := re.fullmatch(r"/(?:channels/\d+|webhooks/\d+/[^/]+)/messages/(\d+)", path)
        ):
            return self._edit(match.group(1), body or {})
        if method == "POST" and (
            match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path)
        ):
            return self._thread(match.group(1), match.group(2), body or {})
        if method == "POST" and (
            match := re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", path)
        ):
            return _json(_callback(match.group(1), body or {}))
        if method == "DELETE" and path.endswith("/messages/@original"):
            return web.Response(status=204)
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _edit(self, message_id: str, body: dict[str, Any]) -> web.Response:
        """Edit a message posted here; 404 Unknown Message (10008) for any other."""
        message = self.messages.get(message_id)
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        for key in ("content", "embeds"):
            if key in body:
                message[key] = body[key] or ([] if key == "embeds" else "")
        message["edited_timestamp"] = TIMESTAMP
        return _json(message)

    def _thread(self, channel_id: str, message_id: str, body: dict[str, Any]) -> web.Response:
        """Start a thread on a message posted here (the thread takes the message's id);
        a second one on the same message is refused as Discord does (160004)."""
        message = self.messages.get(message_id)
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        if message.get("thread"):
            return _json(
                {"message": "A thread has already been created for this message", "code": 160004},
                400,
            )
        message["thread"] = True
        return _json(
            {"id": message_id, "type": 11, "guild_id": str(GUILD_ID), "parent_id": channel_id,
             "owner_id": str(APP_ID), "name": body.get("name", ""), "last_message_id": None,
             "rate_limit_per_user": 0, "message_count": 0, "member_count": 1, "flags": 0,
             "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                 "archive_timestamp": TIMESTAMP, "locked": False}}
        )  # fmt: skip

    def _message(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._messages += 1
        message_id = str(1_000_000_000_000_000_000 + self._messages)
        self.messages[message_id] = self._message_object(message_id, channel_id, body)
        return self.messages[message_id]

    def _message_object(
        self, message_id: str, channel_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": message_id, "channel_id": channel_id,
            "type": 0, "content": body.get("content") or "", "author": user(APP_ID, "wirewatch"),
            "timestamp": TIMESTAMP, "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": body.get("embeds") or [], "pinned": False, "flags": body.get("flags", 0),
        }  # fmt: skip

    # --- gateway -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None})
        sequence = 0

        async def dispatch(name: str, data: dict[str, Any]) -> None:
            nonlocal sequence
            sequence += 1
            await ws.send_json({"op": 0, "t": name, "s": sequence, "d": data})

        async def push() -> None:
            while True:
                await dispatch(*await self.events.get())

        pusher: asyncio.Task[None] | None = None
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                data = json.loads(frame.data)
                if data["op"] == 1:
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif data["op"] == 2:
                    self.identify = data["d"]
                    self.identifies.append(data["d"])
                    await dispatch("READY", self._ready(data["d"].get("shard") or [0, 1]))
                    for guild in self.guilds:
                        await dispatch("GUILD_CREATE", guild)
                    pusher = asyncio.create_task(push())
        finally:
            if pusher is not None:
                pusher.cancel()
        return ws

    def _ready(self, shard: list[int]) -> dict[str, Any]:
        return {
            "shard": shard,
            "v": 10, "user": user(APP_ID, "wirewatch") | {"bot": True},
            "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
            "session_id": "session-1", "resume_gateway_url": str(self.gateway),
            "application": {"id": str(APP_ID), "flags": 0},
        }  # fmt: skip


def user(user_id: int, name: str) -> dict[str, Any]:
    """A user object."""
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None,
            "global_name": name}  # fmt: skip


def guild(guild_id: int = GUILD_ID, roles: tuple[int, ...] = (ADMIN_ROLE,)) -> dict[str, Any]:
    """A GUILD_CREATE payload: the server with its @everyone role and `roles`."""

    def role(role_id: int, name: str) -> dict[str, Any]:
        return {"id": str(role_id), "name": name, "permissions": "0", "position": 0,
                "color": 0, "hoist": False, "managed": False, "mentionable": False,
                "flags": 0}  # fmt: skip

    return {
        "id": str(guild_id), "name": "newsroom", "unavailable": False, "owner_id": "1",
        "roles": [role(guild_id, "@everyone"), *(role(r, f"role {r}") for r in roles)],
        "channels": [], "members": [], "member_count": 1, "emojis": [], "stickers": [],
        "features": [], "premium_tier": 0, "threads": [], "voice_states": [],
    }  # fmt: skip


def interaction(
    interaction_id: int,
    subcommand: str,
    options: list[dict[str, Any]] | None = None,
    *,
    permissions: int = 0,
    roles: tuple[int, ...] = (),
    autocomplete: bool = False,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload for `/news <subcommand>` by a member of the guild
    with `permissions` in the channel and `roles`; an autocomplete one (type 4) when
    `autocomplete` (mark the focused option with "focused": True)."""
    return {
        "id": str(interaction_id), "application_id": str(APP_ID), "type": 4 if autocomplete else 2,
        "token": f"itok-{interaction_id}", "version": 1, "guild_id": str(GUILD_ID),
        "channel_id": str(CHANNEL_ID),
        "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "news",
                    "position": 0, "permission_overwrites": [], "nsfw": False,
                    "parent_id": None},
        "member": {"user": user(42, "reader"), "roles": [str(r) for r in roles],
                   "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0,
                   "permissions": str(permissions)},
        "app_permissions": "2048", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0, "attachment_size_limit": 10485760,
        "data": {"id": "1000", "name": "news", "type": 1, "guild_id": str(GUILD_ID),
                 "options": [{"type": 1, "name": subcommand, "options": options or []}]},
    }  # fmt: skip


def _command(n: int, command: dict[str, Any]) -> dict[str, Any]:
    return command | {"id": str(1000 + n), "application_id": str(APP_ID), "version": "1"}


def _callback(interaction_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The interaction callback response discord.py reads (`?with_response=1`)."""
    flags = (body.get("data") or {}).get("flags", 0)
    return {
        "interaction": {
            "id": interaction_id, "type": 2,
            "response_message_loading": body.get("type") == 5,
            "response_message_ephemeral": bool(flags & 64),
        },
        "resource": {"type": body.get("type")},
    }  # fmt: skip


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Exactly `application/json`, no charset (discord.py compares the whole header)."""
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )
