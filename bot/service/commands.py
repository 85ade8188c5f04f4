"""The command core behind `/news`, shared by every platform: typed arguments in, a
Message out. Adapters only parse their platform's request, decide who is an admin, and
render the Message (ephemeral or not); nothing here knows Discord or Slack.

Bad arguments raise CommandError, whose text says what was wrong and what is expected;
adapters show it to the caller and nothing else happens.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from bot.chat.message import (
    Entry,
    Message,
    Section,
    Tone,
    build_digest,
    evidence_strings,
    format_utc,
)
from bot.core.cron import check_cron, check_timezone
from bot.delivery.outbox import Outbox
from bot.feeds.canonical import canonical_url
from bot.matching.matcher import Matcher
from bot.matching.watchlists import Watchlist, describe_rule
from bot.storage.store import Store

MAX_DAYS = 90
RESULTS = 10
DEFAULT_DIGEST = "0 8 * * *"
ADMIN_COMMANDS = frozenset({"subscribe", "unsubscribe", "digest"})
USAGE = {
    "search": "search <query> [watchlist] [days]",
    "latest": "latest [watchlist]",
    "watchlists": "watchlists",
    "watchlist": "watchlist <id>",
    "why": "why <url>",
    "test": "test <text>",
    "subscribe": 'subscribe <watchlist> [alert|digest] ["<cron>"] [time zone]',
    "unsubscribe": "unsubscribe <watchlist>",
    "subscriptions": "subscriptions",
    "digest": "digest [watchlist]",
    "feeds": "feeds",
    "help": "help",
}


class CommandError(Exception):
    """A bad argument or a refused request; the text is the reply."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked, and where: `channel` is a channel reference (`discord:<id>`, ...);
    `is_admin` is the platform's answer (Manage Channels, a configured role or user)."""

    channel: str
    user: str
    is_admin: bool


