"""Messages as apprise notifications (a title and a body) in the body format a service
takes: Markdown, HTML or plain text; long messages split between stories.

Feed text is untrusted, and an apprise service may be a chat that reads mentions and
markup even in a "text" body (Mattermost, Discord), so every format gets the same
defusing first: control and invisible characters go (`bot.core.safe_text`), each field
is folded onto one line, every `@` becomes U+FF20 FULLWIDTH COMMERCIAL AT (so no
`@everyone`, `@here`, `@channel`, `@all`, `@user`, `<@123>` or `<@&123>` can ping) and a
`<` that opens `<!…>` or `<#…>` (Slack's broadcasts and channel links) becomes U+FF1C
FULLWIDTH LESS-THAN SIGN. Then the format's own escaping:

- Markdown: every character CommonMark gives a meaning (backslash, `` ` * _ ~ | [ ] ( )
  < > & # ``, and `- + =` or `1.` at the start of a line) is escaped with a backslash;
  the only links are the entries' own, `[title](url)`, whose targets are
  percent-encoded where Markdown would end them early.
- HTML: `& < > " '` become entities; the only tags are ours (`<b>`, `<a href>`, `<br>`,
  `<p>`, `<small>`), the links' targets entity-encoded.
- Text: `[` and `]` become their fullwidth forms, since several services render a
  "text" body as Markdown (Mattermost, Zulip): feed text makes no link there; the rest
  is shown as written, URLs whole on lines of their own.

A title, where the service has one, is plain text in every format; since a service may
still place it in its markup (apprise's Discord and Ryver plugins do), its `<`, `>`,
`[` and `]` become their fullwidth forms too.

URLs are never cut: a URL too long for the service's limit is left out and said so.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from bot.chat.message import Entry, Message, Section
from bot.core.clock import format_time
from bot.core.safe_text import one_line

Format = Literal["text", "markdown", "html"]
TITLE_CAP = 300  # characters of a title, even where a service takes more
FIELD_CAPS = {"title": 300, "source": 200, "evidence": 500, "also": 200}
MARK_ROOM = 8  # " (99/99)" after a title, when a message goes out in parts
MIN_BODY = 200  # a limit below this is taken as this (apprise would truncate the rest)
FULLWIDTH_AT = "\uff20"
FULLWIDTH_LT = "\uff1c"
_SPECIAL = re.compile(r"[\\`*_~|\[\]()<>&#]")
_LINE_START = re.compile(r"^([-+=]|\d+(?=[.)]))")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
_BALANCED = re.compile(r"(?:[^()]|\([^()]*\))*")
_BRACKET_OPENER = re.compile(r"<(?=[!#])")
_NO_LINKS = str.maketrans({"[": "\uff3b", "]": "\uff3d"})  # no [text](url) of feed text
_TITLE_BRACKETS = str.maketrans({"<": FULLWIDTH_LT, ">": "\uff1e", "[": "\uff3b", "]": "\uff3d"})


@dataclass(frozen=True, slots=True)
class Limits:
    """A service's sizes as apprise reports them: `body` characters per notification
    and `title` characters (0: the service has no title, so it leads the body)."""

    body: int
    title: int


@dataclass(frozen=True, slots=True)
class Notification:
    """One apprise notification: its title (plain text) and its body in the format."""

    title: str
    body: str


def defuse(text: str) -> str:
    """Feed text on one line with nothing any service reads as a mention (see the module
    docstring); markup is left for the format's escaping."""
    text = one_line(text).replace("@", FULLWIDTH_AT)
    return _BRACKET_OPENER.sub(FULLWIDTH_LT, text)


def escape(text: str, fmt: Format) -> str:
    """Feed text defused and escaped for `fmt`: shown as written, never as markup."""
    text = defuse(text)
    if fmt == "html":
        return html.escape(text, quote=True)
    if fmt == "markdown":
        text = _SPECIAL.sub(r"\\\g<0>", text)
        return _LINE_START.sub(_escape_line_start, text)
    return text.translate(_NO_LINKS)


def fit(text: str, limit: int, fmt: Format) -> str:
    """`escape(text)` if it fits in `limit` characters, else the longest escaped prefix
    of `text` that fits with a closing "…"."""
    escaped = escape(text, fmt)
    if len(escaped) <= limit:
        return escaped
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if len(escape(text[:mid].rstrip(), fmt)) + 1 <= limit:
            low = mid
        else:
            high = mid - 1
    return escape(text[:low].rstrip(), fmt) + "…"


def link_target(url: str) -> str:
    """`url` made safe as a Markdown link's target: white space, `<`, `>`, `\\` and
    non-ASCII percent-encoded, and parentheses too unless they pair up one level deep.
    Nothing is cut."""
    target = quote(url, safe=_URL_SAFE)
    if not _BALANCED.fullmatch(target):
        target = target.replace("(", "%28").replace(")", "%29")
    return target


