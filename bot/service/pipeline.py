"""One poll cycle end to end: due feeds → fetch → parse and match → store → reports.

The only module that calls across stages. Feeds are fetched concurrently; one writer
drains finished polls in batches, so the store sees one transaction per batch and new
matches are reported as soon as their feed's batch is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import xxhash

from bot.core.clock import Clock, utcnow
from bot.core.metrics import Metrics
from bot.core.models import CycleSummary, FeedState, FetchResult, Outcome, PollResult, Report
from bot.feeds.address_guard import UNTRUSTED_ORIGINS
from bot.feeds.discovery import page_problem
from bot.feeds.fetch import Fetcher
from bot.feeds.parse import FeedParseError
from bot.feeds.parser_process import Parse
from bot.feeds.polling import PollPolicy, is_dead, plan_next
from bot.storage.store import Store

log = logging.getLogger(__name__)
BATCH = 200  # polls written per transaction at most
LINGER = 0.05  # seconds a batch waits for more finished polls


def hash_body(body: bytes) -> str:
    """A 128-bit fingerprint of a feed body (32 hex digits) that tells a changed body from
    an unchanged one.

    Not cryptographic, and need not be: a publisher who forged a collision would only hide
    its own feed's new items. XXH3 is an order of magnitude faster than SHA-256 here.
    """
    return xxhash.xxh3_128_hexdigest(body)


@dataclass(frozen=True, slots=True)
class FeedClaims:
    """How a worker claims its feeds: as `owner`, for `lease` (after which a worker that
    died holding them loses them), `batch` at a time; None: a lone worker, which reads
    every due feed at once and claims none."""

    owner: str = "local"
    lease: timedelta = timedelta(minutes=10)
    batch: int | None = None


class Pipeline:
    """Polls due feeds and records what is new. Safe to call `run_cycle` repeatedly.

    `parse` turns a changed body into matched items: `ParseWorker.parse` (the parser
    process) or `ThreadParser.parse`.
    """

    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        parse: Parse,
        policy: PollPolicy,
        max_item_age: timedelta,
        clock: Clock = utcnow,
        metrics: Metrics | None = None,
        claims: FeedClaims | None = None,
    ) -> None:
        self.store = store
        self.claims = claims or FeedClaims()
        self.fetcher = fetcher
        self.parse = parse
        self.policy = policy
        self.max_item_age = max_item_age
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._all_failing = False  # the last cycle with polls had every feed fail

    async def run_cycle(
        self,
        *,
        ignore_schedule: bool = False,
        on_start: Callable[[int], None] | None = None,
        on_poll: Callable[[PollResult], None] | None = None,
        on_reports: Callable[[list[Report]], None] | None = None,
    ) -> CycleSummary:
        """Poll every due feed once (`ignore_schedule`: every feed not on hold), and
        count the cycle in `metrics`.

        `on_start` gets the number of feeds claimed so far, at each claim; `on_poll` each
        finished poll (progress output), `on_reports` each batch's new reports as soon as
        they are stored. Feeds are claimed (`FeedClaims`) as the pollers need them, so
        that workers sharing a database share the due feeds and never poll one twice.
        """
        claims = _Claimed(self.store, self.claims, self.clock, ignore_schedule, on_start)
        first = await claims.more()
        done: asyncio.Queue[PollResult | None] = asyncio.Queue()
        # as many pollers as fetches may run at once, each taking the next due feed: a
        # task per feed, most of them parked on the fetch limit, cost a tenth of a cycle
        # with nothing new
        concurrency = self.fetcher.limits.concurrency
        pollers = min(first, concurrency) if claims.exhausted else concurrency
        tasks = [asyncio.create_task(self._poll_into(claims, done)) for _ in range(pollers)]
        polls: list[PollResult] = []
        tally = _Tally()
        try:
            while not (claims.exhausted and len(polls) == claims.count):
                batch = await _next_batch(done, claims.count - len(polls))
                if not batch:
                    continue  # a poller stopped: the claims may be exhausted now
                found = await self._record(batch, tally)
                # stored by now: the summary keeps each poll's outcome, not its items
                polls.extend(p.without_items() if p.items else p for p in batch)
                if on_reports and found:
                    on_reports(found)
                if on_poll:
                    for poll in batch:
                        on_poll(poll)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        summary = tally.summary(polls)
        self._say_when_all_failed(summary)
        self.metrics.observe_cycle(summary)
        return summary

    async def _poll_into(self, claims: _Claimed, done: asyncio.Queue[PollResult | None]) -> None:
        """Poll claimed feeds until none is left, each result into `done`, then None."""
        try:
            while (feed := await claims.next()) is not None:
                try:
                    result = await self.poll_feed(feed)
                except Exception as exc:  # a bug must cost one feed's poll, never the cycle
                    log.exception("internal error polling %s", feed.url)
                    result = PollResult(
                        feed,
                        Outcome.FAILED,
                        FetchResult(
                            status=None, error=f"internal error: {exc}", error_kind="internal"
                        ),
                        self.clock(),
                    )
                done.put_nowait(result)
        finally:
            done.put_nowait(None)

    async def poll_feed(self, feed: FeedState) -> PollResult:
        """Fetch and (when the bytes changed) parse one feed. Never raises for feed problems.

        A feed added from chat is fetched `guarded`. A body that is a web page is not
        parsed: it fails with the feeds the page names (`discovery.page_problem`)."""
        fetch = await self.fetcher.fetch(
            feed.request_url,
            feed.etag,
            feed.last_modified,
            guarded=feed.origin in UNTRUSTED_ORIGINS,
            user_agent=feed.user_agent,
            headers=feed.headers,
        )
        now = self.clock()
        if fetch.status == 304:
            return PollResult(feed, Outcome.NOT_MODIFIED, fetch, now)
        if fetch.error_kind == "gone":
            return PollResult(feed, Outcome.GONE, fetch, now)
        if fetch.error is not None or fetch.body is None:
            return PollResult(feed, Outcome.FAILED, fetch, now)
        # the poll outlives the cycle's batch (in the summary); its body need not
        body, fetch = fetch.body, fetch.without_body()
        body_hash = hash_body(body)
        if body_hash == feed.body_hash:
            return PollResult(feed, Outcome.UNCHANGED, fetch, now, body_hash=body_hash)
        source = feed.name if feed.named else None  # else the feed's own title
        try:
            base = fetch.final_url or feed.request_url  # relative links: where it came from
            if (problem := page_problem(body, base)) is not None:
                raise FeedParseError(problem)
            matched = await self.parse(body, base, source, fetch.charset)
        except FeedParseError as exc:
            failed = FetchResult(
                status=fetch.status,
                error=str(exc),
                error_kind="parse",
                retry_after=fetch.retry_after,
            )
            return PollResult(feed, Outcome.FAILED, failed, now)
        parsed = matched.parsed
        if parsed.warning:
            log.info("%s: %s", feed.name, parsed.warning)
        return PollResult(
            feed, Outcome.OK, fetch, now, parsed.items, body_hash, parsed.warning,
            matched.matches, parsed.title or None,
        )  # fmt: skip

    async def _record(self, batch: list[PollResult], tally: _Tally) -> list[Report]:
        """Store one batch of polls, count it in `tally`, and return its new reports."""
        planned = []
        for poll in batch:
            interval = poll.feed.interval or self.policy.interval
            schedule = plan_next(
                poll.feed.url,
                interval,
                poll.feed.consecutive_failures,
                poll.outcome,
                poll.fetch,
                poll.polled_at,
                self.policy,
            )
            planned.append((poll, schedule))
            _log_health_change(poll, schedule.consecutive_failures, self.policy)
        found, new_by_feed = await self.store.record_polls(planned, self.max_item_age)
        first = {
            p.feed.id
            for p in batch
            if p.feed.first_polled_at is None and p.outcome in (Outcome.OK, Outcome.UNCHANGED)
        }
        reports = [Report(s.item, m) for s, m in found if s.reportable]
        unreported = {(s.id, s.feed_id in first) for s, _ in found if not s.reportable}
        tally.new_items += sum(new_by_feed.values())
        tally.reports.extend(reports)
        tally.baseline_feeds += len(first)
        tally.baseline_items += sum(new_by_feed[f] for f in first)
        tally.baseline_matched += sum(1 for _, baseline in unreported if baseline)
        tally.stale_matched += sum(1 for _, baseline in unreported if not baseline)
        return reports

    def _say_when_all_failed(self, summary: CycleSummary) -> None:
        """One warning when every feed of a cycle failed (and one when that ends): then the
        cause is on this side, not the feeds'."""
        failed = summary.count(Outcome.FAILED)
        everything = bool(summary.polls) and failed == len(summary.polls)
        if everything and not self._all_failing and failed > 1:
            log.warning(
                "every feed failed this cycle (%d): check this machine's network, DNS and "
                "proxy (HTTPS_PROXY), then `wirewatch feeds` for each feed's error",
                failed,
            )
        elif self._all_failing and summary.polls and not everything:
            log.info("feeds answer again")
        if summary.polls:
            self._all_failing = everything and failed > 1


