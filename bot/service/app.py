"""The composition root: settings, watchlists, store, fetcher, matcher, parser process and
pipeline wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field

from bot.chat.adapter import Adapter
from bot.core.clock import Clock, utcnow
from bot.core.collector import settle_after_startup
from bot.core.config import Settings
from bot.core.environment import DiscordSettings, SlackSettings, feed_token, webhook_variables
from bot.core.errors import ConfigError
from bot.core.metrics import Metrics
from bot.delivery.dispatcher import STORY_WINDOW, Dispatcher, RetryPolicy, Worker
from bot.delivery.outbox import Outbox
from bot.feeds.feed_admin import FeedAdmin
from bot.feeds.feedlist import declared_feeds
from bot.feeds.fetch import Fetcher, FetchLimits
from bot.feeds.parser_process import ParseWorker, ThreadParser
from bot.feeds.polling import PollPolicy
from bot.matching.matcher import Matcher
from bot.matching.watchlists import (
    Watchlist,
)
from bot.service.commands import Commands
from bot.service.health import Heartbeat, Readiness, check_readiness
from bot.service.pipeline import FeedClaims, Pipeline
from bot.service.preflight import check_subscriptions, configured_platforms
from bot.service.roles import GatewayLease, Role
from bot.service.watchlist_feeds import feed_routes
from bot.service.web import WebServer, status_routes
from bot.storage.leases import Leases, new_owner
from bot.storage.retention import KINDS, Pruned, Pruner, RetentionPolicy
from bot.storage.run_lock import RunLock
from bot.storage.store import Store

log = logging.getLogger(__name__)
SCHEDULER_MAX_AGE = 120.0  # seconds without a scheduler tick before /readyz fails
RUNNING_PAUSE = 0.05  # seconds a running bot's pruning waits between two batches


def retention_policy(settings: Settings) -> RetentionPolicy | None:
    """The `retention` settings as the pruner takes them; None when retention is off."""
    kept = settings.retention
    if not kept.enabled:
        return None
    return RetentionPolicy(
        items=kept.items,
        matches=kept.matches,
        deliveries=kept.deliveries,
        seen_keys=kept.seen_keys,
        story_window=STORY_WINDOW,
    )


def fetch_limits(settings: Settings) -> FetchLimits:
    """The fetcher's limits from the poll settings."""
    poll = settings.poll
    defaults = FetchLimits()
    return FetchLimits(
        concurrency=poll.concurrency,
        per_host=poll.per_host,
        connect_timeout=poll.connect_timeout.total_seconds(),
        read_timeout=poll.read_timeout.total_seconds(),
        total_timeout=poll.total_timeout.total_seconds(),
        max_bytes=poll.max_bytes,
        max_redirects=poll.max_redirects,
        user_agent=poll.user_agent or defaults.user_agent,
        allow_private=tuple(poll.allow_private),
    )


async def _give_up_claims(store: Store, owner: str) -> None:
    """End `owner`'s feed claims and leases, so that other workers take them over at once;
    best effort: a worker that cannot is replaced once they run out."""
    try:
        await store.release_feeds(owner)
        await Leases(store.engine).release(owner)
    except Exception as exc:  # the database went away: the claims run out by themselves
        log.warning("could not give up this worker's claims on stopping: %s", exc)


def feed_claims(settings: Settings, worker: Worker) -> FeedClaims:
    """How this worker claims feeds: among several, two rounds of fetches at a time, each
    held for `poll.claim_for`; alone, every due feed at once."""
    poll = settings.poll
    batch = 2 * poll.concurrency if worker.shared else None
    return FeedClaims(worker.owner, poll.claim_for, batch)


def console_only() -> dict[str, Adapter]:
    """The terminal alone: for a run that must reach no chat platform (the demo), whatever
    tokens the environment holds."""
    from adapters.console import ConsoleAdapter

    return {"console": ConsoleAdapter()}


def available_adapters() -> dict[str, Adapter]:
    """One adapter per configured platform (each platform's library is loaded only here,
    and only when it is configured: apprise and signed webhooks when a variable of
    theirs is set)."""
    from adapters.console import ConsoleAdapter

    adapters: dict[str, Adapter] = {"console": ConsoleAdapter()}
    discord = DiscordSettings.from_env()
    if discord.configured():
        from adapters.discord import DiscordAdapter

        adapters["discord"] = DiscordAdapter(discord)
    slack = SlackSettings.from_env()
    if slack.configured():
        from adapters.slack import SlackAdapter

        adapters["slack"] = SlackAdapter(slack)
    if webhook_variables("apprise"):
        from adapters.apprise import AppriseAdapter

        adapters["apprise"] = AppriseAdapter()
    if webhook_variables("webhook"):
        from adapters.webhook import WebhookAdapter

        adapters["webhook"] = WebhookAdapter()
    return adapters


