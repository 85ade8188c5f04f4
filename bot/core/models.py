"""The frozen values that pass between the stages: feed state, fetch results, items, matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.safe_text import one_line, url_without_controls


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed the bot is asked to poll, from one origin (default list, config, OPML,
    watchlist, the command line, chat); its name and URL hold no control or invisible
    character, whatever they were given. A name that is only the URL means none was
    given: the feed's own title (`title`, once read) names it then. `user_agent` and
    `headers` (validated where they were declared) go with each request for it."""

    url: str
    name: str
    origin: str
    interval: timedelta | None = None
    verified: bool = True
    title: str | None = None
    user_agent: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # both are shown to people: the URL percent-encoded, the name on one line
        object.__setattr__(self, "url", url_without_controls(self.url))
        object.__setattr__(self, "name", one_line(self.name) or self.url)
        if self.title is not None:
            object.__setattr__(self, "title", one_line(self.title)[:500] or None)


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store knows about one feed: its validators, health and schedule.

    `name` is the name to show: the one the config, OPML or `feeds add` gave, else the
    feed's own `title` as last read, else the URL."""

    id: int
    url: str
    name: str
    origin: str
    verified: bool
    active: bool
    interval: timedelta | None
    fetch_url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    disabled_reason: str | None
    consecutive_failures: int
    last_status: int | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_poll_at: datetime | None
    hold_until: datetime | None
    first_polled_at: datetime | None
    items_seen: int
    # what the last parse of a changed body had to say: entries cut by poll.max_items, a
    # wrong declared charset, malformed XML
    parse_warning: str | None = None
    title: str | None = None  # the feed's own title, as its last parse read it
    # what its requests send instead of the bot's User-Agent, and besides its headers
    user_agent: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # what the last body parsed held: its newest item's publication time (None: no item
    # was dated) and how many items it held (None: no body parsed since this was kept)
    newest_item_at: datetime | None = None
    last_item_count: int | None = None
    last_parsed_at: datetime | None = None  # the last poll whose body was parsed

    @property
    def named(self) -> bool:
        """Whether the config, OPML or `feeds add` named this feed (not only its title)."""
        return self.name not in (self.url, self.title)

    @property
    def request_url(self) -> str:
        """The URL to request: the permanent redirect target once one was seen."""
        return self.fetch_url or self.url


