"""What one `wirewatch run` does among workers sharing a PostgreSQL database, and the
lease that lets one worker at a time hold the chat platforms' event connections."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum

from bot.chat.adapter import Adapter
from bot.core.clock import Clock
from bot.storage.leases import Leases

log = logging.getLogger(__name__)


class Role(StrEnum):
    """A worker's part: `all` of it, or only polling feeds, only delivering (routing,
    digests, sending), or only the gateway (answering `/news`)."""

    ALL = "all"
    POLLER = "poller"
    DELIVERER = "deliverer"
    GATEWAY = "gateway"

    @property
    def polls(self) -> bool:
        """Whether this worker polls feeds."""
        return self in (Role.ALL, Role.POLLER)

    @property
    def delivers(self) -> bool:
        """Whether this worker routes, queues digests and sends."""
        return self in (Role.ALL, Role.DELIVERER)

    @property
    def serves(self) -> bool:
        """Whether this worker may hold the platforms' event connections (`/news`)."""
        return self in (Role.ALL, Role.GATEWAY)


class GatewayLease:
    """The worker holding the `gateway` lease opens every adapter's event connection
    (Discord's gateway, Slack's Socket Mode), so that among several workers one answers
    `/news`; when it stops or dies, another takes the lease over within `length`."""

    def __init__(
        self,
        leases: Leases,
        owner: str,
        adapters: Mapping[str, Adapter],
        length: timedelta,
        clock: Clock,
    ) -> None:
        self.leases = leases
        self.owner = owner
        self.adapters = adapters
        self.length = length
        self.clock = clock
        self.open = False

    async def keep(self) -> bool:
        """Take or renew the lease, opening the connections the first time; whether this
        worker holds it now."""
        held = await self.leases.hold("gateway", self.owner, self.clock(), self.length)
        if held and not self.open:
            for adapter in self.adapters.values():
                await adapter.open_gateway()
            self.open = True
            log.info("this worker holds the gateway lease: it answers /news")
        elif not held and self.open:
            log.warning(
                "another worker took the gateway lease (this one could not renew it in "
                "time); both answer /news until this one stops"
            )
        return held
