"""The render contract every adapter passes, and the message builders it renders.

An adapter joins the contract with one entry in CONTRACTS: how it renders a Message
into platform payloads, the platform's limits, the text a reader sees, the text the
platform parses, and the platform's own check that hostile feed text in it is inert.
Every contract is run against every message in MESSAGES (hostile text, extreme sizes).
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import apprise_render, discord_render, slack
from adapters.console import LINE_LIMIT, ConsoleAdapter, render
from bot.chat.adapter import Adapter
from bot.chat.message import (
    Entry,
    Message,
    Section,
    Tone,
    build_alert,
    build_digest,
    message_from_json,
    message_to_json,
)
from bot.core.channels import ChannelRef
from bot.core.errors import DeliveryError
from bot.core.models import Evidence, Item, Match, StoryMatch, evidence_strings
from bot.core.safe_text import CONTROLS, INVISIBLE


@dataclass(frozen=True, slots=True)
class Contract:
    """One platform's side of the contract."""

    name: str
    render: Callable[[Message], Sequence[object]]  # the platform payloads, in order
    check_limits: Callable[[Sequence[object]], None]  # AssertionError when a limit is broken
    visible_text: Callable[[Sequence[object]], str]  # what a reader sees, formatting applied
    source_text: Callable[[Sequence[object]], str]  # what the platform parses (markup, mentions)
    assert_inert: Callable[[str], None]  # AssertionError when source text could ping or inject


# --- console ------------------------------------------------------------------------------

_URL_LINE = re.compile(r" *https?://\S+")


def console_payloads(message: Message) -> list[object]:
    """One string per message."""
    return [render(message)]


def console_text(payloads: Sequence[object]) -> str:
    """The printed text: what the terminal shows is exactly what was written."""
    texts = [p for p in payloads if isinstance(p, str)]
    assert len(texts) == len(payloads)
    return "".join(texts)


def check_console_limits(payloads: Sequence[object]) -> None:
    """One string, ending in a newline; no line but a URL's longer than LINE_LIMIT."""
    (text,) = payloads
    assert isinstance(text, str) and text.endswith("\n")
    for line in text.splitlines():
        assert len(line) <= LINE_LIMIT or _URL_LINE.fullmatch(line), line[:80]


def assert_console_inert(text: str) -> None:
    """No control character but the newline, no invisible character (format characters,
    Hangul fillers, lone surrogates): nothing that could drive the terminal or hide text.
    (Rich markup and mentions mean nothing here.)"""
    for ch in text:
        if ch != "\n":
            assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs"), repr(ch)
            assert not CONTROLS.match(ch) and not INVISIBLE.match(ch), repr(ch)


# --- slack --------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>")
_SLACK_OUR_LINK = re.compile(r"<https?://[^\s<>|]+\|([^<>]*)>")
_SLACK_OUR_BOLD = re.compile(r"^(?:• )?\*(.*)\*$", re.MULTILINE)  # a heading, an entry's link
_SLACK_UNDO_LOOK_ALIKES = str.maketrans(
    {alike: marker for marker, alike in slack.LOOK_ALIKES.items() if marker.isascii()}
)


def slack_texts(payloads: Sequence[object], *, parsed_only: bool = False) -> list[str]:
    """Every text in `chat.postMessage` arguments, in order; with `parsed_only`, just the
    ones Slack parses for markup, mentions and links (mrkdwn and the fallback, not
    plain_text)."""
    texts: list[str] = []
    for payload in payloads:
        assert isinstance(payload, dict)
        texts.append(payload["text"])
        for block in payload["blocks"]:
            objects = block["elements"] if block["type"] == "context" else [block["text"]]
            for obj in objects:
                assert obj["type"] in ("plain_text", "mrkdwn")
                assert obj["type"] == "plain_text" or obj.get("verbatim") is True
                if not (parsed_only and obj["type"] == "plain_text"):
                    texts.append(obj["text"])
    return texts