class Outcome(StrEnum):
    """How one poll of one feed ended."""

    OK = "ok"  # 200 with a body that changed and parsed
    UNCHANGED = "unchanged"  # 200 with the same bytes as last time: not parsed again
    NOT_MODIFIED = "not_modified"  # 304
    GONE = "gone"  # 410: the feed is disabled
    FAILED = "failed"  # network, HTTP or parse error


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One conditional GET of a feed, after redirects. `body` is set only for a 200,
    `charset` is the one its Content-Type declared, and `final_url` is where the answer
    came from (the base for the body's relative links)."""

    status: int | None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    retry_after: float | None = None
    max_age: float | None = None
    error: str | None = None
    error_kind: str | None = None
    charset: str | None = None
    final_url: str | None = None

    def without_body(self) -> FetchResult:
        """This result without its body (once hashed and parsed, a poll need not keep it),
        built field by field because dataclasses.replace is slow on this path."""
        return FetchResult(
            self.status, None, self.etag, self.last_modified, self.permanent_url,
            self.retry_after, self.max_age, self.error, self.error_kind, self.charset,
            self.final_url,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Item:
    """One feed entry as plain text, with a stable key and a canonical URL."""

    key: str
    title: str
    summary: str
    url: str | None
    published: datetime | None
    source: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a watchlist matched: which alias of which group hit which text, and how well."""

    group: str
    alias: str
    field: str  # "title" or "summary"
    text: str
    similarity: float  # 100 for an exact hit, the rapidfuzz score for a fuzzy one

    def quote(self) -> str:
        """The hit as one inert line (`bot.core.safe_text.one_line`: the quoted text may
        be anyone's): `canola: "canola" (title)`, `trade: "tariffs" (title, fuzzy 91)`."""
        return f"{self.group}: {self.where()}"

    def where(self) -> str:
        """What was hit and where, inert: `"tariffs" (title, fuzzy 91)`."""
        fuzzy = "" if self.similarity >= 100 else f", fuzzy {self.similarity:g}"
        return one_line(f'"{self.text}" ({self.field}{fuzzy})')


def evidence_strings(evidence: Iterable[Evidence]) -> tuple[str, ...]:
    """One line per group hit, groups in the order of their first hit, each text quoted
    once: `vessels: "frigate" (title), "warship" (title)`."""
    by_group: dict[str, list[str]] = {}
    for hit in evidence:
        quotes = by_group.setdefault(hit.group, [])
        if (quote := hit.where()) not in quotes:
            quotes.append(quote)
    return tuple(f"{one_line(group)}: {', '.join(quotes)}" for group, quotes in by_group.items())


@dataclass(frozen=True, slots=True)
class Match:
    """An item matched a watchlist with this score; `alert` when it reaches the alert threshold."""

    watchlist: str
    score: float
    alert: bool
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class PollResult:
    """One feed's poll as the pipeline hands it to the store: with each item, the
    watchlists it matched (`matches[n]` are the matches of `items[n]`)."""

    feed: FeedState
    outcome: Outcome
    fetch: FetchResult
    polled_at: datetime
    items: tuple[Item, ...] = ()
    body_hash: str | None = None
    parse_warning: str | None = None
    matches: tuple[tuple[Match, ...], ...] = ()
    feed_title: str | None = None  # the title the body gave itself, when it was parsed

    def __post_init__(self) -> None:
        if len(self.matches) != len(self.items):
            raise ValueError("a poll needs one entry of matches per item")

    def without_items(self) -> PollResult:
        """This poll without its items and matches (once stored, a cycle's summary keeps
        only the outcome). Built field by field, as `FetchResult.without_body`."""
        return PollResult(
            self.feed, self.outcome, self.fetch, self.polled_at, (), self.body_hash,
            self.parse_warning, (), self.feed_title,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as stored: its row id, the feed it came from, and whether it may be reported."""

    id: int
    feed_id: int
    item: Item
    first_seen: datetime
    reportable: bool


@dataclass(frozen=True, slots=True)
class Report:
    """A newly matched item that is reported (not from a first poll, not too old)."""

    item: Item
    match: Match


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """The outcome of one poll cycle, for the terminal summary and `run --once`: each
    feed's poll (without its items, which are stored by then), and the new reports."""

    polls: tuple[PollResult, ...]
    new_items: int
    reports: tuple[Report, ...]
    baseline_feeds: int = 0  # feeds polled successfully for the first time
    baseline_items: int = 0  # their items, recorded and not reported
    baseline_matched: int = 0  # of those, how many a watchlist matched
    stale_matched: int = 0  # matched items published before max_item_age, not reported

    def count(self, outcome: Outcome) -> int:
        """How many feeds ended with `outcome`."""
        return sum(1 for p in self.polls if p.outcome is outcome)


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """A story as delivered: its lead item, the other outlets that carried it, and the
    best match per watchlist (ranked by score, best first)."""

    story_id: int
    item: Item
    first_seen: datetime
    matches: tuple[Match, ...]
    also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's subscription to watchlists (from the config file or a slash command).

    `key` identifies it across restarts; `disabled_reason` is set when the platform
    refused the channel for good (deleted, no permission) and delivery stopped.
    """

    id: int
    key: str
    channel: str
    watchlists: tuple[str, ...]
    alerts: bool
    digest: str | None
    timezone: str
    min_score: float
    quiet_hours: str | None
    nothing_new: bool
    origin: str  # "config" or "runtime"
    active: bool
    disabled_reason: str | None
    digest_watermark: int  # the last match id covered by a sent digest
    next_digest_at: datetime | None
    last_digest_at: datetime | None
    mention_role: str | None = None  # a Discord role id its alerts ping
    followups: str | None = None  # edit, thread or off; None: the channel's default


class DeliveryState(StrEnum):
    """Where one outbox row stands."""

    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # handed to the adapter; back to pending if the process dies
    SENT = "sent"  # the platform accepted it (message_id set)
    FAILED = "failed"  # permanent error, or retries exhausted
    SUPERSEDED = "superseded"  # an unsent digest replaced by the next one, which covers it
    EMPTY = "empty"  # a digest with nothing to say, not sent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: an alert for one story, or one digest, for one subscription."""

    id: int
    subscription_id: int
    channel: str
    kind: str  # "alert", "digest" or "followup" (an edit of an alert, or a reply to it)
    story_id: int | None
    # the alert's Message as JSON; a digest's is built at each attempt, and kept (with
    # its `window_end`) once one of its parts was posted
    payload: dict[str, object] | None
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None
    message_id: str | None
    window_end: int | None = None
    parts_sent: int = 0  # leading parts of the message the platform accepted so far
    first_attempt_at: datetime | None = None
    parent_id: int | None = None  # a follow-up's alert
    thread_id: str | None = None  # an alert's thread, once a follow-up opened one


@dataclass(frozen=True, slots=True)
class Schedule:
    """A feed's next poll (regular slot or backoff), and the server's wait (Retry-After,
    max-age). `run --once` ignores `next_poll_at` but never polls before `hold_until`."""

    next_poll_at: datetime
    hold_until: datetime | None
    consecutive_failures: int
