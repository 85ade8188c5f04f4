"""Terminal output: new matches grouped by watchlist, a progress bar and a cycle summary.

With a TTY, rich renders a progress bar and a summary table; without one, plain lines.
Feed text is untrusted: it is printed as text, never as rich markup, and every string
that came from outside (titles, sources, links, feed names and URLs, error texts,
evidence quotes, example titles) passes through `bot.core.safe_text.one_line` on its way
to the terminal, so no control character (an ANSI escape that clears the screen or sets
the window title) or invisible character reaches it, even from rows stored before the
parser removed them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from bot.core.clock import format_time, format_utc
from bot.core.config import DEFAULT_STALE_AFTER
from bot.core.models import (
    CycleSummary,
    Delivery,
    Evidence,
    FeedState,
    Outcome,
    PollResult,
    Report,
    Subscription,
    evidence_strings,
)
from bot.core.safe_text import one_line
from bot.core.wording import counted
from bot.feeds.feed_health import refused_hint, stale_reason
from bot.matching.evaluation import Evaluation
from bot.matching.watchlists import Watchlist


def evidence_line(evidence: Iterable[Evidence]) -> str:
    """`canola: "canola" (title); trade: "tariffs" (title, fuzzy 91)`, on one inert line."""
    return one_line("; ".join(evidence_strings(evidence)))


def print_reports(
    console: Console, reports: Sequence[Report], watchlists: Sequence[Watchlist]
) -> None:
    """New matches grouped by watchlist: title, source, time, link, evidence."""
    titles = {w.id: w.title for w in watchlists}
    grouped: dict[str, list[Report]] = defaultdict(list)
    for report in reports:
        grouped[report.match.watchlist].append(report)
    for watchlist_id in sorted(grouped):
        found = sorted(grouped[watchlist_id], key=lambda r: -r.match.score)
        header = Text(
            one_line(f"{titles.get(watchlist_id, watchlist_id)} [{watchlist_id}]"),
            style="bold cyan",
        )
        header.append(f"  {len(found)} new", style="dim")
        console.print(header)
        for report in found:
            item, match = report.item, report.match
            line = Text("  • ")
            line.append("ALERT " if match.alert else "", style="bold red")
            line.append(one_line(item.title) or "(no title)", style="bold")
            console.print(line)
            when = format_utc(item.published) if item.published else "undated"
            source = one_line(item.source)
            console.print(Text(f"    {source} · {when} · score {match.score:g}", style="dim"))
            if item.url:
                console.print(Text(f"    {one_line(item.url)}", style="blue"))
            console.print(Text(f"    matched {evidence_line(match.evidence)}", style="green"))


def print_summary(
    console: Console,
    summary: CycleSummary,
    elapsed: float,
    *,
    name_failures: bool = True,
    max_item_age: timedelta | None = None,
) -> None:
    """The cycle's counts; what a first poll recorded as its baseline, and how many
    matched items were too old to report; (`name_failures`) each failing feed's error.

    A long-running bot leaves failures out: a dead feed's place is its health line in
    `wirewatch feeds` and one log line when its state changes, not every cycle.
    """
    failed = [p for p in summary.polls if p.outcome in (Outcome.FAILED, Outcome.GONE)]
    counts = {o: summary.count(o) for o in Outcome}
    if console.is_terminal:
        table = Table(title=f"Poll cycle ({elapsed:.1f} s)", show_header=True)
        for label in ("feeds", "ok", "unchanged", "not modified", "failed", "new items", "matches"):
            table.add_column(label, justify="right")
        table.add_row(
            str(len(summary.polls)),
            str(counts[Outcome.OK]),
            str(counts[Outcome.UNCHANGED]),
            str(counts[Outcome.NOT_MODIFIED]),
            str(len(failed)),
            str(summary.new_items),
            str(len(summary.reports)),
        )
        console.print(table)
    else:
        console.print(
            f"cycle: {counted(len(summary.polls), 'feed')}, {counts[Outcome.OK]} ok, "
            f"{counts[Outcome.UNCHANGED]} unchanged, {counts[Outcome.NOT_MODIFIED]} not modified, "
            f"{len(failed)} failed; {counted(summary.new_items, 'new item')}, "
            f"{counted(len(summary.reports), 'match')} in {elapsed:.1f} s",
            markup=False,
            highlight=False,
        )
    for line in _unreported(summary, max_item_age):
        console.print(Text(line))
    for poll in failed if name_failures else ():
        feed = poll.feed
        text = one_line(f"failed: {feed.name} ({feed.url}): {poll.fetch.error}")
        console.print(Text(f"  {text}", style="yellow"))


def _unreported(summary: CycleSummary, max_item_age: timedelta | None) -> list[str]:
    """Why new items went unreported: a first poll's baseline, or their age."""
    lines = []
    if summary.baseline_feeds:
        matched = (
            f" ({counted(summary.baseline_matched, 'item')} would have matched: see "
            "`wirewatch backtest`)"
            if summary.baseline_matched
            else ""
        )
        lines.append(
            f"first poll of {counted(summary.baseline_feeds, 'feed')}: "
            f"{counted(summary.baseline_items, 'item')} recorded as the baseline, not "
            f"reported{matched}; new items are reported from the next poll on"
        )
    if summary.stale_matched:
        age = f" ({_duration(max_item_age)})" if max_item_age else ""
        lines.append(
            f"{counted(summary.stale_matched, 'matched item')} published longer ago than "
            f"poll.max_item_age{age}: stored, not reported"
        )
    return lines


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class CycleProgress:
    """A progress bar over one cycle's feeds on a TTY; nothing otherwise."""

    def __init__(self, console: Console) -> None:
        self.progress: Progress | None = None
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("polling"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
        self.task: TaskID | None = None

    def start(self, total: int) -> None:
        """Show the bar for `total` feeds (again: the total grew, more were claimed)."""
        if self.progress is None:
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("poll", total=total)
        else:
            self.progress.update(self.task, total=total)

    def advance(self, _poll: PollResult) -> None:
        """One more feed done."""
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def stop(self) -> None:
        """Remove the bar."""
        if self.progress is not None:
            self.progress.stop()


def print_feed_health(
    console: Console,
    feeds: Sequence[FeedState],
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> None:
    """`wirewatch feeds`: one line per feed, failing feeds first; a feed whose last parse
    had something to say (items cut, a wrong charset) says it under its status. A site
    refusing the bot (401, 403) is told apart from other failures, with what to do, and
    a feed that answers with no item, or only items older than `stale_after`, is stale,
    not ok. Each feed shows its id and origin (what `feeds remove|disable|enable` take
    and allow)."""
    now = now or datetime.now(UTC)
    if not console.is_terminal:
        for feed in feeds:  # tab-separated, for scripts: no field holds a tab or a newline
            state = _status(feed, now, stale_after)
            console.file.write(
                f"{one_line(state)}\t{one_line(feed.name)}\t{one_line(feed.url)}\t"
                f"last success {_ago(feed.last_success_at, now)}\t"
                f"fails {feed.consecutive_failures}\tnext {_next_poll(feed, now)}\t"
                f"items {feed.items_seen}\t{one_line(feed.last_error or '')}\t"
                f"{one_line(feed.parse_warning or '')}\tid {feed.id}\t{one_line(feed.origin)}\n"
            )
        return
    table = Table(show_header=True, expand=False)
    for label in ("feed", "status", "last success", "last error", "fails", "next poll", "items"):
        table.add_column(label, overflow="fold")
    for feed in feeds:
        status = Text(one_line(_status(feed, now, stale_after)))
        if feed.parse_warning:
            status.append(f"\n{one_line(feed.parse_warning)}", style="yellow")
        name = Text(f"{one_line(feed.name)}\n{one_line(feed.url)}\n")
        name.append(f"#{feed.id} · {one_line(feed.origin)}", style="dim")
        table.add_row(
            name,
            status,
            _ago(feed.last_success_at, now),
            Text(one_line(f"{_ago(feed.last_error_at, now)} {feed.last_error or ''}")),
            str(feed.consecutive_failures),
            _next_poll(feed, now),
            str(feed.items_seen),
        )
    console.print(table)


def _status(feed: FeedState, now: datetime, stale_after: timedelta) -> str:
    if not feed.active:
        return "inactive"
    if feed.disabled_reason:
        reason = feed.disabled_reason
        return reason if reason.startswith("disabled") else f"disabled: {reason}"
    if feed.consecutive_failures:
        hint = refused_hint(feed)
        return f"failing: {hint}" if hint else "failing"
    if feed.last_success_at is None:
        return "new" + ("" if feed.verified else " (unverified)")
    return stale_reason(feed, now, stale_after) or "ok"


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


def _next_poll(feed: FeedState, now: datetime) -> str:
    if feed.disabled_reason or not feed.active:
        return "—"
    due = max((t for t in (feed.next_poll_at, feed.hold_until) if t), default=None)
    if due is None or due <= now:
        return "due"
    seconds = int((due - now).total_seconds())
    return f"in {seconds // 60}m" if seconds >= 60 else f"in {seconds}s"


def print_evaluation(console: Console, result: Evaluation, *, show_misses: bool = True) -> None:
    """Scores per watchlist, then per language, then each false positive and false negative
    with what the watchlist lacked (or matched on) and its evidence."""
    decisions = "decision" if result.either == 1 else "decisions"
    either = f"; {result.either} {decisions} counted either way" if result.either else ""
    table = Table(title=f"{result.examples} examples{either}", show_header=True)
    for label in ("watchlist", "precision", "recall", "F1", "TP", "FP", "FN"):
        table.add_column(label, justify="right")
    for s in result.scores:
        table.add_row(
            s.name,
            f"{s.precision:.3f}",
            f"{s.recall:.3f}",
            f"{s.f1:.3f}",
            str(s.true_positives),
            str(s.false_positives),
            str(s.false_negatives),
        )
    console.print(table)
    if len(result.languages) > 1 or any(s.name != "?" for s in result.languages):
        console.print(Text("by language (all watchlists' decisions together):", style="bold"))
        for s in result.languages:
            line = (
                f"{one_line(s.name):<3} {s.examples:>4} examples  P {s.precision:.3f}"
                f"  R {s.recall:.3f}  F1 {s.f1:.3f}  (TP {s.true_positives},"
                f" FP {s.false_positives}, FN {s.false_negatives})"
            )
            console.print(Text(f"  {line}"))
    if not show_misses:
        return
    for miss in result.misses:
        verdict = miss.verdict
        lang = f" ({miss.example.lang})" if miss.example.lang else ""
        where = one_line(f"{miss.kind} [{miss.watchlist}] {miss.example.where}{lang}")
        console.print(Text(where, style="bold"))
        console.print(Text(f"  {one_line(miss.example.title)}"))
        if miss.needed:
            console.print(Text(f"  {one_line(miss.needed)}"))
        if verdict is None:
            if not miss.needed:
                console.print(Text("  no alias of this watchlist appears", style="dim"))
            continue
        state = "rule holds" if verdict.rule_ok else "rule fails"
        console.print(
            Text(
                f"  score {verdict.score:g} (threshold {verdict.watchlist.threshold:g}),"
                f" {state}; {evidence_line(verdict.evidence)}",
                style="dim",
            )
        )


def print_subscriptions(
    console: Console,
    subs: Sequence[Subscription],
    counts: Mapping[str, int],
    failures: Sequence[Delivery],
) -> None:
    """`wirewatch subscriptions`: each subscription and whether it delivers, the outbox
    by state, and the latest failures with their reasons. Tab-separated lines, also for
    scripts: no field holds a tab, a newline or another control character."""
    out = console.file
    if not subs:
        out.write("no subscriptions: add some under `subscriptions:` in wirewatch.yaml\n")
    for sub in subs:
        state = f"STOPPED: {one_line(sub.disabled_reason)}" if sub.disabled_reason else "ok"
        modes = ["alerts"] if sub.alerts else []
        if sub.digest:
            upcoming = (
                format_time(sub.next_digest_at, sub.timezone) if sub.next_digest_at else "not set"
            )
            modes.append(f'digest "{sub.digest}" {sub.timezone} (next {upcoming})')
        fields = [state, str(sub.channel), ", ".join(sub.watchlists), " + ".join(modes)]
        fields.append(sub.origin)
        if sub.quiet_hours:
            fields.append(f"quiet {sub.quiet_hours}")
        out.write("\t".join(one_line(field) for field in fields) + "\n")
    summary = ", ".join(f"{counts[k]} {k}" for k in sorted(counts)) or "empty"
    out.write(f"outbox: {summary}\n")
    for delivery in failures:
        fields = [str(delivery.channel), delivery.kind, delivery.last_error or ""]
        out.write(
            f"failed\t{format_utc(delivery.created_at)}\t"
            + "\t".join(one_line(field) for field in fields)
            + "\n"
        )


def print_deliveries(console: Console, deliveries: Sequence[Delivery]) -> None:
    """`wirewatch deliveries`: one line per delivery, newest first: id, state, channel,
    kind, what it carries, attempts, when queued, the last error. Tab-separated."""
    out = console.file
    if not deliveries:
        out.write("no deliveries\n")
    for delivery in deliveries:
        payload = delivery.payload or {}
        title = payload.get("title") if isinstance(payload, dict) else None
        fields = [
            str(delivery.id),
            delivery.state.value,
            delivery.channel,
            delivery.kind,
            str(title or (f"story {delivery.story_id}" if delivery.story_id else "digest")),
            f"attempts {delivery.attempts}",
            f"queued {format_utc(delivery.created_at)}",
            delivery.last_error or "",
        ]
        out.write("\t".join(one_line(field) for field in fields) + "\n")