def check_slack_limits(payloads: Sequence[object]) -> None:
    """≤50 blocks a message, header ≤150, section ≤3000, context ≤10 elements, fallback
    text present; every block of a known type."""
    for payload in payloads:
        assert isinstance(payload, dict) and payload["text"]
        assert len(payload["text"]) <= slack.TEXT_LIMIT
        assert 1 <= len(payload["blocks"]) <= slack.MAX_BLOCKS
        for block in payload["blocks"]:
            if block["type"] == "header":
                assert block["text"]["type"] == "plain_text"
                assert 1 <= len(block["text"]["text"]) <= slack.HEADER_LIMIT
            elif block["type"] == "section":
                assert 1 <= len(block["text"]["text"]) <= slack.SECTION_LIMIT
            else:
                assert block["type"] == "context" and len(block["elements"]) <= 10
                assert all(len(e["text"]) <= slack.SECTION_LIMIT for e in block["elements"])


def slack_visible(payloads: Sequence[object]) -> str:
    """What a reader sees: links shown as their label and target, escapes undone,
    look-alikes read as the characters they look like."""
    text = "\n".join(slack_texts(payloads))
    text = _SLACK_LINK.sub(lambda m: f"{m[2]} {m[1]}", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.translate(_SLACK_UNDO_LOOK_ALIKES)


def assert_slack_inert(text: str) -> None:
    """Once our own bold (a heading, an entry's linked title) and our own links (to an
    http(s) target; their labels kept) are taken out, Slack would parse nothing left: no
    `<…>` (so no `<!channel>`, `<!here>`, `<@U…>`, `<#C…>`, `<!subteam^…>`, `<!date…>`
    or link feed text made), no formatting marker (`* _ ~` and backtick, or their
    fullwidth forms), no quote starting a line, no `:emoji:` code, no `@everyone`,
    `@here` or `@channel`; and no control or invisible character anywhere."""
    rest = _SLACK_OUR_LINK.sub(r"\1", _SLACK_OUR_BOLD.sub(r"\1", text))
    assert "<" not in rest and ">" not in rest, rest[:200]
    assert not re.search("[*_~`\uff0a\uff3f\uff5e\uff40]", rest), rest[:200]
    assert not re.search("^[ \t]*(?:&gt;|\uff1e)", rest, re.MULTILINE), rest[:200]
    assert not re.search(":[^\\s:\u2236]+:", rest), rest[:200]
    assert not re.search("@(?:everyone|here|channel)", rest, re.IGNORECASE), rest[:200]
    assert_console_inert(text)


# --- discord ------------------------------------------------------------------------------

_DISCORD_ESCAPE = r"\\[^0-9A-Za-z\s]"
_DISCORD_LINK = r"\[((?:\\.|[^\[\]\\])*)\]\(((?:\([^()\s]*\)|[^\s()\\])+)\)"
_DISCORD_OUR_LINK = r"\*\*\[(?:\\.|[^\[\]\\])*\]\(https?://(?:\([^()\s]*\)|[^\s()\\])+\)\*\*"
_DISCORD_AUTOLINK = r"<(https?://[^\s<>]+)>"
_DISCORD_TARGET = r"\]\(https?://(?:\([^()\s]*\)|[^\s()\\])+\)"  # a masked link's target
_DISCORD_BLOCK = re.compile(r"^[ \t]*(?:#{1,3}\s|-#\s|[-*+]\s|>|\d+\.\s)", re.MULTILINE)


def discord_texts(payloads: Sequence[object], *, parsed_only: bool = False) -> list[str]:
    """Every text of the messages, in order; with `parsed_only`, just the ones Discord
    parses for markdown and mentions (content, titles, descriptions, fields: not
    footers)."""
    texts: list[str] = []
    for payload in payloads:
        assert isinstance(payload, discord_render.DiscordMessage)
        texts.append(payload.content)
        for embed in payload.embeds:
            texts += [embed.get("title", ""), embed.get("description", "")]
            texts += [f[k] for f in embed.get("fields", []) for k in ("name", "value")]
            if not parsed_only:
                texts.append(embed.get("footer", {}).get("text", ""))
    return texts


def check_discord_limits(payloads: Sequence[object]) -> None:
    """1 to 10 embeds a message, each showing something; title ≤256, description ≤4096,
    ≤25 fields (name ≤256, value ≤1024), footer ≤2048; ≤6000 characters across a
    message's embeds; content ≤2000."""
    for payload in payloads:
        assert isinstance(payload, discord_render.DiscordMessage)
        assert len(payload.content) <= 2000 and 1 <= len(payload.embeds) <= 10
        total = 0
        for embed in payload.embeds:
            title, description = embed.get("title", ""), embed.get("description", "")
            footer = embed.get("footer", {}).get("text", "")
            fields = embed.get("fields", [])
            assert title or description
            assert len(title) <= 256 and len(description) <= 4096 and len(footer) <= 2048
            assert len(fields) <= 25
            assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in fields)
            total += len(title) + len(description) + len(footer)
            total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        assert total <= 6000


