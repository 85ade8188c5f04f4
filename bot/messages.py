"""The platform-neutral Message that every adapter renders, and its builders.

A Message is plain data: feed text in it is untrusted and unescaped; each adapter
escapes and formats it for its platform and enforces the platform's limits.
Messages are stored in the outbox as JSON (`message_to_json` / `message_from_json`),
so that a retry sends what the first attempt would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


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