def web_server(settings: Settings, adapters: Mapping[str, Adapter]) -> WebServer | None:
    """The web server (not yet started) when `web.port` is set, with the adapters'
    routes; an adapter that serves routes without a port configured is a configuration
    error."""
    routes = [route for adapter in adapters.values() for route in adapter.routes()]
    if settings.web.port is None:
        if routes:
            raise ConfigError(
                ["web.port: Slack HTTP mode serves /slack/events on the web server; set "
                 "web.port (or WIREWATCH_WEB_PORT), or use Socket Mode"]
            )  # fmt: skip
        return None
    return WebServer(settings.web.host, settings.web.port, routes)


@dataclass(frozen=True, slots=True)
class App:
    """Everything a running bot holds."""

    settings: Settings
    watchlists: tuple[Watchlist, ...]
    store: Store
    outbox: Outbox
    pipeline: Pipeline
    dispatcher: Dispatcher
    commands: Commands
    feeds: FeedAdmin
    adapters: Mapping[str, Adapter]
    metrics: Metrics
    heartbeat: Heartbeat
    web: WebServer | None = None
    parser: ParseWorker | None = None  # None: feeds are parsed in threads of this process
    pruner: Pruner | None = None  # None: retention is off
    role: Role = Role.ALL
    gateway: GatewayLease | None = None  # workers sharing a database: who answers /news
    worker: Worker = field(default_factory=Worker)

    @property
    def console_subscribed(self) -> bool:
        """Whether a subscription delivers to the terminal (then it shows the matches)."""
        return any(s.channel == "console" for s in self.settings.subscriptions)

    async def tick(self) -> int:
        """The scheduler's delivery tick: a heartbeat, then (a worker that delivers)
        `Dispatcher.tick`."""
        self.heartbeat.beat()
        return await self.dispatcher.tick() if self.role.delivers else 0

    async def prune(self) -> Pruned:
        """The scheduler's retention job: prune what the policy lets go, now."""
        assert self.pruner is not None, "scheduled only with retention on"
        now = self.pipeline.clock()
        every = self.settings.retention.every
        if self.worker.shared and not await Leases(self.store.engine).hold(
            "retention", self.worker.owner, now, every
        ):
            return Pruned()  # another worker pruned within `retention.every`
        done = await self.pruner.prune(now)
        if done.rows or done.pages:
            log.info(
                "retention: %s deleted (%s), %d free pages returned",
                f"{done.rows:,} rows",
                ", ".join(f"{k.replace('_', ' ')} {getattr(done, k):,}" for k in KINDS),
                done.pages,
            )
        return done

    async def readiness(self) -> Readiness:
        """The `/readyz` checks: scheduler, store, each adapter."""
        return await check_readiness(
            self.store.engine, self.adapters, self.heartbeat, SCHEDULER_MAX_AGE
        )

    async def render_metrics(self) -> bytes:
        """The `/metrics` text, outbox gauges read now."""
        return self.metrics.render(await self.outbox.queue.counts())


@asynccontextmanager
async def open_app(
    settings: Settings,
    watchlists: list[Watchlist],
    adapters: Mapping[str, Adapter] | None = None,
    clock: Clock = utcnow,
    *,
    deliver: bool = False,
    role: Role = Role.ALL,
) -> AsyncIterator[App]:
    """Open the store (migrating it), declare feeds and subscriptions, and start one HTTP
    session. With `deliver` (a running bot), also start the adapters and the dispatcher
    (which recovers deliveries a crash left in flight) and the parser process, and settle
    the garbage collector (`settle_after_startup`); on exit, in-flight deliveries get to
    finish and everything is closed. Without it (commands that only read or poll),
    nothing is sent, the outbox is left as it is, and the parser process starts only if
    a feed is parsed. A running bot on SQLite holds the file's run lock
    (`RunLock`): a second one is refused."""
    running = RunLock(settings.resolved_database_url()) if deliver else nullcontext()
    with running:
        async with _open(settings, watchlists, adapters, clock, deliver=deliver, role=role) as app:
            yield app


