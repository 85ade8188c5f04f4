"""The outbox worker: routes new matches, queues digests, and sends what is due.

One worker task per channel sends that channel's deliveries in order, paced by the
platform's `min_interval` (or the configured pacing) and by any Retry-After the
platform gave, so a burst never trips a rate limit and one slow channel holds up no
other. A delivery is marked sent only after the adapter returned the platform's
message id. Retryable errors come back with exponential backoff and jitter until
`retry_for` has passed since the first attempt; a permanent error stops every
subscription of that channel, with the reason in the log and in `wirewatch subscriptions`.

A follow-up (an alert's edit, or a reply in its thread: `bot.delivery.followups`) goes
through the same workers and retries, through the adapter's `GrowingAdapter` methods,
never `send`: one whose alert has no message id is given up, and a permanent error gives
up only that follow-up (a deleted alert says nothing about the channel).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.chat.adapter import Adapter, GrowingAdapter
from bot.chat.message import Message, build_alert, build_digest, message_from_json, message_to_json
from bot.core.channels import FOLLOWUP_MODES, ChannelRef, parse_channel
from bot.core.clock import Clock
from bot.core.errors import DeliveryError
from bot.core.metrics import Metrics
from bot.core.models import Delivery, DeliveryState, StoryMatch
from bot.core.safe_text import one_line
from bot.delivery.followups import FOLLOWUP
from bot.delivery.outbox import Outbox
from bot.delivery.queue import DELIVERY_LEASE
from bot.delivery.routing import DEFAULT_FOLLOWUP_INTERVAL, ROUTE_BATCH
from bot.matching.stories import StoryIndex
from bot.storage.leases import Leases

log = logging.getLogger(__name__)
DUE_BATCH = 1000  # deliveries one dispatch hands out at most
STORY_WINDOW = timedelta(hours=48)  # a story takes new outlets' items for this long
# the router and a channel's sender that died are replaced after this (or the shorter
# delivery.claim_for); a held lease is renewed once a third of it has passed
HANDOVER = timedelta(seconds=30)
_ASK_AGAIN = timedelta(seconds=5)  # how soon a channel another worker holds is asked for again
STOP_GRACE = 10.0  # seconds in-flight sends get to finish on stop


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between attempts of one delivery, and how long to keep trying."""

    first_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=30)
    retry_for: timedelta = timedelta(hours=48)

    def next_attempt(self, attempts: int, retry_after: float | None, now: datetime) -> datetime:
        """When to try again after `attempts` failed attempts: the platform's Retry-After
        if it gave one, else exponential backoff with full jitter in its upper half."""
        if retry_after is not None:
            return now + timedelta(seconds=max(0.0, retry_after))
        ceiling = min(
            self.max_backoff.total_seconds(),
            self.first_backoff.total_seconds() * 2 ** min(attempts - 1, 30),
        )
        return now + timedelta(seconds=ceiling * random.uniform(0.5, 1.0))


@dataclass(frozen=True, slots=True)
class Worker:
    """This dispatcher among the workers of one database: its name, and whether others
    may share the database (PostgreSQL), so that routing, each channel's sending and the
    recovery of a dead worker's sends are coordinated through leases."""

    owner: str = "local"
    shared: bool = False
    claim_for: timedelta = DELIVERY_LEASE  # a send's claim; a dead worker's is made again

    @property
    def handover(self) -> timedelta:
        """How long the router and a channel's sender hold their lease without renewing."""
        return min(HANDOVER, self.claim_for)


@dataclass(slots=True)
class _Channel:
    """A channel's worker state: its queue and the earliest time of its next message."""

    ref: ChannelRef
    adapter: Adapter
    queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    next_slot: datetime | None = None  # by the dispatcher's clock
    task: asyncio.Task[None] | None = None
    busy: bool = False  # between taking a delivery and finishing its attempt


