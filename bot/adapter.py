"""The adapter protocol: what delivery asks of a chat platform (or the terminal).

`bot/` defines the protocol; implementations live in `adapters/` and only the
composition root (`bot/app.py`) imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.channels import ChannelRef
from bot.messages import Message

if TYPE_CHECKING:  # the command core imports the store; adapters only need its type
    from bot.commands import Commands


class DeliveryError(Exception):
    """A send that the platform refused or that did not complete.

    `retryable`: a timeout, a 5xx or a 429 (`retry_after` seconds if the platform said);
    otherwise permanent (channel gone, no permission, webhook deleted) and the
    subscriptions of that channel stop until someone fixes it.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Adapter(Protocol):
    """One platform (`console`, `discord` or `slack`); it serves every channel reference
    of that platform, webhooks included (`discord-webhook:<name>` goes to `discord`)."""

    platform: str
    min_interval: float  # seconds between two messages to one channel (pacing)

    async def start(self, commands: Commands) -> None:
        """Connect; serve `/news` through `commands` where the platform has slash commands."""

    async def send(self, channel: ChannelRef, message: Message, nonce: str) -> str:
        """Post `message`; return the platform's message id or raise DeliveryError.

        `nonce` is stable across retries of one delivery, for platforms that can use
        it to drop a duplicate (Discord's `enforce_nonce`).
        """

    async def check_connection(self) -> str | None:
        """None while the adapter can deliver and answer commands; else what is wrong
        (not started, disconnected and reconnecting), for `/readyz`."""

    async def close(self) -> None:
        """Disconnect; safe to call twice."""
