"""Prometheus metrics: what the bot counts as it works, and what it reads from the
outbox when scraped. One registry per running bot (tests run several side by side)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core.models import CycleSummary, Delivery, DeliveryState, Outcome

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from queueing to the platform's acceptance: alerts mostly take seconds, digests
# and alerts held by quiet hours or retries take hours.
LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 48 * 3600)
_HEALTHY = (Outcome.OK, Outcome.UNCHANGED, Outcome.NOT_MODIFIED)


class Metrics:
    """The bot's counters, gauges and histograms; `render` gives the exposition text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("wirewatch_polls", "Feed polls by outcome.", ["outcome"], registry=r)
        self.fetch_errors = Counter(
            "wirewatch_fetch_errors", "Failed polls by kind of error.", ["kind"], registry=r
        )
        self.items = Counter("wirewatch_items", "New items stored.", registry=r)
        self.matches = Counter(
            "wirewatch_matches", "Reported matches per watchlist.", ["watchlist"], registry=r
        )
        self.last_poll = Gauge(
            "wirewatch_last_successful_poll_timestamp_seconds",
            "When a feed was last polled successfully (Unix time).",
            registry=r,
        )
        self.attempts = Counter(
            "wirewatch_delivery_attempts",
            "Delivery attempts by platform and result (sent, retry, failed).",
            ["platform", "result"],
            registry=r,
        )
        self.latency = Histogram(
            "wirewatch_delivery_latency_seconds",
            "Seconds from an alert or digest being queued to the platform accepting it.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.deliveries = Gauge(
            "wirewatch_deliveries", "Outbox rows by state.", ["state"], registry=r
        )
        self.outbox_depth = Gauge(
            "wirewatch_outbox_depth", "Deliveries waiting to be sent (pending or sending).",
            registry=r,
        )  # fmt: skip
        for outcome in Outcome:
            self.polls.labels(outcome.value)

    def observe_cycle(self, summary: CycleSummary) -> None:
        """Count one poll cycle's polls, errors, new items and reported matches (each label
        looked up once per cycle: a cycle may hold thousands of polls)."""
        outcomes = Tally(poll.outcome for poll in summary.polls)
        for outcome, n in outcomes.items():
            self.polls.labels(outcome.value).inc(n)
        errors = Tally(
            p.fetch.error_kind or "unknown" for p in summary.polls if p.outcome is Outcome.FAILED
        )
        for kind, n in errors.items():
            self.fetch_errors.labels(kind).inc(n)
        healthy = [p.polled_at for p in summary.polls if p.outcome in _HEALTHY]
        if healthy:
            self.last_poll.set(max(healthy).timestamp())
        self.items.inc(summary.new_items)
        for watchlist, n in Tally(r.match.watchlist for r in summary.reports).items():
            self.matches.labels(watchlist).inc(n)

    def observe_delivery(self, delivery: Delivery, result: str, now: datetime) -> None:
        """Count one attempt (`sent`, `retry` or `failed`); time the ones sent."""
        platform = delivery.channel.split(":", 1)[0]
        self.attempts.labels(platform, result).inc()
        if result == "sent":
            self.latency.labels(delivery.kind).observe(
                max(0.0, (now - delivery.created_at).total_seconds())
            )

    def render(self, outbox_counts: Mapping[str, int]) -> bytes:
        """The exposition text, with the outbox gauges set from `outbox_counts` (rows by
        state, as `DeliveryQueue.counts` gives them)."""
        for state in DeliveryState:
            self.deliveries.labels(state.value).set(outbox_counts.get(state.value, 0))
        waiting = (DeliveryState.PENDING.value, DeliveryState.SENDING.value)
        self.outbox_depth.set(sum(outbox_counts.get(s, 0) for s in waiting))
        return generate_latest(self.registry)