async def _next_batch(done: asyncio.Queue[PollResult | None], remaining: int) -> list[PollResult]:
    """The next polls to write: up to BATCH (and at most `remaining`, the polls still
    due), lingering up to LINGER seconds for more, so that a burst of finished polls
    costs one transaction, not one each; empty when a poller stopped (a None in `done`)
    before any poll came, so that the caller may see whether all are done. A poller
    stopping later ends no batch: the last pollers' polls are written together."""
    first = await done.get()
    if first is None:
        return []
    batch = [first]
    deadline = asyncio.get_running_loop().time() + LINGER
    while len(batch) < min(BATCH, remaining):
        if done.empty():
            timeout = deadline - asyncio.get_running_loop().time()
            if timeout <= 0:
                break
            try:
                polled = await asyncio.wait_for(done.get(), timeout)
            except TimeoutError:
                break
        else:
            polled = done.get_nowait()
        if polled is not None:
            batch.append(polled)
    return batch


class _Claimed:
    """The feeds a cycle has claimed and not yet handed to a poller, claimed again in
    batches as the pollers empty them, until no due feed is left unclaimed."""

    def __init__(
        self,
        store: Store,
        claims: FeedClaims,
        clock: Clock,
        ignore_schedule: bool,
        on_claim: Callable[[int], None] | None,
    ) -> None:
        self.store = store
        self.claims = claims
        self.clock = clock
        self.ignore_schedule = ignore_schedule
        self.on_claim = on_claim
        self.count = 0  # feeds claimed so far
        self.exhausted = False  # no due feed was left to claim
        self._waiting: deque[FeedState] = deque()
        self._claiming = asyncio.Lock()

    async def more(self) -> int:
        """Claim (alone: read) the next batch; returns how many feeds it held."""
        # every feed at once when the schedule is ignored: a feed polled in this cycle
        # is due again at once then, and a later batch would take it a second time
        batch = None if self.ignore_schedule else self.claims.batch
        if self.claims.batch is None:  # alone: no other worker to keep off, nothing to write
            claimed = await self.store.due_feeds(self.clock(), ignore_schedule=self.ignore_schedule)
        else:
            claimed = await self.store.claim_due_feeds(
                self.clock(),
                self.claims.owner,
                self.claims.lease,
                limit=batch,
                ignore_schedule=self.ignore_schedule,
            )
        self._waiting.extend(claimed)
        self.count += len(claimed)
        self.exhausted = batch is None or len(claimed) < batch
        if self.on_claim is not None and (claimed or self.count == 0):
            self.on_claim(self.count)
        return len(claimed)

    async def next(self) -> FeedState | None:
        """The next claimed feed, claiming more when none waits; None when all are out."""
        if not self._waiting and not self.exhausted:
            async with self._claiming:
                if not self._waiting and not self.exhausted:
                    await self.more()
        return self._waiting.popleft() if self._waiting else None