class Commands:
    """The `/news` subcommands. One instance per running bot."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        matcher: Matcher,
        watchlists: Sequence[Watchlist],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.matcher = matcher
        self.watchlists = {w.id: w for w in watchlists}
        self.now = clock

    # --- lookups ---------------------------------------------------------------------

    async def search(
        self, caller: Caller, query: str, watchlist: str | None = None, days: int = 7
    ) -> Message:
        """Stored stories ranked by fuzzy relevance of title and summary, then recency."""
        query = query.strip()
        if len(query) < 2:
            raise CommandError(f"search needs a query of 2 characters or more: {USAGE['search']}")
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"days must be between 1 and {MAX_DAYS}, not {days}")
        if watchlist is not None:
            self._watchlist(watchlist)
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
                f"Search: {query}", Tone.INFO, f"Nothing{scope} in the last {days} days."
            )
        return Message(
            f"Search: {query}",
            Tone.INFO,
            f"{len(ranked)} stories{scope} in the last {days} days, best first",
            (Section("Results", tuple(ranked[:RESULTS]), max(0, len(ranked) - RESULTS)),),
        )

    async def latest(self, caller: Caller, watchlist: str | None = None) -> Message:
        """The most recently matched stories (of one watchlist, or all)."""
        ids = [self._watchlist(watchlist).id] if watchlist else list(self.watchlists)
        stories = await self.outbox.latest_stories(ids, RESULTS)
        titles = {w: self.watchlists[w].title for w in ids}
        heading = "Latest: " + (titles[ids[0]] if watchlist else "all watchlists")
        message = build_digest(stories, titles, heading=heading, now=self.now())
        return message or Message(heading, Tone.INFO, "Nothing matched yet.")

    def list_watchlists(self, caller: Caller) -> Message:
        """Every watchlist with its one-line scope."""
        lines = [f"{w.id}: {w.title}. {w.summary}" for w in self.watchlists.values()]
        return Message("Watchlists", Tone.INFO, "\n".join(lines))

    def show_watchlist(self, caller: Caller, watchlist: str) -> Message:
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
            raise CommandError(f"{url!r} is not an http(s) link: {USAGE['why']}")
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

    def test(self, caller: Caller, text: str) -> Message:
        """Which watchlists a piece of text would match, with evidence."""
        if not text.strip():
            raise CommandError(f"test needs some text: {USAGE['test']}")
        verdicts = sorted(self.matcher.judge(text[:2000]), key=lambda v: -v.score)
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
        """Feed health, failing feeds first."""
        feeds = await self.store.list_feeds(active_only=True)
        failing = [f for f in feeds if f.consecutive_failures or f.disabled_reason]
        lines = [
            f"{f.name}: {f.disabled_reason or f'failing ({f.consecutive_failures} in a row)'}"
            f" — {f.last_error or ''}".rstrip(" —")
            for f in failing[:20]
        ]
        ok = len(feeds) - len(failing)
        head = f"{ok} of {len(feeds)} feeds healthy, {len(failing)} failing"
        return Message("Feeds", Tone.WARNING if failing else Tone.INFO, "\n".join([head, *lines]))

    def help(self, caller: Caller) -> Message:
        """The subcommands and their arguments."""
        lines = [f"/news {usage}" for usage in USAGE.values()]
        lines.append("subscribe, unsubscribe and digest need channel admin rights.")
        return Message("wirewatch /news", Tone.INFO, "\n".join(lines))

    # --- channel settings (admins) -------------------------------------------------------

    async def subscribe(
        self,
        caller: Caller,
        watchlist: str,
        mode: str = "alert",
        schedule: str | None = None,
        timezone: str = "UTC",
    ) -> Message:
        """Subscribe the caller's channel to a watchlist's alerts or digest."""
        self._admin(caller, "subscribe")
        w = self._watchlist(watchlist)
        if mode not in ("alert", "digest"):
            raise CommandError(f"mode must be alert or digest, not {mode!r}: {USAGE['subscribe']}")
        if mode == "alert" and schedule:
            raise CommandError('a schedule is for digests: subscribe <watchlist> digest "<cron>"')
        try:
            check_timezone(timezone)
            cron = schedule or DEFAULT_DIGEST
            if mode == "digest":
                check_cron(cron, timezone)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        sub = await self.outbox.subscribe(
            caller.channel, w.id, self.now(),
            digest=cron if mode == "digest" else None, timezone=timezone,
        )  # fmt: skip
        if sub.digest:
            when = format_utc(sub.next_digest_at) if sub.next_digest_at else "soon"
            text = (
                f'This channel gets a {w.title} digest on "{sub.digest}" ({timezone}); next {when}.'
            )
        else:
            text = f"This channel gets {w.title} alerts as they happen."
        return Message("Subscribed", Tone.INFO, text)

    async def unsubscribe(self, caller: Caller, watchlist: str) -> Message:
        """End the caller's channel's subscriptions to a watchlist."""
        self._admin(caller, "unsubscribe")
        w = self._watchlist(watchlist)
        ended = await self.outbox.unsubscribe(caller.channel, w.id)
        if not ended:
            raise CommandError(
                f"this channel has no subscription to {w.id} made with /news subscribe "
                "(subscriptions from the config file change there)"
            )
        return Message("Unsubscribed", Tone.INFO, f"No more {w.title} posts here.")

    async def subscriptions(self, caller: Caller) -> Message:
        """The caller's channel's subscriptions."""
        subs = await self.outbox.list_subscriptions(caller.channel)
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
        return Message("Subscriptions", Tone.INFO, "\n".join(lines))

    async def digest(self, caller: Caller, watchlist: str | None = None) -> Message:
        """Queue this channel's digest (of one watchlist's subscriptions, if given) now."""
        self._admin(caller, "digest")
        if watchlist is not None:
            self._watchlist(watchlist)
        subs = [
            s
            for s in await self.outbox.list_subscriptions(caller.channel)
            if s.digest and (watchlist is None or watchlist in s.watchlists)
        ]
        if not subs:
            raise CommandError(
                "this channel has no digest subscription"
                + (f" to {watchlist}" if watchlist else "")
                + ": /news subscribe <watchlist> digest first"
            )
        for sub in subs:
            await self.outbox.queue_digest_now(sub.id, self.now())
        return Message("Digest", Tone.INFO, "The digest is on its way to this channel.")

    # --- text form (Slack's one /news command) ------------------------------------------

    async def run_text(self, caller: Caller, text: str) -> Message:
        """Parse `text` as `<subcommand> <arguments>` and run it."""
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise CommandError(f"could not read the arguments ({exc}); check the quotes") from exc
        if not words:
            return self.help(caller)
        name, args = words[0].lower(), words[1:]
        if name not in USAGE:
            raise CommandError(f"unknown subcommand {name!r}; try /news help")
        if name == "search":
            return await self.search(caller, *self._search_args(args))
        if name in ("latest", "digest"):
            if len(args) > 1:
                raise CommandError(f"usage: /news {USAGE[name]}")
            target = args[0] if args else None
            return await (
                self.latest(caller, target) if name == "latest" else self.digest(caller, target)
            )
        if name in ("watchlist", "why", "unsubscribe"):
            if len(args) != 1:
                raise CommandError(f"usage: /news {USAGE[name]}")
            if name == "watchlist":
                return self.show_watchlist(caller, args[0])
            return await (
                self.why(caller, args[0]) if name == "why" else self.unsubscribe(caller, args[0])
            )
        if name == "test":
            return self.test(caller, " ".join(args))
        if name == "subscribe":
            if not 1 <= len(args) <= 4:
                raise CommandError(f"usage: /news {USAGE['subscribe']}")
            return await self.subscribe(caller, *args)
        if args:
            raise CommandError(f"usage: /news {USAGE[name]}")
        if name == "watchlists":
            return self.list_watchlists(caller)
        if name == "subscriptions":
            return await self.subscriptions(caller)
        if name == "feeds":
            return await self.feeds(caller)
        return self.help(caller)

    def watchlist_choices(self, current: str) -> list[str]:
        """Watchlist ids for autocomplete: those starting with `current`, then containing it."""
        needle = current.strip().lower()
        ids = sorted(self.watchlists)
        return [i for i in ids if i.startswith(needle)] + [
            i for i in ids if needle in i and not i.startswith(needle)
        ]

    def _search_args(self, args: list[str]) -> tuple[str, str | None, int]:
        days = 7
        watchlist = None
        if len(args) > 1 and args[-1].isdigit():
            days = int(args.pop())
        if len(args) > 1 and args[-1] in self.watchlists:
            watchlist = args.pop()
        return " ".join(args), watchlist, days

    def _watchlist(self, watchlist_id: str) -> Watchlist:
        found = self.watchlists.get(watchlist_id.strip().lower())
        if found is None:
            raise CommandError(
                f"unknown watchlist {watchlist_id!r}; the watchlists are "
                + ", ".join(sorted(self.watchlists))
            )
        return found

    def _admin(self, caller: Caller, command: str) -> None:
        if not caller.is_admin:
            raise CommandError(
                f"{command} changes this channel's settings, so it needs Manage Channels "
                "(Discord) or an admin (Slack)"
            )