class Dispatcher:
    """Routes, queues digests and delivers. `start()` once, then `tick()` as often as
    wanted (each is cheap when there is nothing to do, and bounded when there is a
    lot); `drain()` waits for what was handed to the channel workers; `stop()` lets
    in-flight sends finish."""

    def __init__(
        self,
        outbox: Outbox,
        adapters: Mapping[str, Adapter],
        titles: Mapping[str, str],
        *,
        clock: Clock,
        policy: RetryPolicy | None = None,
        pacing: Mapping[str, float] | None = None,
        digest_size: int = 10,
        metrics: Metrics | None = None,
        route_batch: int = ROUTE_BATCH,
        due_batch: int = DUE_BATCH,
        worker: Worker | None = None,
        followup_interval: timedelta = DEFAULT_FOLLOWUP_INTERVAL,
    ) -> None:
        self.outbox = outbox
        self.worker = worker or Worker()
        self.leases = Leases(outbox.queue.engine)
        self.metrics = metrics or Metrics()
        self.adapters = adapters
        self.titles = dict(titles)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.pacing = dict(pacing or {})
        self.digest_size = digest_size
        self.route_batch = route_batch
        self.due_batch = due_batch
        self.followup_interval = followup_interval
        self.stories = StoryIndex(STORY_WINDOW)
        # read the index again before routing: at the start, once this worker became the
        # router (another may have routed meanwhile), or a routing transaction failed
        self._stories_stale = True
        self._routing = False  # this worker held the router lease at its last tick
        self._held: dict[str, datetime] = {}  # channel leases held, until when
        self._refused: dict[str, datetime] = {}  # channel leases refused, until asked again
        self._next_sweep: datetime | None = None
        self._channels: dict[str, _Channel] = {}
        self._unserved: set[str] = set()  # channels with no adapter, said once each
        self._handed: set[int] = set()  # delivery ids queued to a worker and not finished
        self._stopping = False

    async def start(self) -> None:
        """Recover deliveries a crash left in flight (a lone worker: all of them; among
        several: those whose worker's claim ran out)."""
        now = self.clock()
        recovered = await self.outbox.queue.recover(now if self.worker.shared else None)
        if recovered:
            log.warning(
                "%d deliveries were in flight when the bot last stopped; sending them again",
                recovered,
            )
        self._next_sweep = now + self.worker.handover / 2

    async def tick(self, *, route_all: bool = False) -> int:
        """Route new matches, queue due digests, hand due deliveries to their channels.
        Returns the number of deliveries handed over.

        A tick routes `route_batch` matches at most (all with `route_all`); the rest
        wait for the next tick, so a backlog holds up neither the scheduler's tick nor
        the deliveries already queued. Among workers sharing a database, one routes and
        queues digests at a time (the router lease), so each story is grouped once.
        """
        now = self.clock()
        if self.worker.shared and self._next_sweep is not None and now >= self._next_sweep:
            self._next_sweep = now + self.worker.handover / 2
            if recovered := await self.outbox.queue.recover(now):
                log.warning("%d deliveries of a worker that stopped are sent again", recovered)
        if await self._route_here(now):
            await self._route(now, route_all)
            await self.outbox.digests.queue_due(now)
        return await self.dispatch()

    async def _route_here(self, now: datetime) -> bool:
        """Whether this worker routes now: alone, always; among several, while it holds
        (or took) the router lease."""
        if not self.worker.shared:
            return True  # no write to the database every tick for a lease nobody else wants
        routing = await self.leases.hold("router", self.worker.owner, now, self.worker.handover)
        if routing and not self._routing:
            self._stories_stale = True  # another worker may have routed until now
        self._routing = routing
        return routing

    async def _route(self, now: datetime, route_all: bool) -> None:
        if self._stories_stale:
            self.stories = StoryIndex(STORY_WINDOW)
            await self.outbox.router.load_story_index(self.stories, now - STORY_WINDOW)
            self._stories_stale = False
        self.stories.prune(now)
        limit = None if route_all else self.route_batch
        try:
            routed = await self.outbox.router.route(
                self.stories,
                self._alert,
                now,
                limit=limit,
                followup_interval=self.followup_interval,
            )
        except BaseException:
            # the index may hold stories of a transaction that rolled back: its ids were
            # never stored (or will be another story's), so read it again from the store
            self._stories_stale = True
            raise
        if routed.matches:
            log.debug(
                "%d matches routed, %d alerts queued%s",
                routed.matches,
                routed.alerts,
                "; more wait for the next tick" if routed.more else "",
            )

    async def dispatch(self) -> int:
        """Hand every due delivery not already handed to its channel's worker."""
        if self._stopping:
            return 0
        handed = 0
        now = self.clock()
        for delivery in await self.outbox.queue.due(now, self.due_batch):
            if delivery.id in self._handed:
                continue
            channel = self._channel(delivery.channel)
            if channel is None or not await self._sends_to(delivery.channel, now):
                continue
            self._handed.add(delivery.id)
            channel.queue.put_nowait(delivery)
            handed += 1
        return handed

    async def flush(self) -> None:
        """Route every new match, then send every delivery due now, until none is left
        due (for `run --once` and the demo, which exit afterwards)."""
        while await self.tick(route_all=True):
            await self.drain()

    async def drain(self) -> None:
        """Wait until every handed delivery has been attempted."""
        for channel in list(self._channels.values()):
            await channel.queue.join()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop taking deliveries; in-flight sends get `grace` seconds, then are cancelled
        (a cancelled send stays `sending` and goes back to pending at the next start)."""
        self._stopping = True
        for channel in self._channels.values():
            _clear(channel.queue)
        tasks = []
        for channel in self._channels.values():
            if channel.task is None:
                continue
            tasks.append(channel.task)
            if not channel.busy:
                channel.task.cancel()
        busy = [t for t in tasks if not t.done()]
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sends_to(self, reference: str, now: datetime) -> bool:
        """Whether this worker sends to the channel now: always when alone; among
        several, while it holds the channel's lease, so that one worker at a time sends
        there and the channel's pacing holds across workers."""
        if not self.worker.shared:
            return True
        held_until = self._held.get(reference)
        lease = self.worker.handover
        if held_until is not None and held_until - now > lease * 2 / 3:
            return True  # held, and not yet due for renewal
        refused_until = self._refused.get(reference)
        if refused_until is not None and now < refused_until:
            return False  # another worker sends there; asked again in a few seconds
        held = await self.leases.hold(f"channel:{reference}", self.worker.owner, now, lease)
        if held:
            self._held[reference] = now + lease
            self._refused.pop(reference, None)
        else:
            self._held.pop(reference, None)
            self._refused[reference] = now + _ASK_AGAIN
        return held

    def _channel(self, reference: str) -> _Channel | None:
        channel = self._channels.get(reference)
        if channel is not None:
            return channel
        ref = parse_channel(reference)
        adapter = self.adapters.get(ref.adapter)
        if adapter is None:
            if reference not in self._unserved:
                self._unserved.add(reference)
                log.error("no %s adapter is configured; %s gets nothing", ref.adapter, reference)
            return None
        channel = self._channels[reference] = _Channel(ref, adapter)
        channel.task = asyncio.create_task(self._work(channel), name=f"deliver {reference}")
        return channel

    async def _work(self, channel: _Channel) -> None:
        interval = self.pacing.get(channel.ref.adapter, channel.adapter.min_interval)
        while not self._stopping:
            delivery = await channel.queue.get()
            channel.busy = True
            try:
                if channel.next_slot is not None:
                    wait = (channel.next_slot - self.clock()).total_seconds()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if self._stopping:
                    continue
                outcome = await self._deliver(channel, delivery)
                pause = timedelta(seconds=max(interval, outcome))
                channel.next_slot = self.clock() + pause
                if outcome < 0:  # permanent: the channel's other deliveries wait for a fix
                    self._forget_queue(channel)
            except Exception:  # a bug costs one delivery's attempt, never the worker
                log.exception("internal error delivering %d to %s", delivery.id, delivery.channel)
            finally:
                channel.busy = False
                self._handed.discard(delivery.id)
                channel.queue.task_done()

    def _forget_queue(self, channel: _Channel) -> None:
        for dropped in _clear(channel.queue):
            self._handed.discard(dropped.id)

    async def _deliver(self, channel: _Channel, queued: Delivery) -> float:
        """Attempt one delivery. Returns the seconds the channel must now wait (a
        Retry-After), 0 normally, or -1 after a permanent error."""
        now = self.clock()
        # as it is now, not as queued; None if another worker took it meanwhile
        delivery = await self.outbox.queue.claim(
            queued.id, now, self.worker.owner, self.worker.claim_for
        )
        if delivery is None:
            return 0.0
        if delivery.kind == FOLLOWUP:
            return await self._follow_up(channel, delivery)
        window_end = delivery.window_end
        kept: tuple[dict[str, Any], int] | None = None  # a digest to keep once part of it is out
        if delivery.kind == "digest" and delivery.payload is None:  # nothing of it posted yet
            message, window_end = await self._digest(delivery)
            if message is None:
                await self.outbox.queue.mark_sent(delivery, None, now, window_end)
                return 0.0
            kept = (message_to_json(message), window_end)
        else:
            assert delivery.payload is not None
            message = message_from_json(delivery.payload)
        parts_sent = delivery.parts_sent

        async def part_sent(n: int) -> None:
            nonlocal kept, parts_sent
            await self.outbox.queue.record_parts(delivery.id, n, kept)
            kept, parts_sent = None, n

        try:
            message_id = await channel.adapter.send(
                channel.ref,
                message,
                _nonce(delivery.id, window_end),
                delivery.parts_sent,
                part_sent,
            )
        except DeliveryError as exc:
            return await self._failed(delivery, exc, parts_sent > 0)
        except Exception as exc:  # an adapter bug or an unexpected error: retry, loudly
            log.exception("%s: unexpected error sending delivery %d", delivery.channel, delivery.id)
            error = DeliveryError(f"unexpected error: {exc}", retryable=True)
            return await self._failed(delivery, error, parts_sent > 0)
        sent_at = self.clock()
        await self.outbox.queue.mark_sent(delivery, message_id, sent_at, window_end)
        self.metrics.observe_delivery(delivery, "sent", sent_at)
        return 0.0

    async def _follow_up(self, channel: _Channel, delivery: Delivery) -> float:
        """Attempt one follow-up: edit the alert, or reply in its thread; never post it
        again. Returns as `_deliver` does."""
        now = self.clock()
        growth = await self.outbox.followups.growth(delivery)
        if growth is not None and growth.alert.state in (
            DeliveryState.PENDING,
            DeliveryState.SENDING,
        ):
            at = max(now, growth.alert.next_attempt_at) + self.followup_interval
            await self.outbox.queue.mark_retry(delivery.id, "waiting for its alert to be sent", at)
            return 0.0
        adapter = channel.adapter
        mode = growth.mode if growth is not None else "edit"
        problem = (
            "its alert is no longer stored"
            if growth is None
            else "its alert was not sent"
            if growth.alert.state is not DeliveryState.SENT or not growth.alert.message_id
            else f"{channel.ref.platform} channels cannot take follow-ups by {mode}"
            if mode not in FOLLOWUP_MODES.get(channel.ref.platform, ())
            or not isinstance(adapter, GrowingAdapter)
            else None
        )
        if problem is not None:
            await self.outbox.queue.mark_failed(delivery.id, f"{problem}; nothing posted again")
            self.metrics.observe_delivery(delivery, "failed", now)
            return 0.0
        assert growth is not None and isinstance(adapter, GrowingAdapter)
        alert, message_id = growth.alert, growth.alert.message_id or ""
        if growth.message is None:  # nothing new since the last change: nothing to do
            await self.outbox.queue.mark_sent(delivery, None, now)
            return 0.0
        try:
            if mode == "thread":
                thread = alert.thread_id
                if thread is None:
                    thread = await adapter.open_thread(channel.ref, message_id, _thread_name(alert))
                    await self.outbox.followups.record_thread(alert.id, thread)
                sent_id = await adapter.reply(
                    channel.ref, message_id, thread, growth.message, _nonce(delivery.id, None)
                )
            else:
                await adapter.edit(channel.ref, message_id, growth.message)
                sent_id = message_id
        except DeliveryError as exc:
            return await self._failed(delivery, exc, False)
        except Exception as exc:  # an adapter bug or an unexpected error: retry, loudly
            log.exception("%s: unexpected error in follow-up %d", delivery.channel, delivery.id)
            error = DeliveryError(f"unexpected error: {exc}", retryable=True)
            return await self._failed(delivery, error, False)
        sent_at = self.clock()
        await self.outbox.followups.record_outlets(delivery, growth.outlets)
        await self.outbox.queue.mark_sent(delivery, sent_id, sent_at)
        self.metrics.observe_delivery(delivery, "sent", sent_at)
        return 0.0

    async def _failed(self, delivery: Delivery, error: DeliveryError, partly_posted: bool) -> float:
        """Give up, or come back later. A message partly posted is never given up: the
        rest of it waits for the channel (its stories are in no other digest). A
        follow-up refused for good is given up alone: its channel keeps delivering."""
        now = self.clock()
        assert delivery.first_attempt_at is not None, "a claimed delivery has been attempted"
        expired = now - delivery.first_attempt_at >= self.policy.retry_for and not partly_posted
        gives_up = expired or (not error.retryable and not partly_posted)
        self.metrics.observe_delivery(delivery, "failed" if gives_up else "retry", now)
        if not error.retryable and delivery.kind == FOLLOWUP:
            await self.outbox.queue.mark_failed(
                delivery.id, f"{error.reason} (permanent; the alert is left as it is)"
            )
            log.warning(
                "%s: follow-up %d given up: %s", delivery.channel, delivery.id, error.reason
            )
            return 0.0
        if not error.retryable:
            reason = f"{error.reason} (permanent)"
            if partly_posted:  # waits, pending, until the channel is enabled again
                at = self.policy.next_attempt(delivery.attempts, None, now)
                await self.outbox.queue.mark_retry(delivery.id, reason, at)
            else:
                await self.outbox.queue.mark_failed(delivery.id, reason)
            await self.outbox.subscriptions.disable_channel(delivery.channel, error.reason)
            log.error(
                "%s: delivery stopped for this channel: %s; fix it, then restart the bot "
                "or subscribe again",
                delivery.channel,
                error.reason,
            )
            return -1.0
        if expired:
            await self.outbox.queue.mark_failed(
                delivery.id, f"gave up after {self.policy.retry_for}: {error.reason}"
            )
            log.error("%s: gave up on delivery %d: %s", delivery.channel, delivery.id, error.reason)
            return 0.0
        at = self.policy.next_attempt(delivery.attempts, error.retry_after, now)
        await self.outbox.queue.mark_retry(delivery.id, error.reason, at)
        log.warning(
            "%s: delivery %d failed (attempt %d): %s; next try at %s",
            delivery.channel,
            delivery.id,
            delivery.attempts,
            error.reason,
            at.isoformat(timespec="seconds"),
        )
        return error.retry_after or 0.0

    async def _digest(self, delivery: Delivery) -> tuple[Message | None, int]:
        content = await self.outbox.digests.content(delivery.subscription_id)
        sub = content.subscription
        titles = {w: self.titles.get(w, w) for w in sub.watchlists}
        heading = "Digest: " + ", ".join(titles[w] for w in sub.watchlists)
        message = build_digest(
            content.stories,
            titles,
            heading=heading,
            now=self.clock(),
            per_section=self.digest_size,
            nothing_new=sub.nothing_new,
            timezone=sub.timezone,
        )
        return message, content.window_end

    def _alert(self, story: StoryMatch) -> Message:
        return build_alert(story, self.titles)


def _nonce(delivery_id: int, window_end: int | None) -> str:
    """The nonce of every attempt at one delivery: for a digest, of one content (its
    window's end in hex), since a digest rebuilt with more stories must not be taken for
    the earlier one (Discord would answer with the old message and post nothing). With
    the adapter's part suffix it stays within Discord's 25 characters for ids below 10^9
    and windows below 16^8."""
    return f"ww{delivery_id}" if window_end is None else f"ww{delivery_id}-{window_end:x}"


def _thread_name(alert: Delivery) -> str:
    """A thread's name: the alert's headline on one line, within Discord's 100 characters."""
    title = str((alert.payload or {}).get("title") or "wirewatch")
    title = one_line(title) or "wirewatch"
    return title if len(title) <= 100 else title[:99].rstrip() + "…"


def _clear(queue: asyncio.Queue[Delivery]) -> list[Delivery]:
    """Empty a queue (marking each item done); returns what was in it."""
    dropped = []
    while not queue.empty():
        dropped.append(queue.get_nowait())
        queue.task_done()
    return dropped
