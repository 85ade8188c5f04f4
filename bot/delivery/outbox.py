"""The outbox is one frozen bundle of its parts on one engine: subscriptions, routing,
digests, the delivery queue and follow-ups.

Callers reach each part through it (`outbox.subscriptions.subscribe(...)`,
`outbox.router.route(...)`, `outbox.digests.content(...)`, `outbox.queue.claim(...)`,
`outbox.followups.growth(...)`); the bundle itself holds no SQL and no methods of its
own beyond building the parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery.digests import Digests
from bot.delivery.followups import Followups
from bot.delivery.queue import DeliveryQueue
from bot.delivery.routing import Router
from bot.delivery.subscriptions import Subscriptions


@dataclass(frozen=True, slots=True)
class Outbox:
    """Subscriptions, story routing and deliveries on the store's engine."""

    subscriptions: Subscriptions
    router: Router
    digests: Digests
    queue: DeliveryQueue
    followups: Followups

    @classmethod
    def on(cls, engine: AsyncEngine) -> Outbox:
        """The parts, each on `engine`."""
        return cls(
            Subscriptions(engine),
            Router(engine),
            Digests(engine),
            DeliveryQueue(engine),
            Followups(engine),
        )
