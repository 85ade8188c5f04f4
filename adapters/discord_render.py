"""Messages as Discord embeds: feed text made inert, every limit kept, long digests split.

Feed text is untrusted. Invisible characters are dropped and control characters become
spaces (newlines kept), by the one list of `bot.core.safe_text`. Every character
Discord's markdown gives a meaning (backslash, `* _ ~ |`, backtick, `[ ] ( ) < >`, and
`# - +` or `1.` at the start of a line) is escaped with a backslash, so a headline can
neither format itself, open a masked link, nor write a `<@…>`, `<@&…>`, `<#…>` or `<t:…>`;
`@everyone` and `@here` get a zero-width joiner after the `@`. A bare URL stays a working
link: it is wrapped in `<…>` (so that an escape after it cannot become part of it), and
ends before any of `[ ] < > |`, backtick or backslash. In a link's label even URLs are
escaped, `://` included. The only masked
links are the entries' own, whose targets are percent-encoded so that nothing in them can
close the link early; they are never cut. Footers are plain text to Discord (no markdown,
no mentions) and are only cleaned. Whatever the text, nothing pings: every send carries
`allowed_mentions` with nothing to parse but an alert's configured role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.chat.message import Entry, Message, Tone
from bot.core.clock import format_time
from bot.core.safe_text import without_controls

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
MAX_EMBEDS = 10
MESSAGE_LIMIT = 6000  # titles, descriptions and footers of all the embeds of one message
FOOTER_TEXT = 200  # the message's footer is cut to this, leaving room for "· 2/3"
LABEL_LIMIT = 300  # an entry's linked title
LINK_LIMIT = 2500  # a longer URL is shown without a link rather than cut
CONTINUED = " (continued)"
COLOURS = {
    Tone.ALERT: 0xE74C3C,
    Tone.DIGEST: 0x3498DB,
    Tone.INFO: 0x5865F2,
    Tone.WARNING: 0xF1C40F,
    Tone.ERROR: 0x992D22,
}
ZWJ = "\u200d"

# A bare URL as Discord finds one, except that it also ends before a character that is
# markup to Discord (those are escaped after it, as prose).
_URL = re.compile(r"(?:https?|steam)://[^\s<>\[\]|`\\]*[^\s<>\[\]|`\\.,:;\"')]")
_SPECIAL = re.compile(r"[\\*_~|`\[\]()<>]")
_LINE_START = re.compile(r"^([ \t]*)([#+-]|\d+(?=\.))", re.MULTILINE)
_BROADCAST = re.compile(r"@(everyone|here)")
_BALANCED = re.compile(r"(?:[^()]|\([^()]*\))*")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One Discord message: `content` (empty, or the alert's role mention) and its embeds
    as API dicts; `role` is the one role it may ping (the mention in `content`)."""

    content: str
    embeds: tuple[dict[str, Any], ...]
    role: int | None = None


def clean(text: str) -> str:
    """Feed text with no control or invisible character (`bot.core.safe_text`; newlines
    kept, other controls as spaces): no zero-width or bidi character survives to hide or
    reorder text."""
    return without_controls(text.replace("\r\n", "\n"), keep_newlines=True)


def plain(text: str) -> str:
    """`clean` text on one line, white space folded."""
    return " ".join(clean(text).split())


def escape(text: str, *, label: bool = False) -> str:
    """Clean text made inert for Discord markdown (see the module docstring). With
    `label` (the text of a masked link) bare URLs are escaped too, `://` included, so a
    label never shows as a link of its own."""
    if label:
        return _broadcasts(_SPECIAL.sub(r"\\\g<0>", text).replace("://", "\\://"))
    parts, start = [], 0
    for url_start, url_end in _urls(text):
        parts += [_escape_prose(text[start:url_start]), f"<{text[url_start:url_end]}>"]
        start = url_end
    parts.append(_escape_prose(text[start:]))
    return _LINE_START.sub(_escape_line_start, "".join(parts))


def fit(text: str, limit: int, *, label: bool = False) -> str:
    """`escape(text)` if it fits in `limit` characters; else the longest escaped prefix of
    `text` that fits with a closing "…", never cutting inside a bare URL."""
    escaped = escape(text, label=label)
    if len(escaped) <= limit:
        return escaped
    low, high = 0, len(text)
    while low < high:  # the longest prefix whose escaped form and "…" fit
        mid = (low + high + 1) // 2
        if len(escape(text[:mid].rstrip(), label=label)) + 1 <= limit:
            low = mid
        else:
            high = mid - 1
    cut = low
    if not label:
        cut = next((start for start, end in _urls(text) if start < cut < end), cut)
    return escape(text[:cut].rstrip(), label=label) + "…"


def link_target(url: str) -> str:
    """`url` made safe as a masked link's target: white space, `<`, `>`, `\\` and
    non-ASCII percent-encoded, and parentheses too unless they pair up one level deep
    (as Discord's parser needs). Nothing is cut."""
    target = quote(url, safe=_URL_SAFE)
    if not _BALANCED.fullmatch(target):
        target = target.replace("(", "%28").replace(")", "%29")
    return target