def discord_visible(payloads: Sequence[object]) -> str:
    """What a reader sees: masked links as their label and target, `<url>` as the URL,
    escapes undone (read left to right, as Discord does); footers as they are."""

    def show(match: re.Match[str]) -> str:
        if match[1] is not None:
            return f"{_unescape(match[1])} {match[2]}"
        return match[3] or match[0][1:]

    pattern = re.compile(f"{_DISCORD_LINK}|{_DISCORD_AUTOLINK}|{_DISCORD_ESCAPE}")
    parsed = [pattern.sub(show, text) for text in discord_texts(payloads, parsed_only=True)]
    footers = [
        embed.get("footer", {}).get("text", "")
        for payload in payloads
        if isinstance(payload, discord_render.DiscordMessage)
        for embed in payload.embeds
    ]
    return "\n".join(parsed + footers)


def _unescape(text: str) -> str:
    return re.sub(_DISCORD_ESCAPE, lambda m: m[0][1:], text)


def assert_discord_inert(text: str) -> None:
    """Once escaped characters and our own links (an entry's bold masked link to an
    http(s) target, a `<http…>` autolink) are taken out, no character is left that
    Discord reads as markup, a mention or a link (`[ ] < > * _ ~ |`, backtick, backslash), no
    block syntax starts a line, `@everyone`/`@here` appear only broken by a zero-width
    joiner (or inside a link's target, where Discord reads no mention), and no other
    control or invisible character is there."""
    # each taken out as a letter would be: what follows it no longer starts its line
    rest = re.sub(f"{_DISCORD_ESCAPE}|{_DISCORD_OUR_LINK}|{_DISCORD_AUTOLINK}", "x", text)
    assert not re.search(r"[\[\]<>*_~|`\\]", rest), rest[:200]
    assert not _DISCORD_BLOCK.search(rest), rest[:200]
    prose = re.sub(f"{_DISCORD_AUTOLINK}|{_DISCORD_TARGET}", " ", text)
    assert not re.search("@(everyone|here)", prose), prose[:200]
    assert_console_inert(text.replace("@" + discord_render.ZWJ, "@"))


# --- apprise (markdown, html, text) ----------------------------------------------------------

# The sizes of services that take each format: Telegram (Markdown, no title), email (HTML),
# Mattermost (text, no title), ntfy (text, a title).
APPRISE_LIMITS = {
    "markdown": apprise_render.Limits(body=4096, title=0),
    "html": apprise_render.Limits(body=32768, title=250),
    "text": apprise_render.Limits(body=4000, title=0),
    "text+title": apprise_render.Limits(body=7500, title=200),
}
_MD_ESCAPE = r"\\[!-/:-@\[-`{-~]"  # a backslash before ASCII punctuation
_MD_LINK = r"\[((?:\\.|[^\[\]\\])*)\]\(((?:\([^()\s]*\)|[^\s()\\])+)\)"
_MD_OUR_LINK = r"\*\*\[(?:\\.|[^\[\]\\])*\]\(https?://(?:\([^()\s]*\)|[^\s()\\])+\)\*\*"
_MD_BLOCK = re.compile(r"^[ \t]*(?:#|>|[-+*][ \t]|\d+[.)][ \t]|=+[ \t]*$|-+[ \t]*$)", re.M)
_HTML_OUR_TAG = re.compile(r'<a href="https?://[^"<>]*">|</a>|</?b>|<br>|</?p>|</?small>')


def apprise_texts(payloads: Sequence[object]) -> list[str]:
    """Each notification's title and body."""
    texts = []
    for payload in payloads:
        assert isinstance(payload, apprise_render.Notification)
        texts += [payload.title, payload.body]
    return texts


