"""The command core behind `/news`: one table of subcommands, shared by every platform.

Each entry of TABLE names a subcommand, its typed arguments, whether it needs a channel
admin, and its handler. Adapters derive their platform's command form from the table and
call `answer` or `answer_text`; the core checks the caller's rights and the arguments,
runs the handler, and turns a CommandError into a private warning and any other failure
into a logged internal error. Handlers take typed arguments and return a Message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from bot.chat.commands import (
    Arg,
    ArgKind,
    ArgValue,
    Caller,
    CommandError,
    CommandSpec,
    Reply,
    split_words,
)
from bot.chat.message import Entry, Message, Section, Tone, build_digest
from bot.core.channels import parse_channel
from bot.core.clock import format_time, format_utc
from bot.core.config import DEFAULT_STALE_AFTER
from bot.core.cron import check_timezone, next_fire
from bot.core.models import evidence_strings
from bot.core.wording import counted
from bot.delivery.outbox import Outbox
from bot.feeds.canonical import canonical_url
from bot.feeds.feed_admin import FeedAdmin, FeedRefused, Preview, feed_label, match_line
from bot.feeds.feed_health import refused_hint, stale_reason
from bot.matching.matcher import Matcher
from bot.matching.watchlists import Watchlist, describe_rule
from bot.storage.store import Store

log = logging.getLogger(__name__)

MAX_DAYS = 90
RESULTS = 10
TEST_TEXT_LIMIT = 2000  # characters of `/news test` text matched
URL_LIMIT = 2000  # characters of a feed URL given to `/news feeds add|remove`
DEFAULT_DIGEST = "0 8 * * *"
INTERNAL_ERROR = "Internal error; the bot logged it."


class Commands:
    """The `/news` subcommands. One instance per running bot."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        matcher: Matcher,
        watchlists: Sequence[Watchlist],
        clock: Callable[[], datetime],
        feed_admin: FeedAdmin,
        retry_for: timedelta = timedelta(hours=48),
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.matcher = matcher
        self.watchlists = {w.id: w for w in watchlists}
        self.now = clock
        self.feed_admin = feed_admin
        self.retry_for = retry_for  # how far back a failed delivery is retried on subscribe
        self.stale_after = stale_after  # a feed with no newer item is stale (`/news feeds`)

    # --- lookups ---------------------------------------------------------------------

    async def search(self, caller: Caller, query: str, watchlist: str | None, days: int) -> Message:
        """Stored stories ranked by fuzzy relevance of title and summary, then recency."""
        if watchlist is not None:
            watchlist = self._watchlist(watchlist).id  # `Canola` is canola
        now = self.now()
        found = await self.store.recent_items(now - timedelta(days=days), watchlist)
        best: dict[object, tuple[float, Entry]] = {}
        lowered = query.lower()
        for stored, story in found:
            item = stored.item
            score = max(
                fuzz.partial_ratio(lowered, item.title.lower()),
                0.9 * fuzz.token_set_ratio(lowered, f"{item.title} {item.summary}".lower()),
            )
            if score < 70:
                continue
            age_days = (now - stored.first_seen).total_seconds() / 86400
            rank = score - 2.0 * age_days
            key = story if story is not None else ("item", stored.id)
            if key not in best or rank > best[key][0]:
                entry = Entry(
                    item.title, item.url, item.source, item.published or stored.first_seen,
                    watchlist or "", round(score, 1),
                )  # fmt: skip
                best[key] = (rank, entry)
        ranked = [e for _, e in sorted(best.values(), key=lambda pair: -pair[0])]
        scope = f" in {watchlist}" if watchlist else ""
        if not ranked:
            return Message(
                f"Search: {query}", Tone.INFO, f"Nothing{scope} in the last {counted(days, 'day')}."
            )
        return Message(
            f"Search: {query}",
            Tone.INFO,
            f"{counted(len(ranked), 'story')}{scope} in the last {counted(days, 'day')}, "
            "best first",
            (Section("Results", tuple(ranked[:RESULTS]), max(0, len(ranked) - RESULTS)),),
        )

    async def latest(self, caller: Caller, watchlist: str | None) -> Message:
        """The most recently matched stories (of one watchlist, or all)."""
        ids = [self._watchlist(watchlist).id] if watchlist else list(self.watchlists)
        stories = await self.outbox.digests.latest_stories(ids, RESULTS)
        titles = {w: self.watchlists[w].title for w in ids}
        heading = "Latest: " + (titles[ids[0]] if watchlist else "all watchlists")
        message = build_digest(stories, titles, heading=heading, now=self.now())
        return message or Message(heading, Tone.INFO, "Nothing matched yet.")

    async def list_watchlists(self, caller: Caller) -> Message:
        """Every watchlist with its one-line scope."""
        lines = [f"{w.id}: {w.title}. {w.summary}" for w in self.watchlists.values()]
        return Message("Watchlists", Tone.INFO, "\n".join(lines))

    async def show_watchlist(self, caller: Caller, watchlist: str) -> Message:
        """One watchlist's rule, groups and thresholds."""
        w = self._watchlist(watchlist)
        groups = "\n".join(
            f"{g.name} (weight {g.weight:g}): " + ", ".join(a.text for a in g.aliases[:12])
            + (f", +{len(g.aliases) - 12} more" if len(g.aliases) > 12 else "")
            for g in w.groups
        )  # fmt: skip
        text = (
            f"{w.description.strip()}\n\nRule: {describe_rule(w.rule)}\n"
            f"Threshold {w.threshold:g}, alert at {w.alert_threshold:g}, "
            f"title hits count {w.title_weight:g}x\n\n{groups}"
        )
        return Message(f"{w.title} [{w.id}]", Tone.INFO, text)

    async def why(self, caller: Caller, url: str) -> Message:
        """Which watchlists matched the story at `url`, with evidence; or why not."""
        canonical = canonical_url(url.strip())
        if canonical is None:
            raise CommandError(f"{url!r} is not an http(s) link: /news {WHY.usage()}")
        stored = await self.store.item_by_url(canonical)
        if stored is None:
            return Message(
                "Why: not seen", Tone.INFO,
                f"The bot has not seen {canonical} in any feed it polls.",
            )  # fmt: skip
        item = stored.item
        lines = []
        for verdict in sorted(self.matcher.judge(item.title, item.summary), key=lambda v: -v.score):
            w = verdict.watchlist
            if verdict.matched:
                flag = ", alert" if verdict.alert else ""
                hits = "; ".join(evidence_strings(verdict.evidence))
                lines.append(f"{w.id}: matched, score {verdict.score:g}{flag}: {hits}")
            else:
                lines.append(f"{w.id}: not matched: {verdict.shortfall()}")
        silent = [w for w in self.watchlists if not any(line.startswith(w + ":") for line in lines)]
        lines += [f"{w}: not matched: no term of this watchlist appears" for w in silent]
        if not stored.reportable:
            lines.append(
                "(seen at the feed's first poll or published too long ago, so never reported)"
            )
        text = f"{item.source} · first seen {format_utc(stored.first_seen)}\n" + "\n".join(lines)
        return Message(f"Why: {item.title}", Tone.INFO, text)

    async def test(self, caller: Caller, text: str) -> Message:
        """Which watchlists a piece of text would match, with evidence."""
        verdicts = sorted(self.matcher.judge(text), key=lambda v: -v.score)
        lines = []
        for verdict in verdicts:
            if verdict.matched:
                flag = ", alert" if verdict.alert else ""
                hits = "; ".join(evidence_strings(verdict.evidence))
                lines.append(
                    f"{verdict.watchlist.id}: matches, score {verdict.score:g}{flag}: {hits}"
                )
            else:
                lines.append(f"{verdict.watchlist.id}: no match: {verdict.shortfall()}")
        return Message("Test", Tone.INFO, "\n".join(lines) or "No watchlist term appears.")

    async def feeds(self, caller: Caller) -> Message:
        """Feed health: failing feeds first (a site that refuses the bot says so, with
        what to do), then stale feeds, then feeds read with a warning."""
        feeds = await self.store.list_feeds(active_only=True)
        now = self.now()
        failing = [f for f in feeds if f.consecutive_failures or f.disabled_reason]
        lines = [
            f"{f.name}: {f.disabled_reason or f'failing ({f.consecutive_failures} in a row)'}"
            f" — {f.last_error or ''}".rstrip(" —")
            + (f" — {hint}" if (hint := refused_hint(f)) else "")
            for f in failing[:20]
        ]
        stale = [(f, why) for f in feeds if (why := stale_reason(f, now, self.stale_after))]
        lines.extend(f"{f.name}: {why}" for f, why in stale[:10])
        warned = [
            f
            for f in feeds
            if f.parse_warning and not (f.consecutive_failures or f.disabled_reason)
        ]
        lines.extend(f"{f.name}: read with a warning — {f.parse_warning}" for f in warned[:10])
        ok = len(feeds) - len(failing) - len(stale)
        head = f"{ok} of {counted(len(feeds), 'feed')} healthy, {len(failing)} failing"
        if stale:
            head += f", {len(stale)} stale"
        if warned:
            head += f", {len(warned)} read with a warning"
        tone = Tone.WARNING if failing or stale else Tone.INFO
        return Message("Feeds", tone, "\n".join([head, *lines]))

    async def help(self, caller: Caller) -> Message:
        """The subcommands and their arguments, from the table."""
        lines = [f"/news {entry.spec.usage()}" for entry in TABLE]
        admin = [entry.spec.name for entry in TABLE if entry.spec.admin]
        lines.append(f"{', '.join(admin[:-1])} and {admin[-1]} need channel admin rights.")
        return Message("wirewatch /news", Tone.INFO, "\n".join(lines))

    # --- the feed list (admins) ----------------------------------------------------------

    async def feeds_add(self, caller: Caller, url: str) -> Message:
        """Read the feed at `url` (or the one the page there names), show its newest items
        and their matches, and poll it from now on; fetched only from public addresses."""
        try:
            added = await self.feed_admin.add(url, origin="chat")
        except FeedRefused as exc:
            hint = "; the site refuses the bot: its operator can add it with its own user_agent"
            raise CommandError(f"not added: {exc}{hint if exc.refused_client else ''}") from exc
        if added.known is not None:
            known = added.known
            return Message(
                "Feed already polled", Tone.INFO,
                f"The bot polls {feed_label(known)} already; nothing changed.",
            )  # fmt: skip
        assert added.preview is not None
        return _preview_message("Feed added", added.preview)

    async def feeds_remove(self, caller: Caller, url: str) -> Message:
        """Stop polling a feed added from chat (its history stays)."""
        try:
            feed = await self.feed_admin.remove(url, origins=("chat",))
        except FeedRefused as exc:
            raise CommandError(f"not removed: {exc}") from exc
        return Message("Feed removed", Tone.INFO, f"No longer polled: {feed_label(feed)}.")

    # --- channel settings (admins) -------------------------------------------------------

    async def subscribe(
        self,
        caller: Caller,
        watchlist: str,
        mode: str,
        schedule: str | None,
        timezone: str,
    ) -> Message:
        """Subscribe the caller's channel to a watchlist's alerts or digest."""
        w = self._watchlist(watchlist)
        if mode == "alert" and schedule:
            raise CommandError('a schedule is for digests: subscribe <watchlist> digest "<cron>"')
        try:
            parse_channel(caller.channel)  # what the platform said the channel is
            check_timezone(timezone)
            cron = schedule or DEFAULT_DIGEST
            if mode == "digest":  # a schedule that parses may still never fire (Feb 30)
                next_fire(cron, timezone, self.now())
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        sub = await self.outbox.subscriptions.subscribe(
            caller.channel, w.id, self.now(),
            digest=cron if mode == "digest" else None, timezone=timezone,
        )  # fmt: skip
        if sub.digest:
            when = format_time(sub.next_digest_at, timezone) if sub.next_digest_at else "soon"
            text = (
                f'This channel gets a {w.title} digest on "{sub.digest}" ({timezone}); next {when}.'
            )
        else:
            text = f"This channel gets {w.title} alerts as they happen."
        # the command came from this channel, so it works: what failed here goes out now
        await self.outbox.subscriptions.enable_channel(caller.channel)
        requeued = await self.outbox.queue.requeue_failed(
            self.now(), channels=[caller.channel], within=self.retry_for
        )
        if requeued:
            again = counted(len(requeued), "delivery")
            text += f" Sending again: {again} that failed here."
        return Message("Subscribed", Tone.INFO, text)

    async def unsubscribe(self, caller: Caller, watchlist: str) -> Message:
        """End the caller's channel's subscriptions to a watchlist."""
        w = self._watchlist(watchlist)
        ended = await self.outbox.subscriptions.unsubscribe(caller.channel, w.id)
        if not ended:
            raise CommandError(
                f"this channel has no subscription to {w.id} made with /news subscribe "
                "(subscriptions from the config file change there)"
            )
        return Message("Unsubscribed", Tone.INFO, f"No more {w.title} posts here.")

    async def subscriptions(self, caller: Caller) -> Message:
        """The caller's channel's subscriptions."""
        subs = await self.outbox.subscriptions.list_active(caller.channel)
        if not subs:
            return Message("Subscriptions", Tone.INFO, "This channel has no subscriptions.")
        lines = []
        for sub in subs:
            modes = (["alerts"] if sub.alerts else []) + (
                [f'digest "{sub.digest}" {sub.timezone}'] if sub.digest else []
            )
            stopped = f" — STOPPED: {sub.disabled_reason}" if sub.disabled_reason else ""
            lines.append(
                f"{', '.join(sub.watchlists)}: {' + '.join(modes)} ({sub.origin}){stopped}"
            )
        failed = await self.outbox.queue.listing(failed_only=True, channel=caller.channel)
        if failed:
            lines.append(
                f"Failed here: {counted(len(failed), 'delivery')}, the latest with "
                f"{failed[0].last_error}. An admin's /news subscribe here, or a restart of the "
                "bot, sends them again (within the retry window)."
            )
        tone = Tone.WARNING if failed or any(s.disabled_reason for s in subs) else Tone.INFO
        return Message("Subscriptions", tone, "\n".join(lines))

    async def digest(self, caller: Caller, watchlist: str | None) -> Message:
        """Queue this channel's digest (of one watchlist's subscriptions, if given) now."""
        if watchlist is not None:
            watchlist = self._watchlist(watchlist).id
        subs = [
            s
            for s in await self.outbox.subscriptions.list_active(caller.channel)
            if s.digest and (watchlist is None or watchlist in s.watchlists)
        ]
        if not subs:
            raise CommandError(
                "this channel has no digest subscription"
                + (f" to {watchlist}" if watchlist else "")
                + ": /news subscribe <watchlist> digest first"
            )
        for sub in subs:
            await self.outbox.digests.queue_now(sub.id, self.now())
        return Message("Digest", Tone.INFO, "The digest is on its way to this channel.")

    # --- answering --------------------------------------------------------------------

    @property
    def table(self) -> Sequence[CommandSpec]:
        """Every subcommand, in the order help lists them."""
        return SPECS

    async def answer(self, name: str, caller: Caller, values: Mapping[str, ArgValue]) -> Reply:
        """Run subcommand `name` for `caller` with typed `values`: an admin subcommand's
        success is public, everything else private; never raises."""
        try:
            entry = _BY_NAME.get(name)
            if entry is None:
                raise CommandError(f"unknown subcommand {name!r}; try /news help")
            return await self._run(entry, caller, entry.spec.bind(values))
        except CommandError as exc:
            return Reply(Message("wirewatch", Tone.WARNING, str(exc)))
        except Exception:
            log.exception("/news %s failed", name)
            return Reply(Message("wirewatch", Tone.ERROR, INTERNAL_ERROR))

    async def answer_text(self, caller: Caller, text: str) -> Reply:
        """Run `<subcommand> <arguments>` (Slack's `/news` text; no text is help). A
        subcommand named in two words (`feeds add`) is taken before a one-word one."""
        try:
            words = split_words(text)
            name = words[0].lower() if words else "help"
            used = 1
            if len(words) > 1 and f"{name} {words[1].lower()}" in _BY_NAME:
                name, used = f"{name} {words[1].lower()}", 2
            entry = _BY_NAME.get(name)
            if entry is None:
                raise CommandError(f"unknown subcommand {name!r}; try /news help")
            return await self._run(entry, caller, entry.spec.bind_words(words[used:], self._fits))
        except CommandError as exc:
            return Reply(Message("wirewatch", Tone.WARNING, str(exc)))
        except Exception:
            log.exception("/news %r failed", text[:200])
            return Reply(Message("wirewatch", Tone.ERROR, INTERNAL_ERROR))

    async def _run(self, entry: Subcommand, caller: Caller, values: dict[str, ArgValue]) -> Reply:
        spec = entry.spec
        if spec.admin and not await caller.is_admin():
            raise CommandError(
                f"{spec.name} changes this channel's settings, so it needs Manage Channels "
                "(Discord) or an admin (Slack)"
            )
        return Reply(await entry.handler(self, caller, **values), public=spec.admin)

    def watchlist_choices(self, current: str) -> list[str]:
        """Watchlist ids for autocomplete: those starting with `current`, then containing it."""
        needle = current.strip().lower()
        ids = sorted(self.watchlists)
        return [i for i in ids if i.startswith(needle)] + [
            i for i in ids if needle in i and not i.startswith(needle)
        ]

    def _fits(self, arg: Arg, word: str) -> bool:
        """Whether a trailing word of a text command can be `arg` (see `bind_words`)."""
        if arg.kind is ArgKind.INT:
            return re.fullmatch("[0-9]{1,12}", word) is not None
        if arg.kind is ArgKind.WATCHLIST:
            return word.strip().lower() in self.watchlists
        return arg.kind is ArgKind.CHOICE and word.lower() in arg.choices

    def _watchlist(self, watchlist_id: str) -> Watchlist:
        found = self.watchlists.get(watchlist_id.strip().lower())
        if found is None:
            raise CommandError(
                f"unknown watchlist {watchlist_id!r}; the watchlists are "
                + ", ".join(sorted(self.watchlists))
            )
        return found


