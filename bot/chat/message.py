"""The platform-neutral Message that every adapter renders, and its builders.

A Message is plain data: feed text in it is untrusted and unescaped; each adapter
escapes and formats it for its platform and enforces the platform's limits.
Messages are stored in the outbox as JSON (`message_to_json` / `message_from_json`),
so that a retry sends what the first attempt would have sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core.clock import as_utc, format_time
from bot.core.models import Match, StoryMatch, evidence_strings
from bot.core.wording import counted


class Tone(StrEnum):
    """What kind of message this is; adapters show it as colour or an emoji."""

    ALERT = "alert"
    DIGEST = "digest"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Entry:
    """One story in a message: its lead item, the watchlist it matched, and why."""

    title: str
    url: str | None
    source: str
    published: datetime | None
    watchlist: str
    score: float
    evidence: tuple[str, ...] = ()  # quoted hits, e.g. 'canola: "canola" (title)'
    also: tuple[str, ...] = ()  # other outlets that carried the same story


@dataclass(frozen=True, slots=True)
class Section:
    """A heading (e.g. a watchlist) and its entries; `more` entries were left out."""

    heading: str
    entries: tuple[Entry, ...] = ()
    more: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """Title, tone, free text, sections of entries, footer. All text is untrusted."""

    title: str
    tone: Tone
    text: str = ""
    sections: tuple[Section, ...] = ()
    footer: str = ""
    mention_role: str | None = None  # an alert's role to ping (Discord), from its subscription
    timezone: str = "UTC"  # the zone its times are shown in: its subscription's

    def links(self) -> list[str]:
        """Every entry URL in order (the render contract: each one survives rendering)."""
        return [e.url for s in self.sections for e in s.entries if e.url]


def message_to_json(message: Message) -> dict[str, Any]:
    """A JSON-ready dict; `message_from_json` reads it back to an equal Message."""
    return {
        "title": message.title,
        "tone": message.tone.value,
        "text": message.text,
        "footer": message.footer,
        "mention_role": message.mention_role,
        "timezone": message.timezone,
        "sections": [
            {
                "heading": s.heading,
                "more": s.more,
                "entries": [
                    {
                        "title": e.title,
                        "url": e.url,
                        "source": e.source,
                        "published": e.published.isoformat() if e.published else None,
                        "watchlist": e.watchlist,
                        "score": e.score,
                        "evidence": list(e.evidence),
                        "also": list(e.also),
                    }
                    for e in s.entries
                ],
            }
            for s in message.sections
        ],
    }


def message_from_json(data: dict[str, Any]) -> Message:
    """The Message `message_to_json` wrote."""
    return Message(
        title=data["title"],
        tone=Tone(data["tone"]),
        text=data.get("text", ""),
        footer=data.get("footer", ""),
        mention_role=data.get("mention_role"),
        timezone=data.get("timezone", "UTC"),
        sections=tuple(
            Section(
                heading=s["heading"],
                more=s.get("more", 0),
                entries=tuple(
                    Entry(
                        title=e["title"],
                        url=e.get("url"),
                        source=e["source"],
                        published=datetime.fromisoformat(e["published"])
                        if e.get("published")
                        else None,
                        watchlist=e["watchlist"],
                        score=e["score"],
                        evidence=tuple(e.get("evidence", ())),
                        also=tuple(e.get("also", ())),
                    )
                    for e in s["entries"]
                ),
            )
            for s in data.get("sections", ())
        ),
    )


def build_alert(story: StoryMatch, titles: Mapping[str, str]) -> Message:
    """An instant alert for one story: tone ALERT, the headline as title, the lead item's
    summary as text, and one Section per matched watchlist (best first, headed by its
    human title from `titles`, else its id) holding the lead item with that match's
    score and evidence."""
    ranked = sorted(story.matches, key=lambda m: m.score, reverse=True)
    return Message(
        title=story.item.title,
        tone=Tone.ALERT,
        text=story.item.summary,
        sections=tuple(
            Section(titles.get(m.watchlist, m.watchlist), (_entry(story, m),)) for m in ranked
        ),
    )


def grown_alert(
    alert: Message, outlets: Sequence[str], latest: datetime, *, named: int = 5
) -> Message:
    """`alert` as it reads once `outlets` (every outlet of its story, first seen first)
    carried it: each entry's `also` names the first `named` outlets other than its own
    source and counts the rest ("+3 more"); the footer counts the outlets and gives the
    time of the latest report, in the alert's time zone."""
    sections = []
    for section in alert.sections:
        entries = []
        for entry in section.entries:
            others = [o for o in outlets if o != entry.source]
            more = [f"+{len(others) - named} more"] if len(others) > named else []
            also = others[:named] + more
            entries.append(replace(entry, also=tuple(also)))
        sections.append(replace(section, entries=tuple(entries)))
    when = format_time(latest, alert.timezone)
    footer = f"{counted(len(outlets), 'outlet')} · latest report {when}"
    return replace(alert, sections=tuple(sections), footer=footer)


