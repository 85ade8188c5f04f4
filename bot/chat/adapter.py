"""The adapter protocol: what delivery asks of a chat platform (or the terminal).

`bot/` defines the protocol; implementations live in `adapters/` and only the
composition root (`bot/service/app.py`) imports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from bot.chat.commands import CommandCore
from bot.chat.message import Message
from bot.core.channels import ChannelRef
from bot.core.errors import DeliveryError

if TYPE_CHECKING:  # only a type here: commands that deliver nothing never load aiohttp
    from aiohttp import web


# awaited with n once the platform accepted part n of a message (counted from 1) and
# another part follows
PartSent = Callable[[int], Awaitable[None]]


class Adapter(Protocol):
    """One platform (`console`, `discord` or `slack`); it serves every channel reference
    of that platform, webhooks included (`discord-webhook:<name>` goes to `discord`)."""

    platform: str
    min_interval: float  # seconds between two messages to one channel (pacing)

    async def start(self, commands: CommandCore, *, gateway: bool = True) -> None:
        """Connect for sending; with `gateway`, also open the connection the platform sends
        events on (`open_gateway`), to serve `/news` through `commands`."""

    async def open_gateway(self) -> None:
        """Open the event connection (Discord's gateway, Slack's Socket Mode) and register
        `/news`, if the platform has one and it is not open: the worker that serves
        commands calls it. Safe to call twice."""

    def routes(self) -> list[web.RouteDef]:
        """The routes this adapter serves on the bot's web server (Slack's HTTP mode);
        empty for most."""

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """Post `message`; return the platform's message id (the last part's) or raise
        DeliveryError.

        `nonce` is stable across retries of one delivery, for platforms that can use
        it to drop a duplicate (Discord's `enforce_nonce`). A message goes out in parts
        (several messages when it is long): posting starts after the first `skip`, which
        an earlier attempt had accepted, and `on_part` hears of each part accepted now
        that another follows, before that one is posted (`post_parts` does both).
        """

    async def check_connection(self) -> str | None:
        """None while the adapter can deliver and answer commands; else what is wrong
        (not started, disconnected and reconnecting), for `/readyz`."""

    async def close(self) -> None:
        """Disconnect; safe to call twice."""


class SendOnly:
    """The `Adapter` methods of a platform that only sends (the terminal, webhooks,
    apprise): nothing to connect at start, no event connection, no routes."""

    async def start(self, commands: CommandCore, *, gateway: bool = True) -> None:
        """Nothing to connect; each message is its own request."""

    async def open_gateway(self) -> None:
        """No event connection."""

    def routes(self) -> list[web.RouteDef]:
        """No routes."""
        return []


@runtime_checkable
class GrowingAdapter(Protocol):
    """What an adapter adds when its alerts can grow with their story (optional: the
    dispatcher asks `isinstance(adapter, GrowingAdapter)`). None of these ever posts a
    new message in the channel itself: an edit that cannot be made is an error.

    Which channels of the platform can take which follow-up is
    `bot.core.channels.FOLLOWUP_MODES`; `message_id` is what `send` returned."""

    async def edit(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        """Replace posted message `message_id` with `message` (which must fit in one
        message) or raise DeliveryError: not retryable when the message is gone
        (deleted: 404, `message_not_found`) or cannot be edited."""

    async def open_thread(self, channel: ChannelRef, message_id: str, name: str) -> str:
        """The id of the thread on posted message `message_id`, started now under `name`
        if it has none yet; raise DeliveryError."""

    async def reply(
        self, channel: ChannelRef, message_id: str, thread_id: str, message: Message, nonce: str
    ) -> str:
        """Post `message` in thread `thread_id` of message `message_id` (one part); return
        the reply's id or raise DeliveryError. `nonce` as for `send`."""


Part = TypeVar("Part")


async def post_parts(
    parts: Sequence[Part],
    skip: int,
    post: Callable[[int, Part], Awaitable[str]],
    on_part: PartSent | None,
) -> str:
    """Post `parts[skip:]` in order with `post(n, part)` (n counts every part from 1),
    awaiting `on_part(n)` after each that another follows; return what the last post
    returned ("" when none was left to post)."""
    last = ""
    for n, part in enumerate(parts[skip:], start=skip + 1):
        last = await post(n, part)
        if on_part is not None and n < len(parts):
            await on_part(n)
    return last


def single_part(channel: ChannelRef, parts: Sequence[Part]) -> Part:
    """The one part `parts` holds: a message that needs more than one cannot replace an
    alert in place (an edit), so that is an error that retrying does not mend."""
    if len(parts) != 1:
        raise DeliveryError(
            f"{channel}: the grown alert is too long for one message; left as it was",
            retryable=False,
        )
    return parts[0]