Handler = Callable[..., Awaitable[Message]]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One row of the table: the spec adapters see, and the Commands method that answers."""

    spec: CommandSpec
    handler: Handler


def _watchlist_arg(description: str, *, required: bool = False) -> Arg:
    return Arg("watchlist", ArgKind.WATCHLIST, description, required=required)


def _preview_message(title: str, preview: Preview) -> Message:
    """A feed's preview: where it was found, then its newest items, each with the
    watchlists it matches and why."""
    lines = [f"{preview.title or '(no title)'} <{preview.url}>"]
    if preview.found == "named by the page":
        lines.append(f"The page {preview.asked} names this feed.")
    if preview.others:
        lines.append("The page also names: " + ", ".join(link.url for link in preview.others))
    if preview.warning:
        lines.append(f"Read with a warning: {preview.warning}")
    silent = preview.items and not any(matches for _, matches in preview.items)
    count = counted(preview.item_count, "item")
    lines.append(f"{count}; no watchlist matches the newest ones." if silent else f"{count}.")
    entries = tuple(
        Entry(
            item.title,
            item.url,
            item.source,
            item.published,
            ", ".join(m.watchlist for m in matches),
            max((m.score for m in matches), default=0),
            tuple(match_line(m) for m in matches),
        )
        for item, matches in preview.items
    )
    section = (Section("Newest items", entries),) if entries else ()
    return Message(f"{title}: {preview.title or preview.url}", Tone.INFO, "\n".join(lines), section)


WHY = CommandSpec(
    "why", "Why a story matched a watchlist, or why not",
    (Arg("url", ArgKind.WORD, "the story's link"),),
)  # fmt: skip
TABLE: tuple[Subcommand, ...] = (
    Subcommand(CommandSpec("search", "Stored stories ranked by relevance", (
        Arg("query", ArgKind.REST, "words to look for in titles and summaries",
            minimum=2, maximum=200),
        _watchlist_arg("only stories this watchlist matched"),
        Arg("days", ArgKind.INT, f"how far back to look (1 to {MAX_DAYS}, default 7)",
            required=False, default=7, minimum=1, maximum=MAX_DAYS),
    )), Commands.search),
    Subcommand(CommandSpec("latest", "The most recent matched stories", (
        _watchlist_arg("only this watchlist's stories"),
    )), Commands.latest),
    Subcommand(CommandSpec("watchlists", "The watchlists and what each covers"),
               Commands.list_watchlists),
    Subcommand(CommandSpec("watchlist", "One watchlist's rule and terms", (
        _watchlist_arg("the watchlist id", required=True),
    )), Commands.show_watchlist),
    Subcommand(WHY, Commands.why),
    Subcommand(CommandSpec("test", "Which watchlists a piece of text would match", (
        Arg("text", ArgKind.REST, "a headline or a paragraph", maximum=TEST_TEXT_LIMIT),
    )), Commands.test),
    Subcommand(CommandSpec("subscribe", "Post a watchlist's alerts or digest here", (
        _watchlist_arg("the watchlist id", required=True),
        Arg("mode", ArgKind.CHOICE, "alerts as they happen, or a scheduled digest",
            required=False, default="alert", choices=("alert", "digest")),
        Arg("schedule", ArgKind.WORD,
            'the digest\'s cron schedule, e.g. "0 8 * * mon-fri" (default 08:00 daily)',
            required=False),
        Arg("timezone", ArgKind.WORD,
            "the schedule's time zone, e.g. America/Toronto (default UTC)",
            required=False, default="UTC"),
    ), admin=True), Commands.subscribe),
    Subcommand(CommandSpec("unsubscribe", "Stop a watchlist's posts here", (
        _watchlist_arg("the watchlist id", required=True),
    ), admin=True), Commands.unsubscribe),
    Subcommand(CommandSpec("subscriptions", "This channel's subscriptions"),
               Commands.subscriptions),
    Subcommand(CommandSpec("digest", "Post this channel's digest now", (
        _watchlist_arg("only this watchlist's digest"),
    ), admin=True), Commands.digest),
    Subcommand(CommandSpec("feeds", "Feed health, failing feeds first"), Commands.feeds),
    Subcommand(CommandSpec("feeds add", "Poll a new feed (or the one a page names)", (
        Arg("url", ArgKind.WORD, "the feed's or the site's address", maximum=URL_LIMIT),
    ), admin=True), Commands.feeds_add),
    Subcommand(CommandSpec("feeds remove", "Stop polling a feed added from chat", (
        Arg("url", ArgKind.WORD, "the feed's address", maximum=URL_LIMIT),
    ), admin=True), Commands.feeds_remove),
    Subcommand(CommandSpec("help", "The subcommands and their arguments"), Commands.help),
)  # fmt: skip
SPECS = tuple(entry.spec for entry in TABLE)
_BY_NAME = {entry.spec.name: entry for entry in TABLE}
