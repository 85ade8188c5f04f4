"""A recording adapter that fails on cue, and a clock that tests move by hand."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.chat.adapter import PartSent, SendOnly
from bot.chat.commands import ArgValue, Caller, CommandSpec, Reply
from bot.chat.message import Message
from bot.core.channels import ChannelRef
from bot.core.errors import DeliveryError


@dataclass
class Sent:
    """One message the adapter accepted."""

    channel: str
    message: Message
    nonce: str
    at: float  # event-loop time
    skip: int = 0  # the parts an earlier attempt had accepted


@dataclass
class RecordingAdapter(SendOnly):
    """Implements bot.chat.adapter.Adapter; `fail(channel, error, times)` queues failures.
    Every message is sent whole: `fail(..., accepted=k)` pretends that k more parts of
    it went through before the failure."""

    platform: str = "discord"
    min_interval: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    attempts: int = 0
    nonces: list[str] = field(default_factory=list)  # of every attempt, failed or not
    delay: float = 0.0
    down: str | None = None  # what check_connection reports
    _failures: dict[str, deque[tuple[DeliveryError, int]]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    def fail(self, channel: str, error: DeliveryError, times: int = 1, accepted: int = 0) -> None:
        """The next `times` sends to `channel` report `accepted` parts, then raise `error`."""
        self._failures[channel].extend([(error, accepted)] * times)

    def clear_failures(self) -> None:
        """Forget the failures still queued: the platform works again."""
        self._failures.clear()

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """Record the message, or raise the next queued failure for this channel."""
        self.attempts += 1
        self.nonces.append(nonce)
        if self.delay:
            await asyncio.sleep(self.delay)
        queued = self._failures.get(str(channel))
        if queued:
            error, accepted = queued.popleft()
            for n in range(skip + 1, skip + accepted + 1):
                if on_part is not None:
                    await on_part(n)
            raise error
        loop = asyncio.get_running_loop()
        self.sent.append(Sent(str(channel), message, nonce, loop.time(), skip))
        return f"m{len(self.sent)}"

    async def check_connection(self) -> str | None:
        """`down`: the reason set by the test, else connected."""
        return self.down

    async def close(self) -> None:
        """Nothing to release."""

    def titles(self, channel: str | None = None) -> list[str]:
        """Titles of the messages sent (to one channel, if given), in order."""
        return [s.message.title for s in self.sent if channel is None or s.channel == channel]


@dataclass
class ManualClock:
    """A clock that only moves when told; call it for the time."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.now += delta


class NoCommands:
    """A command core with no subcommands, for adapters started without a bot behind them
    (implements bot.chat.commands.CommandCore)."""

    table: tuple[CommandSpec, ...] = ()

    async def answer(self, name: str, caller: Caller, values: Mapping[str, ArgValue]) -> Reply:
        raise AssertionError(f"no command expected, got {name}")

    async def answer_text(self, caller: Caller, text: str) -> Reply:
        raise AssertionError(f"no command expected, got {text!r}")

    def watchlist_choices(self, current: str) -> list[str]:
        return []