def check_apprise_limits(limits: apprise_render.Limits) -> Callable[[Sequence[object]], None]:
    def check(payloads: Sequence[object]) -> None:
        """A body in each notification, within the service's limit; a title within its
        own (plain text, inert), or none where the service has no title."""
        assert payloads
        for payload in payloads:
            assert isinstance(payload, apprise_render.Notification)
            assert payload.body and len(payload.body) <= limits.body
            assert len(payload.title) <= (limits.title if limits.title > 0 else 0)
            # the title is plain text in every format: no mention, no angle bracket
            assert not re.search("[@<>]", payload.title), payload.title[:200]
            assert_console_inert(payload.title)

    return check


def apprise_visible(fmt: apprise_render.Format) -> Callable[[Sequence[object]], str]:
    def visible(payloads: Sequence[object]) -> str:
        """What a reader sees: titles as they are; in bodies, links as their label and
        target, escapes undone."""
        texts = apprise_texts(payloads)
        pairs = zip(texts[::2], map(body, texts[1::2]), strict=True)
        return "\n".join(t for pair in pairs for t in pair)

    def body(text: str) -> str:
        if fmt == "markdown":
            pattern = re.compile(f"{_MD_LINK}|{_MD_ESCAPE}")
            return pattern.sub(lambda m: f"{_md_unescape(m[1])} {m[2]}" if m[2] else m[0][1:], text)
        if fmt == "html":
            text = re.sub(r'<a href="([^"]*)">', lambda m: f" {html_unescape(m[1])} ", text)
            return html_unescape(re.sub(r"<[^<>]*>", " ", text))
        return text

    return visible


def _md_unescape(text: str) -> str:
    return re.sub(_MD_ESCAPE, lambda m: m[0][1:], text)


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def assert_apprise_inert(fmt: apprise_render.Format) -> Callable[[str], None]:
    def inert(text: str) -> None:
        """No `@` and no `<!`/`<#` at all (so no mention on any service, whatever it
        parses); in Markdown, once escapes and our own bold links and bold are taken
        out, no markup character and no block syntax; in HTML, no tag but ours and no
        `&` but an entity; and no control or invisible character anywhere."""
        assert "@" not in text and "<!" not in text and "<#" not in text, text[:200]
        if fmt == "markdown":
            rest = re.sub(f"{_MD_ESCAPE}|{_MD_OUR_LINK}", "x", text).replace("**", "")
            assert not re.search(r"[\[\]<>*_~|`\\&]", rest), rest[:200]
            assert not _MD_BLOCK.search(rest), rest[:200]
        if fmt == "html":
            rest = _HTML_OUR_TAG.sub("", text)
            assert "<" not in rest and ">" not in rest, rest[:200]
            assert not re.search(r"&(?!(?:amp|lt|gt|quot|#x27);)", rest), rest[:200]
        assert_console_inert(text)

    return inert


def apprise_contract(name: str) -> Contract:
    fmt: apprise_render.Format = "text" if name.startswith("text") else name  # type: ignore[assignment]
    limits = APPRISE_LIMITS[name]
    return Contract(
        name=f"apprise-{name}",
        render=lambda message: apprise_render.render(message, fmt, limits),
        check_limits=check_apprise_limits(limits),
        visible_text=apprise_visible(fmt),
        source_text=lambda payloads: "\n".join(apprise_texts(payloads)[1::2]),  # bodies
        assert_inert=assert_apprise_inert(fmt),
    )


CONTRACTS = [
    Contract(
        name="console",
        render=console_payloads,
        check_limits=check_console_limits,
        visible_text=console_text,
        source_text=console_text,
        assert_inert=assert_console_inert,
    ),
    Contract(
        name="slack",
        render=lambda message: list(slack.render(message)),
        check_limits=check_slack_limits,
        visible_text=slack_visible,
        source_text=lambda payloads: "\n".join(slack_texts(payloads, parsed_only=True)),
        assert_inert=assert_slack_inert,
    ),
    Contract(
        name="discord",
        render=lambda message: list(discord_render.render(message)),
        check_limits=check_discord_limits,
        visible_text=discord_visible,
        source_text=lambda payloads: "\n".join(discord_texts(payloads, parsed_only=True)),
        assert_inert=assert_discord_inert,
    ),
    *(apprise_contract(name) for name in APPRISE_LIMITS),
]