def render(message: Message) -> list[DiscordMessage]:
    """The Discord messages for `message`, in order.

    A first embed holds the title and the text, coloured by tone; each section is an
    embed headed by its heading, its entries in the description (linked title, then
    source, time and score, the evidence, the other outlets) and "+N more". An embed
    that fills up continues in another ("… (continued)"); a message that would pass 10
    embeds or 6000 characters continues in the next, and then every part's footer ends
    with "n/N". An alert with a `mention_role` names it in the first part's content.
    """
    book = _Book(COLOURS[message.tone], reserve=FOOTER_TEXT + 12)
    book.open(fit(plain(message.title), TITLE_LIMIT) or "wirewatch", "")
    if clean(message.text).strip():
        book.add(fit(clean(message.text).strip(), DESCRIPTION_LIMIT))
    for section in message.sections:
        heading = plain(section.heading)
        continued = (fit(heading, TITLE_LIMIT - len(CONTINUED)) + CONTINUED).lstrip()
        book.open(fit(heading, TITLE_LIMIT), continued)
        for entry in section.entries:
            book.add(entry_block(entry, message.timezone))
        if section.more:
            book.add(f"+{section.more} more")
    pages = book.close()
    footer = _cut_plain(plain(message.footer), FOOTER_TEXT)
    for n, page in enumerate(pages, start=1):
        mark = f"{n}/{len(pages)}" if len(pages) > 1 else ""
        text = " · ".join(part for part in (footer, mark) if part)
        if text:
            page[-1]["footer"] = {"text": text}
    role = int(message.mention_role) if message.mention_role else None
    return [
        DiscordMessage(
            content=f"<@&{role}>" if role and n == 0 else "",
            embeds=tuple(page),
            role=role if n == 0 else None,
        )
        for n, page in enumerate(pages)
    ]


def entry_block(entry: Entry, timezone: str) -> str:
    """An entry as description lines: its title, bold and linked (the URL whole; a URL
    too long for Discord is left out and said so), then source · time · score, the
    evidence and the other outlets, each line cut to its own limit."""
    label = fit(plain(entry.title) or "(no title)", LABEL_LIMIT, label=True)
    target = link_target(entry.url) if entry.url else ""
    lines = [f"**[{label}]({target})**" if 0 < len(target) <= LINK_LIMIT else f"**{label}**"]
    meta = [plain(entry.source)]
    if entry.published:
        meta.append(format_time(entry.published, timezone))
    meta.append(f"score {entry.score:g}")
    if len(target) > LINK_LIMIT:
        meta.append("link too long to show")
    lines.append(fit(" · ".join(meta), 300))
    if entry.evidence:
        lines.append(fit("matched " + plain("; ".join(entry.evidence)), 500))
    if entry.also:
        lines.append(fit("also: " + plain(", ".join(entry.also)), 200))
    return "\n".join(lines)


class _Book:
    """Embeds filled in order and bound into messages within Discord's limits; each
    message keeps `reserve` characters free for its footer. An embed is only started
    with its first block, so a heading never ends a message without its entries."""

    def __init__(self, colour: int, reserve: int) -> None:
        self.colour = colour
        self.budget = MESSAGE_LIMIT - reserve
        self.pages: list[list[dict[str, Any]]] = [[]]
        self.pending: str | None = None  # the title of the embed the next block starts
        self.continued = ""

    def open(self, title: str, continued: str) -> None:
        """Start an embed titled `title`; when it fills up, the next is `continued`."""
        self._flush()
        self.pending, self.continued = title, continued

    def add(self, block: str) -> None:
        """Append `block` (at most DESCRIPTION_LIMIT characters) to the current embed, or
        to a continuation embed, in this message or the next."""
        if self.pending is not None:
            self._new_embed(self.pending, block)
            self.pending = None
            return
        embed = self.pages[-1][-1]
        description = embed["description"]
        joined = f"{description}\n\n{block}"
        if len(joined) <= DESCRIPTION_LIMIT and self._size() + len(block) + 2 <= self.budget:
            embed["description"] = joined
        else:
            self._new_embed(self.continued, block)

    def close(self) -> list[list[dict[str, Any]]]:
        """The messages' embeds, in order."""
        self._flush()
        return [page for page in self.pages if page]

    def _flush(self) -> None:
        """An opened embed that got no block still shows its title (if it has one)."""
        if self.pending:
            self._new_embed(self.pending, "")
        self.pending = None

    def _new_embed(self, title: str, description: str) -> None:
        page = self.pages[-1]
        if len(page) >= MAX_EMBEDS or self._size() + len(title) + len(description) > self.budget:
            page = []
            self.pages.append(page)
        embed: dict[str, Any] = {"type": "rich", "color": self.colour}
        if title:
            embed["title"] = title
        if description:
            embed["description"] = description
        page.append(embed)

    def _size(self) -> int:
        return sum(len(e.get("title", "")) + len(e.get("description", "")) for e in self.pages[-1])


def _escape_line_start(match: re.Match[str]) -> str:
    r"""`# ` → `\# `, `- ` → `\- `, `1. ` → `1\. ` (a backslash before a digit would show)."""
    indent, mark = match.groups()
    return f"{indent}{mark}\\" if mark[0].isdigit() else f"{indent}\\{mark}"


def _urls(text: str) -> list[tuple[int, int]]:
    """Where the bare URLs of `text` start and end, as Discord finds them, except that a
    closing parenthesis that pairs with one inside the URL belongs to it (Wikipedia)."""
    spans = []
    for url in _URL.finditer(text):
        end = url.end()
        if text[end : end + 1] == ")" and url.group().count("(") > url.group().count(")"):
            end += 1
        spans.append((url.start(), end))
    return spans


def _escape_prose(text: str) -> str:
    return _broadcasts(_SPECIAL.sub(r"\\\g<0>", text))


def _broadcasts(text: str) -> str:
    return _BROADCAST.sub(f"@{ZWJ}\\1", text)


def _cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