@asynccontextmanager
async def _open(
    settings: Settings,
    watchlists: list[Watchlist],
    adapters: Mapping[str, Adapter] | None = None,
    clock: Clock = utcnow,
    *,
    deliver: bool = False,
    role: Role = Role.ALL,
) -> AsyncIterator[App]:
    """The app `open_app` describes, without the run lock."""
    chats = deliver and (role.delivers or role.serves)  # a poller starts no adapter
    adapters = (available_adapters() if adapters is None else adapters) if chats else {}
    check_subscriptions(settings, watchlists, configured_platforms() | set(adapters))
    store = await Store.open(settings.resolved_database_url())
    outbox = Outbox.on(store.engine)
    dispatcher: Dispatcher | None = None
    worker: Worker | None = None
    server: WebServer | None = None
    metrics = Metrics()
    parser: ParseWorker | None = None
    fetching = AsyncExitStack()
    try:
        matcher = Matcher(watchlists)
        max_items = settings.poll.max_items
        parser = (
            ParseWorker(watchlists, matcher, max_items=max_items)
            if settings.poll.parse_worker
            else None
        )
        parse = parser.parse if parser is not None else ThreadParser(matcher, max_items).parse
        # open before the adapters start, closed after they stop: `/news feeds add` fetches
        fetcher = await fetching.enter_async_context(Fetcher(fetch_limits(settings)))
        feed_admin = FeedAdmin(store, fetcher, parse, clock)
        await store.sync_feeds(declared_feeds(settings, watchlists), clock())
        now = clock()
        retried = await outbox.subscriptions.sync(settings.subscriptions, now, restart=deliver)
        if retried:  # a restart is the operator's word that a stopped channel may work now
            requeued = await outbox.queue.requeue_failed(
                now, channels=retried, within=settings.delivery.retry_for
            )
            log.info(
                "trying stopped channels again (%s): %d failed deliveries queued again",
                ", ".join(retried),
                len(requeued),
            )
        policy = PollPolicy(
            interval=settings.poll.interval,
            max_backoff=settings.poll.max_backoff,
            dead_after=settings.poll.dead_after,
        )
        delivery = settings.delivery
        worker = Worker(
            new_owner(),
            shared=store.engine.url.get_backend_name() != "sqlite",
            claim_for=delivery.claim_for,
        )
        dispatcher = Dispatcher(
            outbox,
            adapters,
            {w.id: w.title for w in watchlists},
            clock=clock,
            policy=RetryPolicy(max_backoff=delivery.max_backoff, retry_for=delivery.retry_for),
            pacing={k: v.total_seconds() for k, v in delivery.pacing.items()},
            digest_size=delivery.digest_size,
            metrics=metrics,
            worker=worker,
            followup_interval=delivery.followups_min_interval,
        )
        commands = Commands(
            store, outbox, matcher, watchlists, clock, feed_admin,
            retry_for=settings.delivery.retry_for, stale_after=settings.poll.stale_after,
        )  # fmt: skip
        gateway: GatewayLease | None = None
        if deliver:
            # alone, this worker answers /news; among several, the gateway lease's holder
            for adapter in adapters.values():
                await adapter.start(commands, gateway=role.serves and not worker.shared)
            if role.serves and worker.shared:
                leases = Leases(store.engine)
                gateway = GatewayLease(leases, worker.owner, adapters, worker.handover, clock)
                await gateway.keep()  # the first worker up answers /news from the start
            if role.delivers:
                await dispatcher.start()
            server = web_server(settings, adapters)
            if parser is not None:
                await parser.start()
        pipeline = Pipeline(
            store, fetcher, parse, policy, settings.poll.max_item_age, clock, metrics,
            feed_claims(settings, worker),
        )  # fmt: skip
        policy_kept = retention_policy(settings)
        pruner = Pruner(store.engine, policy_kept, pause=RUNNING_PAUSE) if policy_kept else None
        app = App(
            settings, tuple(watchlists), store, outbox, pipeline, dispatcher, commands,
            feed_admin, adapters, metrics, Heartbeat(), server, parser, pruner, role,
            gateway, worker,
        )  # fmt: skip
        if server is not None:
            server.add_routes(
                status_routes(app.readiness, app.render_metrics, public=settings.web.public_status)
            )
            server.add_routes(
                feed_routes(
                    store.engine, watchlists, token=feed_token(),
                    public=settings.web.public_feeds, size=settings.web.feed_size, clock=clock,
                )
            )  # fmt: skip
            await server.start()
        if deliver:
            settle_after_startup()
        yield app
    finally:
        async with AsyncExitStack() as closing:  # run last-in first: each, even if one fails
            closing.push_async_callback(store.close)
            if worker is not None and worker.shared and deliver:  # to another at once
                closing.push_async_callback(_give_up_claims, store, worker.owner)
            if parser is not None:
                closing.push_async_callback(parser.close)
            closing.push_async_callback(fetching.aclose)
            for adapter in adapters.values():
                closing.push_async_callback(adapter.close)
            if dispatcher is not None and deliver and role.delivers:
                closing.push_async_callback(dispatcher.stop)
            if server is not None:
                closing.push_async_callback(server.stop)