# --- hostile and extreme messages ---------------------------------------------------------

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PUBLISHED = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
HOSTILE = {
    "mentions": "@everyone @here <@&123> <@456> <!channel> <!here> <!subteam^S1> ping",
    "masked links": "[x](http://evil.example) <http://evil.example|x> [y]( http://evil.example )",
    "formatting": "``` **bold** __under__ _it_ *em* ~~gone~~ ||spoiler|| > quote # head `code` ```",
    "zero width": "ev\u200beryone @\u200bhere \u202egnp.exe \ufeffbom \u2060joined \u00adsoft",
    "rich markup": "[bold red]x[/] [link=http://evil.example]click[/link] [/]",
    "ansi": "\x1b[2J\x1b[31mred\x1b[0m \x9b31mcsi \x07bell \x00nul \r\nfake line",
    "terminal title": "\x1b]0;pwned\x07 \x1b]2;t\x1b\\ \x9d0;osc\x9c \x1bP+q\x1b\\ \x7fdel",
    "line separators": "one\u2028two\u2029three\x0bfour\x0cfive\x85six",
    "invisible": "\u061cA \u180eB \ufff9C\ufffaD\ufffbE \u206aF\u206fG \U000e0001\U000e0041H"
    " \U000e007fI \u3164J \u115fK \u00adL \u2066M\u2069 \ud800lone",
    "slack formatting": "*bold* _it_ ~gone~ `code` ```block``` \uff0awide\uff0a \uff3fw\uff3f"
    " \uff5ew\uff5e \uff40w\uff40 :fire: :rotating_light: 10:30:45 <!date^0^{_}|*>",
    "plain mentions": "@everyone @here @channel @Channel @HERE hello@everyone",
    "quotes at line starts": "> quoted\n>>> all quoted\n\uff1e wide\n&gt; entity\n# head",
}