def render(message: Message, fmt: Format, limits: Limits) -> list[Notification]:
    """The notifications for `message` in `fmt`, in order, each within `limits`.

    The title is the message's (cut to the service's title limit, or leading the body
    where the service has no title); the body holds the text, then each section's
    heading, entries (linked title; source, time and score; evidence; other outlets) and
    "+N more", then the footer. A body that would pass the limit continues in the next
    notification, between entries (an entry too long alone is shortened, its URL never
    cut), and each title then ends with "(n/N)".
    """
    body_limit = max(limits.body, MIN_BODY)
    plain_title = one_line(message.title) or "wirewatch"
    title, lead = "", ""
    budget = body_limit
    if limits.title > 0:  # plain text, but a service may show it in its markup
        safe = defuse(plain_title).translate(_TITLE_BRACKETS)
        title = _cut_plain(safe, min(limits.title, TITLE_CAP) - MARK_ROOM)
    else:  # the title leads the body, bold
        lead = fit(plain_title, min(TITLE_CAP, body_limit // 4) - MARK_ROOM, fmt)
        budget -= len(_lead(lead + " (99/99)", fmt) + _JOINERS[fmt])
    pages: list[list[str]] = [[]]
    for block in _blocks(message, fmt, budget):
        if pages[-1] and _size([*pages[-1], block], fmt) > budget:
            pages.append([])
        pages[-1].append(block)
    notifications = []
    for n, page in enumerate(pages, start=1):
        mark = f" ({n}/{len(pages)})" if len(pages) > 1 else ""
        if lead:
            notifications.append(Notification("", _join([_lead(lead + mark, fmt), *page], fmt)))
        else:
            body = _join(page, fmt) or _paragraph(escape(plain_title, fmt), fmt)
            notifications.append(Notification(title + mark, body))
    return notifications


def _blocks(message: Message, fmt: Format, budget: int) -> list[str]:
    """The body's blocks in order, each within `budget` characters."""
    blocks = []
    if one_line(message.text):
        blocks.append(_paragraph(fit(message.text, budget - 20, fmt), fmt))
    for section in message.sections:
        blocks += _section_blocks(section, message.timezone, fmt, budget)
    if one_line(message.footer):
        blocks.append(_small(fit(message.footer, min(budget - 30, 500), fmt), fmt))
    return blocks


def _section_blocks(section: Section, timezone: str, fmt: Format, budget: int) -> list[str]:
    blocks = [_paragraph(_bold(fit(section.heading or " ", min(budget - 20, 300), fmt), fmt), fmt)]
    blocks += [_entry_block(entry, timezone, fmt, budget) for entry in section.entries]
    if section.more:
        blocks.append(_paragraph(f"+{section.more} more", fmt))
    return blocks


def _entry_block(entry: Entry, timezone: str, fmt: Format, budget: int) -> str:
    """An entry within `budget`: its fields' caps halved until it fits; then without its
    URL (said so), which is never cut."""
    caps = dict(FIELD_CAPS)
    with_url = True
    while True:
        block = _entry(entry, timezone, fmt, caps, with_url)
        if len(block) <= budget:
            return block
        if caps["title"] > 40:
            caps = {k: max(20, v // 2) for k, v in caps.items()}
        elif with_url and entry.url:
            with_url = False
        else:
            return _paragraph(fit(entry.title or "(no title)", max(10, budget - 40), fmt), fmt)


def _entry(entry: Entry, timezone: str, fmt: Format, caps: dict[str, int], with_url: bool) -> str:
    label = fit(entry.title or "(no title)", caps["title"], fmt)
    url = entry.url if with_url else None
    meta = [one_line(entry.source)]
    if entry.published:
        meta.append(format_time(entry.published, timezone))
    meta.append(f"score {entry.score:g}")
    if entry.url and not with_url:
        meta.append("link too long to show")
    lines = [_link(label, url, fmt), fit(" · ".join(meta), caps["source"], fmt)]
    if fmt == "text" and url:
        lines.append(url)
    if entry.evidence:
        lines.append(fit("matched " + "; ".join(entry.evidence), caps["evidence"], fmt))
    if entry.also:
        lines.append(fit("also: " + ", ".join(entry.also), caps["also"], fmt))
    return _lines(lines, fmt)


def _link(label: str, url: str | None, fmt: Format) -> str:
    """An entry's title (already escaped), bold, linked to `url` when there is one."""
    if fmt == "html":
        bold = f"<b>{label}</b>"
        return f'<a href="{html.escape(url, quote=True)}">{bold}</a>' if url else bold
    if fmt == "markdown":  # no bare URL inside a link's label: GFM would link it
        label = label.replace("://", "\\://")
        return f"**[{label}]({link_target(url)})**" if url else f"**{label}**"
    return f"• {label}"


def _lead(escaped: str, fmt: Format) -> str:
    """A title leading the body (already escaped), bold."""
    return _paragraph(_bold(escaped, fmt), fmt)


def _bold(text: str, fmt: Format) -> str:
    return {"html": f"<b>{text}</b>", "markdown": f"**{text}**", "text": text}[fmt]


def _paragraph(text: str, fmt: Format) -> str:
    return f"<p>{text}</p>" if fmt == "html" else text


def _small(text: str, fmt: Format) -> str:
    return f"<p><small>{text}</small></p>" if fmt == "html" else text


def _lines(lines: list[str], fmt: Format) -> str:
    """Lines of one block: `<br>` between them in HTML; in Markdown, a hard break."""
    if fmt == "html":
        return "<p>" + "<br>".join(lines) + "</p>"
    if fmt == "markdown":
        return "  \n".join(lines)
    return "\n".join([lines[0], *("  " + line for line in lines[1:])])


_JOINERS: dict[Format, str] = {"html": "\n", "markdown": "\n\n", "text": "\n\n"}


def _join(blocks: list[str], fmt: Format) -> str:
    return _JOINERS[fmt].join(blocks)


def _size(blocks: list[str], fmt: Format) -> int:
    return len(_join(blocks, fmt))


def _cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def _escape_line_start(match: re.Match[str]) -> str:
    r"""`- ` → `\- `, `1. ` → `1\. ` (a backslash before a digit would show)."""
    mark = match.group(1)
    return f"{mark}\\" if mark[0].isdigit() else f"\\{mark}"
