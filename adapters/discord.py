"""The Discord adapter: alerts and digests as embeds, and the `/news` command group, on the
real discord.py.

Bot mode: a bot token; messages go to channels by id over REST, and the gateway
connection (no privileged intent, only `guilds`) brings the slash commands. Commands
sync to one server when a guild id is set (instant, for testing), globally otherwise.
`discord-webhook:<name>` channels post through a webhook URL with no bot user at all.

Every message carries `allowed_mentions` with nothing to parse (the client's default,
and set on each send), except that an alert may list the one role its subscription
names. discord.py's own rate-limit handling stays on: it waits out a 429's
`retry_after` and retries; a wait longer than MAX_RATELIMIT_WAIT comes back to the
outbox as a retryable error with that delay instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
import discord
from aiohttp import web
from discord import app_commands

from adapters.discord_commands import NewsGroup
from adapters.discord_render import DiscordMessage, render
from bot.chat.adapter import PartSent, post_parts, single_part
from bot.chat.commands import CommandCore
from bot.chat.message import Message
from bot.chat.webhooks import webhook_url
from bot.core.channels import ChannelRef
from bot.core.environment import DiscordSettings
from bot.core.errors import DeliveryError

log = logging.getLogger(__name__)


def _not_about_voice(record: logging.LogRecord) -> bool:
    """wirewatch sends no voice: discord.py's warnings that its voice libraries are
    missing (PyNaCl, davey) say nothing to an operator."""
    return "voice will NOT be supported" not in record.getMessage()


logging.getLogger("discord.client").addFilter(_not_about_voice)

T = TypeVar("T")
MAX_RATELIMIT_WAIT = 30.0  # seconds discord.py may sleep on a 429 (its minimum)
THREAD_EXISTS = 160004  # Discord: "A thread has already been created for this message"


class DiscordAdapter:
    """Implements bot.chat.adapter.Adapter for Discord (bot and webhook channels)."""

    platform = "discord"
    min_interval = 1.0  # Discord allows 5 messages per 5 s in a channel

    def __init__(self, settings: DiscordSettings) -> None:
        """Point discord.py's REST base at `settings.api_url` if given (it is one class
        attribute for the whole process: bot calls, webhooks and interactions)."""
        self.settings = settings
        if settings.api_url:
            discord.http.Route.BASE = settings.api_url.rstrip("/")
        self.client: discord.AutoShardedClient | None = None
        self.tree: app_commands.CommandTree[discord.AutoShardedClient] | None = None
        self._gateway: asyncio.Task[None] | None = None
        self._connected = False
        self._gateway_error: str | None = None
        self._session: aiohttp.ClientSession | None = None  # for webhooks

    async def start(self, commands: CommandCore, *, gateway: bool = True) -> None:
        """Log in (checking the token), and with `gateway` open the gateway
        (`open_gateway`). Webhooks alone need none of it.

        The client is discord.py's AutoShardedClient: it asks Discord how many shards
        the bot needs (one until it is in about a thousand servers) and runs them all.
        """
        if not self.settings.token:
            return
        client = discord.AutoShardedClient(
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
        )
        self.client = client
        self.tree = app_commands.CommandTree(client)
        guild = discord.Object(self.settings.guild_id) if self.settings.guild_id else None
        self.tree.add_command(NewsGroup(commands, self.settings.admin_role), guild=guild)
        client.event(self.on_connect)
        client.event(self.on_resumed)
        client.event(self.on_disconnect)
        try:
            await self._call(client.login(self.settings.token))
            if gateway:
                await self.open_gateway()
        except DeliveryError:  # the bot does not start: its client goes
            await client.close()
            raise

    async def open_gateway(self) -> None:
        """Register `/news` with Discord and connect the gateway in the background (once);
        a failure leaves the client sending, and a later call tries again."""
        if self.client is None or self._gateway is not None:
            return
        guild = discord.Object(self.settings.guild_id) if self.settings.guild_id else None
        await self._sync(guild)
        self._gateway = asyncio.create_task(self._run_gateway(self.client), name="discord gateway")

    def routes(self) -> list[web.RouteDef]:
        """No routes: Discord's commands arrive over the gateway."""
        return []

    async def _sync(self, guild: discord.Object | None) -> None:
        """Register `/news` with Discord (bulk overwrite: unchanged commands stay as they
        are); a 403 says which scope the invite lacks."""
        assert self.tree is not None
        try:
            await self._call(self.tree.sync(guild=guild))
        except DeliveryError as exc:
            if not isinstance(exc.__cause__, discord.Forbidden):
                raise
            raise DeliveryError(
                f"cannot register /news ({exc.reason}); the bot's invite needs the "
                "applications.commands scope",
                retryable=False,
            ) from exc

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """Post `message` (split over several messages when long) from part `skip` on;
        return the last message's id. Each part has its own nonce (`nonce`, `nonce.2`,
        …) with `enforce_nonce`, so a retry does not post a part twice."""
        parts = render(message)
        if channel.platform == "discord-webhook":
            return await self._send_webhook(channel, parts, skip, on_part)
        if self.client is None:
            raise DeliveryError(
                f"{channel}: no Discord bot token (WIREWATCH_DISCORD_TOKEN)", retryable=False
            )
        target = self.client.get_partial_messageable(int(channel.target))

        async def post(n: int, part: DiscordMessage) -> str:
            sent = await self._call(
                target.send(
                    content=part.content or None,
                    embeds=_embeds(part),
                    nonce=nonce if n == 1 else f"{nonce}.{n}",
                    allowed_mentions=_allowed_mentions(part),
                )
            )
            return str(sent.id)

        return await post_parts(parts, skip, post, on_part)

    async def check_connection(self) -> str | None:
        """None while the gateway is connected (or only webhooks are set up); else why not."""
        if not self.settings.token:
            return None
        if self.client is None:
            return "Discord bot not started"
        if self._gateway is None:
            return None  # sending over REST; another worker holds the gateway
        if self._gateway_error:
            return self._gateway_error
        if not self._connected:
            return "Discord gateway disconnected (reconnecting)"
        return None

    async def close(self) -> None:
        """Disconnect and release the HTTP sessions; safe to call twice."""
        if self.client is not None:
            await self.client.close()
        if self._gateway is not None:
            await asyncio.gather(self._gateway, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- gateway events ----------------------------------------------------------------

    async def on_connect(self) -> None:
        """The gateway said READY."""
        self._connected = True

    async def on_resumed(self) -> None:
        """The gateway resumed the session after a drop."""
        self._connected = True

    async def on_disconnect(self) -> None:
        """The gateway connection dropped; discord.py reconnects."""
        self._connected = False

    async def _run_gateway(self, client: discord.AutoShardedClient) -> None:
        """Hold the gateway connection (discord.py reconnects); an error it cannot
        recover from is logged and reported by `check_connection`."""
        try:
            await client.connect(reconnect=True)
        except Exception as exc:
            self._gateway_error = f"Discord gateway stopped: {exc}"
            log.error("%s", self._gateway_error)

    # --- sending -----------------------------------------------------------------------

    async def _send_webhook(
        self,
        channel: ChannelRef,
        parts: list[DiscordMessage],
        skip: int,
        on_part: PartSent | None,
    ) -> str:
        url = self.settings.webhooks.get(channel.target) or webhook_url(channel)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            hook = discord.Webhook.from_url(url, session=self._session)
        except ValueError as exc:
            raise DeliveryError(
                f"{channel}: not a Discord webhook URL (https://discord.com/api/webhooks/…)",
                retryable=False,
            ) from exc

        async def post(_n: int, part: DiscordMessage) -> str:
            sent = await self._call(
                hook.send(
                    content=part.content or discord.utils.MISSING,
                    embeds=_embeds(part),
                    allowed_mentions=_allowed_mentions(part),
                    wait=True,
                )
            )
            return str(sent.id)

        return await post_parts(parts, skip, post, on_part)

    # --- follow-ups (bot.chat.adapter.GrowingAdapter) ---------------------------------

    async def edit(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        """Edit posted message `message_id` (PATCH, in a channel or through its webhook)
        to show `message`; a 404 (the message deleted) is not retryable. Never posts."""
        part = single_part(channel, render(message))
        if channel.platform == "discord-webhook":
            hook = self._webhook(channel)
            await self._call(
                hook.edit_message(
                    int(message_id),
                    content=part.content or None,
                    embeds=_embeds(part),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            )
            return
        target = self._bot_channel(channel)
        await self._call(
            target.get_partial_message(int(message_id)).edit(
                content=part.content or None,
                embeds=_embeds(part),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        )

    async def open_thread(self, channel: ChannelRef, message_id: str, name: str) -> str:
        """Start a thread on message `message_id` (a bot channel's); one started before
        (Discord's code 160004) is the thread to use: a message's thread has its id."""
        client = self.client
        if channel.platform != "discord" or client is None:
            raise DeliveryError(f"{channel}: threads need the Discord bot", retryable=False)
        try:
            thread = await self._call(
                client.http.start_thread_with_message(
                    int(channel.target), int(message_id), name=name, auto_archive_duration=1440
                )
            )
        except DeliveryError as exc:
            cause = exc.__cause__
            if isinstance(cause, discord.HTTPException) and cause.code == THREAD_EXISTS:
                return message_id
            raise
        return str(thread["id"])

    async def reply(
        self, channel: ChannelRef, message_id: str, thread_id: str, message: Message, nonce: str
    ) -> str:
        """Post `message` in thread `thread_id` (with `nonce` and `enforce_nonce`)."""
        part = single_part(channel, render(message))
        client = self.client
        if client is None:
            raise DeliveryError(f"{channel}: threads need the Discord bot", retryable=False)
        sent = await self._call(
            client.get_partial_messageable(int(thread_id)).send(
                content=part.content or None,
                embeds=_embeds(part),
                nonce=nonce,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        )
        return str(sent.id)

    def _bot_channel(self, channel: ChannelRef) -> discord.PartialMessageable:
        if self.client is None:
            raise DeliveryError(
                f"{channel}: no Discord bot token (WIREWATCH_DISCORD_TOKEN)", retryable=False
            )
        return self.client.get_partial_messageable(int(channel.target))

    def _webhook(self, channel: ChannelRef) -> discord.Webhook:
        url = self.settings.webhooks.get(channel.target) or webhook_url(channel)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            return discord.Webhook.from_url(url, session=self._session)
        except ValueError as exc:
            raise DeliveryError(
                f"{channel}: not a Discord webhook URL (https://discord.com/api/webhooks/…)",
                retryable=False,
            ) from exc

    async def _call(self, call: Awaitable[T]) -> T:
        """Await one discord.py call within the timeout; its errors as DeliveryError."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await call
        except discord.LoginFailure as exc:
            raise DeliveryError("Discord refused the bot token (401)", retryable=False) from exc
        except discord.RateLimited as exc:
            raise DeliveryError(
                "Discord rate limit (429)", retryable=True, retry_after=exc.retry_after
            ) from exc
        except discord.HTTPException as exc:
            raise _delivery_error(exc) from exc
        except TimeoutError as exc:
            raise DeliveryError(
                f"Discord did not answer within {self.settings.timeout:g} s", retryable=True
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"Discord unreachable: {exc!r}", retryable=True) from exc


def _embeds(part: DiscordMessage) -> list[discord.Embed]:
    return [discord.Embed.from_dict(embed) for embed in part.embeds]


def _allowed_mentions(part: DiscordMessage) -> discord.AllowedMentions:
    """Nothing, or only the part's role: never @everyone, @here or a user."""
    if part.role is None:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(part.role)], replied_user=False
    )


def _delivery_error(exc: discord.HTTPException) -> DeliveryError:
    """403 (no access), 404 (channel or webhook gone) and 401 (token revoked) are
    permanent; a 5xx, a 429 discord.py gave up on, or any other refusal is retried."""
    reason = f"Discord {exc.status}: {exc.text or exc.__class__.__name__}"
    if exc.code:
        reason += f" (code {exc.code})"
    return DeliveryError(reason, retryable=exc.status not in (401, 403, 404))