def _log_health_change(poll: PollResult, failures: int, policy: PollPolicy) -> None:
    """One log line when a feed's health changes, not one per failed poll."""
    before = poll.feed.consecutive_failures
    name = poll.feed.name
    if poll.outcome is Outcome.GONE:
        log.warning("%s: 410 Gone, feed disabled (%s)", name, poll.feed.url)
    elif poll.outcome is Outcome.FAILED and before == 0:
        log.warning("%s: failing: %s (%s)", name, poll.fetch.error, poll.feed.url)
    elif (
        poll.outcome is Outcome.FAILED and is_dead(failures, policy) and not is_dead(before, policy)
    ):
        log.warning(
            "%s: %d failures in a row, now re-probed every %s", name, failures, policy.max_backoff
        )
    elif poll.outcome is not Outcome.FAILED and before > 0:
        log.info("%s: recovered after %d failures", name, before)


@dataclass(slots=True)
class _Tally:
    """A cycle's counts as its batches are stored (the pipeline's own, mutable)."""

    new_items: int = 0
    reports: list[Report] = field(default_factory=list)
    baseline_feeds: int = 0
    baseline_items: int = 0
    baseline_matched: int = 0
    stale_matched: int = 0

    def summary(self, polls: list[PollResult]) -> CycleSummary:
        """The cycle's summary with these counts."""
        return CycleSummary(
            tuple(polls), self.new_items, tuple(self.reports), self.baseline_feeds,
            self.baseline_items, self.baseline_matched, self.stale_matched,
        )  # fmt: skip