def followup_reply(reports: Sequence[Entry], timezone: str = "UTC") -> Message:
    """A reply in an alert's thread: the outlets that reported its story since the last
    reply (or the alert), one entry each (their own headline, link and match)."""
    names = ", ".join(dict.fromkeys(e.source for e in reports))
    return Message(
        title=f"Also reported by {names}",
        tone=Tone.INFO,
        sections=(Section("More reports", tuple(reports)),),
        timezone=timezone,
    )


def build_digest(
    stories: Sequence[StoryMatch],
    titles: Mapping[str, str],
    *,
    heading: str,
    now: datetime,
    per_section: int = 10,
    nothing_new: bool = False,
    timezone: str = "UTC",
) -> Message | None:
    """A digest of `stories`, or None when none of them matched a watchlist in `titles`
    (with `nothing_new`: an INFO message saying so instead).

    Each story is listed under every watchlist in `titles` it matched, with that
    watchlist's match; sections follow the order of `titles`, leave out watchlists with
    no story, rank by score then recency (newer first) and keep `per_section` entries,
    counting the rest in `more`. The text counts the stories and says since when; the
    footer gives `now`; times read in `timezone`.
    """
    groups = _group(stories, titles)
    footer = f"as of {format_time(now, timezone)}"
    if not groups:
        if not nothing_new:
            return None
        text = "Nothing new since the last digest."
        return Message(heading, Tone.INFO, text, footer=footer, timezone=timezone)
    placed = {story.story_id: story for group in groups.values() for story, _ in group}
    since = min(as_utc(story.first_seen) for story in placed.values())
    return Message(
        title=heading,
        tone=Tone.DIGEST,
        text=f"{counted(len(placed), 'story')} since {format_time(since, timezone)}",
        sections=tuple(
            _section(titles[watchlist], group, per_section) for watchlist, group in groups.items()
        ),
        footer=footer,
        timezone=timezone,
    )


def _entry(story: StoryMatch, match: Match) -> Entry:
    """The story's lead item as matched by `match`."""
    item = story.item
    return Entry(
        title=item.title,
        url=item.url,
        source=item.source,
        published=item.published,
        watchlist=match.watchlist,
        score=match.score,
        evidence=evidence_strings(match.evidence),
        also=story.also,
    )


def _group(
    stories: Iterable[StoryMatch], titles: Mapping[str, str]
) -> dict[str, list[tuple[StoryMatch, Match]]]:
    """Watchlist id (in the order of `titles`) → its stories, each story under every
    watchlist in `titles` it matched; watchlists with no story are left out."""
    groups: dict[str, list[tuple[StoryMatch, Match]]] = {w: [] for w in titles}
    for story in stories:
        for match in story.matches:
            if match.watchlist in groups:
                groups[match.watchlist].append((story, match))
    return {w: group for w, group in groups.items() if group}


def _section(heading: str, group: Sequence[tuple[StoryMatch, Match]], size: int) -> Section:
    """The best `size` of `group` by score, then recency; the rest counted in `more`."""
    ranked = sorted(group, key=lambda pair: (pair[1].score, _recency(pair[0])), reverse=True)
    return Section(
        heading=heading,
        entries=tuple(_entry(story, match) for story, match in ranked[:size]),
        more=max(0, len(ranked) - size),
    )


def _recency(story: StoryMatch) -> datetime:
    """When the story's lead item was published, or first seen if it carries no date."""
    return as_utc(story.item.published or story.first_seen)