def url(n: int, length: int = 60) -> str:
    """A distinct URL of about `length` characters with a query string."""
    base = f"https://news.example.test/2026/11/story-{n}?id={n}&utm_source=rss&q="
    return base + "canola_(plant)+tariff%20" * max(1, (length - len(base)) // 24)


def entry(n: int, text: str = "", *, link: str | None = None) -> Entry:
    """Entry `n`, with `text` in each of its free-text fields."""
    return Entry(
        title=f"Canola tariff {n} {text}",
        url=link or url(n),
        source=f"Outlet {n} {text}",
        published=PUBLISHED,
        watchlist="canola",
        score=87.5,
        evidence=(f'canola: "{text or "canola"}" (title)', 'trade: "tariffs" (title, fuzzy 91)'),
        also=(f"CBC {text}".rstrip(), "SCMP"),
    )


def hostile(text: str) -> Message:
    """`text` in every free-text field of a message."""
    return Message(
        title=f"Headline {text}",
        tone=Tone.ALERT,
        text=f"Summary {text}",
        sections=(Section(f"Canola {text}", (entry(1, text),), more=2),),
        footer=f"footer {text}",
    )


def digest(sections: int, per_section: int, url_length: int = 60) -> Message:
    """A digest of `sections` sections of `per_section` entries each."""
    return Message(
        title="Digest: canola",
        tone=Tone.DIGEST,
        text=f"{sections * per_section} stories since 2026-11-22 09:00 UTC",
        sections=tuple(
            Section(
                f"Watchlist {s}",
                tuple(
                    entry(n, link=url(n, url_length))
                    for n in range(s * per_section, (s + 1) * per_section)
                ),
                more=s,
            )
            for s in range(sections)
        ),
        footer="as of 2026-11-23 09:00 UTC",
    )


def bare(text: str) -> Message:
    """`text` alone in every free-text field of a message (so it starts each line)."""
    entry_ = Entry(text, url(1), text, PUBLISHED, "canola", 80, (text,), (text,))
    return Message(text, Tone.ALERT, text, (Section(text, (entry_,)),), text)


MESSAGES: dict[str, Message] = (
    {name: hostile(text) for name, text in HOSTILE.items()}
    | {f"{name}, bare": bare(text) for name, text in HOSTILE.items()}
    | {
        "everything at once": hostile(" ".join(HOSTILE.values())),
        "5000-character title": Message(
            title=("China imposes tariffs on Canadian canola " * 125)[:5000],
            tone=Tone.ALERT,
            sections=(Section("Canola", (entry(1, "word " * 1000),)),),
        ),
        "200 entries": digest(1, 200),
        "25 sections": digest(25, 4),
        "1500-character URLs": digest(3, 5, url_length=1500),
        "empty": Message(title="", tone=Tone.INFO),
    }
)


# --- the contract -------------------------------------------------------------------------

contracts = pytest.mark.parametrize("contract", CONTRACTS, ids=[c.name for c in CONTRACTS])
messages = pytest.mark.parametrize("name", list(MESSAGES))


@contracts
@messages
def test_platform_limits_hold(contract: Contract, name: str) -> None:
    contract.check_limits(contract.render(MESSAGES[name]))


@contracts
@messages
def test_every_link_survives_intact(contract: Contract, name: str) -> None:
    message = MESSAGES[name]
    visible = contract.visible_text(contract.render(message))
    for link in message.links():
        assert link in visible, link[:80]


@contracts
@messages
def test_hostile_text_is_inert(contract: Contract, name: str) -> None:
    contract.assert_inert(contract.source_text(contract.render(MESSAGES[name])))


# Feed text as an attacker would write it: any characters, and the pieces that mean
# something to a terminal or a platform, in any order and any field.
HOSTILE_PIECES = [
    *HOSTILE.values(),
    *"\x1b\x07\x9b\x9d\x00\r\n\t\u2028\u202e\u200d\u061c\u180e\ufffb\u206f\U000e0041\u3164\ud800",
    *"*_~`|\\[]()<>&:#-@\uff0a\uff3f\uff5e\uff40\uff1e\uff20",
    "```", "> ", "\n> ", "&gt;", "&amp;", "<!channel>", "<@U1>", "<#C1>", "<!subteam^S1>",
    "@everyone", "@here", "@channel", ":fire:", "||", "**", "__", "~~", "# ", "1. ",
    "[x](http://evil.example)", "<http://evil.example|x>", "https://evil.example/a_b*c",
]  # fmt: skip
feed_text = st.lists(
    st.one_of(st.text(max_size=8), st.sampled_from(HOSTILE_PIECES)), max_size=12
).map("".join)


@contracts
@settings(max_examples=200, deadline=None)
@given(text=feed_text)
def test_any_feed_text_renders_inert_and_within_limits(contract: Contract, text: str) -> None:
    for message in (hostile(text), bare(text)):
        payloads = contract.render(message)
        contract.check_limits(payloads)
        contract.assert_inert(contract.source_text(payloads))
        assert_kept(message.title, contract.visible_text(payloads))


@contracts
@messages
def test_titles_are_kept_or_cut_explicitly(contract: Contract, name: str) -> None:
    message = MESSAGES[name]
    visible = contract.visible_text(contract.render(message))
    for title in [message.title, *(e.title for s in message.sections for e in s.entries)]:
        assert_kept(title, visible)


def assert_kept(title: str, visible: str) -> None:
    """Every letter and digit of `title` is shown, in order; or a prefix of them is, and
    an explicit "…" follows it. (Escapes, spacing and invisible characters may differ.)"""
    want, shown = letters(title), letters(visible)
    if want in shown:
        return
    head = want[:20]
    start = shown.find(head)
    while start >= 0:
        kept = common_prefix(want, shown[start:])
        if shown[start + kept : start + kept + 1] == "…":
            return
        start = shown.find(head, start + 1)
    raise AssertionError(f"title lost without an explicit cut: {title[:80]!r}")


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of `a` and `b`."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def letters(text: str) -> str:
    """The visible letters, digits and ellipses of `text` (a Hangul filler is a letter
    that shows as nothing; Slack's look-alikes count as what they stand for, so a title's
    own U+02CB and a backtick Slack shows as one compare alike)."""
    text = text.translate(_SLACK_UNDO_LOOK_ALIKES)
    return "".join(ch for ch in text if (ch.isalnum() or ch == "…") and not INVISIBLE.match(ch))


# --- console rendering ----------------------------------------------------------------------


def test_console_shows_every_part_of_an_entry() -> None:
    text = render(
        Message(
            title="Canola",
            tone=Tone.DIGEST,
            text="1 story since 2026-11-23 08:00 UTC",
            sections=(Section("Canola watch", (entry(1),), more=3),),
            footer="as of 2026-11-23 09:00 UTC",
        )
    )
    lines = text.splitlines()
    assert lines[0] == "DIGEST · Canola"
    assert "  • Canola tariff 1" in lines
    assert "    Outlet 1 · 2026-11-23 08:30 UTC · score 87.5" in lines
    assert f"    {url(1)}" in lines
    assert '    matched canola: "canola" (title); trade: "tariffs" (title, fuzzy 91)' in lines
    assert "    also: CBC, SCMP" in lines
    assert "  +3 more" in lines
    assert lines[-1] == "as of 2026-11-23 09:00 UTC"


def test_console_prints_markup_as_typed_and_fakes_no_line() -> None:
    text = render(MESSAGES["everything at once"])
    assert "[bold red]x[/]" in text and "\x1b" not in text
    assert not any(line.startswith("fake line") for line in text.splitlines())


def test_console_times_are_utc() -> None:
    toronto = PUBLISHED.astimezone(timezone(timedelta(hours=-5)))
    shifted = Entry("t", None, "CBC", toronto - timedelta(hours=1), "canola", 80)
    text = render(Message("t", Tone.ALERT, sections=(Section("Canola", (shifted,)),)))
    assert "CBC · 2026-11-23 07:30 UTC · score 80" in text


def test_console_cuts_a_long_title_with_an_ellipsis() -> None:
    (first, *_) = render(MESSAGES["5000-character title"]).splitlines()
    assert len(first) == LINE_LIMIT and first.endswith("…")


async def test_console_adapter_writes_and_numbers_its_messages() -> None:
    stream = io.StringIO()
    adapter: Adapter = ConsoleAdapter(stream)
    message = MESSAGES["mentions"]
    ids = [await adapter.send(ChannelRef("console"), message, f"n{i}") for i in range(2)]
    await adapter.close()
    await adapter.close()
    assert ids == ["console-1", "console-2"]
    assert stream.getvalue() == (render(message) + "\n") * 2


class ClosedPipe(io.StringIO):
    """A stream whose reader went away."""

    def write(self, s: str, /) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_console_adapter_turns_a_closed_pipe_into_a_retryable_error() -> None:
    adapter = ConsoleAdapter(ClosedPipe())
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(ChannelRef("console"), MESSAGES["mentions"], "n")
    assert caught.value.retryable


# --- builders -----------------------------------------------------------------------------


def story(
    story_id: int,
    *matches: tuple[str, float],
    published: datetime | None = PUBLISHED,
    also: tuple[str, ...] = (),
) -> StoryMatch:
    """Story `story_id` matching each (watchlist, score), ranked as the outbox ranks them."""
    item = Item(
        key=f"k{story_id}",
        title=f"Story {story_id}",
        summary=f"Summary {story_id}",
        url=url(story_id),
        published=published,
        source="Reuters",
    )
    ranked = sorted(matches, key=lambda m: -m[1])
    return StoryMatch(
        story_id=story_id,
        item=item,
        first_seen=NOW - timedelta(hours=story_id),
        matches=tuple(
            Match(w, s, s >= 80, (Evidence(w, w, "title", w.capitalize(), 100),)) for w, s in ranked
        ),
        also=also,
    )


TITLES = {"canola": "Canola", "strait": "Taiwan Strait", "trade": "Trade"}


def test_evidence_strings_quote_each_hit() -> None:
    hits = (
        Evidence("canola", "canola", "title", "canola", 100),
        Evidence("trade", "tariff", "summary", "tariffs", 91),
    )
    assert evidence_strings(hits) == (
        'canola: "canola" (title)',
        'trade: "tariffs" (summary, fuzzy 91)',
    )


def test_alert_has_a_section_per_watchlist_best_first() -> None:
    lead = story(3, ("trade", 70), ("canola", 90), ("other", 60), also=("CBC", "SCMP"))
    message = build_alert(lead, TITLES)
    assert message.title == "Story 3" and message.tone is Tone.ALERT
    assert message.text == "Summary 3"
    assert [s.heading for s in message.sections] == ["Canola", "Trade", "other"]
    (first,) = message.sections[0].entries
    assert first == Entry(
        title="Story 3",
        url=url(3),
        source="Reuters",
        published=PUBLISHED,
        watchlist="canola",
        score=90,
        evidence=('canola: "Canola" (title)',),
        also=("CBC", "SCMP"),
    )
    assert message.links() == [url(3)] * 3


def test_digest_lists_a_story_under_every_subscribed_watchlist_it_matched() -> None:
    stories = [
        story(1, ("canola", 90), ("trade", 95)),
        story(2, ("canola", 85), ("strait", 60)),
        story(3, ("unsubscribed", 99), ("strait", 70)),
        story(4, ("unsubscribed", 99)),
    ]
    message = build_digest(stories, TITLES, heading="Digest: canola", now=NOW)
    assert message is not None and message.tone is Tone.DIGEST
    assert message.title == "Digest: canola"
    assert [(s.heading, [e.title for e in s.entries]) for s in message.sections] == [
        ("Canola", ["Story 1", "Story 2"]),
        ("Taiwan Strait", ["Story 3", "Story 2"]),
        ("Trade", ["Story 1"]),
    ]
    assert message.text == "3 stories since 2026-11-23 06:00 UTC"  # each story counted once
    assert message.footer == "as of 2026-11-23 09:00 UTC"
    toronto = build_digest(stories, TITLES, heading="Digest", now=NOW, timezone="America/Toronto")
    assert toronto is not None and toronto.timezone == "America/Toronto"
    assert toronto.text == "3 stories since 2026-11-23 01:00 EST"
    assert toronto.footer == "as of 2026-11-23 04:00 EST"


def test_digest_ranks_by_score_then_newer_first_and_counts_the_rest() -> None:
    stories = [
        story(1, ("canola", 80), published=PUBLISHED - timedelta(hours=2)),
        story(2, ("canola", 95)),
        story(3, ("canola", 80), published=PUBLISHED),
        story(4, ("canola", 80), published=None),  # dated by first_seen: NOW - 4 h
        story(5, ("canola", 70)),
    ]
    message = build_digest(stories, TITLES, heading="d", now=NOW, per_section=3)
    assert message is not None
    (section,) = message.sections
    assert [e.title for e in section.entries] == ["Story 2", "Story 3", "Story 1"]
    assert section.more == 2
    assert message.text == "5 stories since 2026-11-23 04:00 UTC"


def test_empty_digest_is_none_or_says_nothing_new() -> None:
    unsubscribed = [story(1, ("other", 90))]
    assert build_digest([], TITLES, heading="d", now=NOW) is None
    assert build_digest(unsubscribed, TITLES, heading="d", now=NOW) is None
    quiet = build_digest([], TITLES, heading="Digest: canola", now=NOW, nothing_new=True)
    assert quiet is not None and quiet.tone is Tone.INFO and not quiet.sections
    assert quiet.title == "Digest: canola" and "Nothing new" in quiet.text


def test_one_story_is_counted_in_the_singular() -> None:
    message = build_digest([story(1, ("canola", 90))], TITLES, heading="d", now=NOW)
    assert message is not None and message.text.startswith("1 story since ")


def built_messages() -> list[Message]:
    """Built alerts and digests: the messages the outbox stores as JSON."""
    stories = [story(n, ("canola", 80 + n), ("trade", 90 - n), also=("CBC",)) for n in range(6)]
    digest_ = build_digest(stories, TITLES, heading="d", now=NOW, per_section=2)
    quiet = build_digest([], TITLES, heading="d", now=NOW, nothing_new=True)
    undated = story(9, ("canola", 90), published=None)
    assert digest_ is not None and quiet is not None
    return [build_alert(stories[0], TITLES), build_alert(undated, {}), digest_, quiet]


@pytest.mark.parametrize("message", [*MESSAGES.values(), *built_messages()])
def test_message_json_round_trip(message: Message) -> None:
    stored = json.loads(json.dumps(message_to_json(message)))
    assert message_from_json(stored) == message


def test_evidence_names_each_group_once_with_all_it_hit() -> None:
    hits = (
        Evidence("vessels", "frigate", "title", "frigate", 100),
        Evidence("strait", "Taiwan Strait", "title", "Taiwan Strait", 100),
        Evidence("vessels", "warship", "title", "warship", 100),
        Evidence("vessels", "frigate", "title", "frigate", 100),
        Evidence("vessels", "transit", "summary", "transited", 100),
    )
    assert evidence_strings(hits) == (
        'vessels: "frigate" (title), "warship" (title), "transited" (summary)',
        'strait: "Taiwan Strait" (title)',
    )
