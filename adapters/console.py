"""The console adapter: messages printed as plain text, the default with no chat platform.

Feed text is untrusted and nothing here interprets markup: rich markup such as
`[bold red]` comes out as typed. Control characters (ANSI escapes included) become
spaces and invisible characters (zero-width, bidi overrides, tag characters: the list
of `bot.core.safe_text`) are dropped, so a headline can neither drive the terminal nor
fake a line of its own. Lines are cut to
LINE_LIMIT characters with "…"; a URL is always printed whole, on a line of its own.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.chat.adapter import PartSent, SendOnly
from bot.chat.message import Entry, Message, Section
from bot.core.channels import ChannelRef
from bot.core.clock import format_time
from bot.core.errors import DeliveryError
from bot.core.safe_text import one_line

LINE_LIMIT = 1000  # characters per printed line, URL lines excepted
_INDENT = "    "


class ConsoleAdapter(SendOnly):
    """Implements bot.chat.adapter.Adapter for the terminal: every channel is the one stream."""

    platform = "console"
    min_interval = 0.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.sent = 0

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """Print `message` and a blank line; return `console-<n>` for the n-th message.

        A message is one part here, so `skip` is always 0 and `on_part` never called.
        A closed pipe (or any other OSError of the stream) raises a retryable DeliveryError.
        """
        try:
            self.stream.write(render(message) + "\n")
            self.stream.flush()
        except OSError as error:
            raise DeliveryError(f"console output failed: {error}", retryable=True) from error
        self.sent += 1
        return f"console-{self.sent}"

    async def check_connection(self) -> str | None:
        """The terminal is always there."""
        return None

    async def close(self) -> None:
        """Nothing to release: the stream is not ours to close."""


def render(message: Message) -> str:
    """The message as inert plain text ending in a newline: the tone and title, the text,
    each section's heading, entries and "+N more", then the footer; each field folded
    onto one line."""
    marker, title = message.tone.value.upper(), one_line(message.title)
    lines = [_line("", f"{marker} · {title}" if title else marker)]
    if one_line(message.text):
        lines.append(_line("", message.text))
    for section in message.sections:
        lines += ["", *_section_lines(section, message.timezone)]
    if message.footer:
        lines += ["", _line("", message.footer)]
    return "\n".join(lines) + "\n"


def _section_lines(section: Section, timezone: str) -> list[str]:
    lines = [_line("", section.heading)]
    for entry in section.entries:
        lines += _entry_lines(entry, timezone)
    if section.more:
        lines.append(f"  +{section.more} more")
    return lines


def _entry_lines(entry: Entry, timezone: str) -> list[str]:
    """Title; source, time and score; the URL whole; the evidence; the other outlets."""
    when = format_time(entry.published, timezone) if entry.published else "undated"
    lines = [
        _line("  • ", entry.title or "(no title)"),
        _line(_INDENT, f"{one_line(entry.source)} · {when} · score {entry.score:g}"),
    ]
    if entry.url:
        lines.append(_INDENT + one_line(entry.url))
    if entry.evidence:
        lines.append(_line(_INDENT, "matched " + "; ".join(entry.evidence)))
    if entry.also:
        lines.append(_line(_INDENT, "also: " + ", ".join(entry.also)))
    return lines


def _line(indent: str, text: str) -> str:
    """`indent` and `text` on one inert line, cut to LINE_LIMIT characters with "…"."""
    line = indent + one_line(text)
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1].rstrip() + "…"
