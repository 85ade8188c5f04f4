"""The `/news` command table's types: what each subcommand takes and who may run it.

The command core (`bot.service.commands`) holds the table and answers. Each chat adapter
derives its platform's form from the same specs (Discord's command group with typed
options, Slack's one text command) and hands what the user sent to `CommandCore.answer`
or `CommandCore.answer_text`; the core checks permissions and arguments, runs the
handler and turns every failure into a reply. Nothing here knows a platform.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.chat.message import Message
from bot.core.errors import UsageError

ArgValue = str | int | None


class CommandError(UsageError):
    """A bad argument or a refused request; the text is the reply."""


class ArgKind(StrEnum):
    """What an argument holds, and so how each platform asks for it."""

    WORD = "word"  # one value (on Slack one word, or a quoted phrase)
    REST = "rest"  # free text: on Slack the remaining words
    INT = "int"  # a whole number between `minimum` and `maximum`
    WATCHLIST = "watchlist"  # a watchlist id (platforms offer autocomplete)
    CHOICE = "choice"  # one of `choices`


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a subcommand; `minimum`/`maximum` bound an INT's value or a text's
    length."""

    name: str
    kind: ArgKind
    description: str
    required: bool = True
    default: ArgValue = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def usage(self) -> str:
        """`<query>`, `[days]`, `[alert|digest]`: how help and errors show this argument."""
        label = "|".join(self.choices) if self.kind is ArgKind.CHOICE else self.name
        return f"<{label}>" if self.required else f"[{label}]"

    def convert(self, value: ArgValue) -> ArgValue:
        """`value` checked and converted to this argument's type; CommandError says what is
        wrong. None (not given) gives the default, or an error when required."""
        if value is None or value == "":
            if self.required:
                raise CommandError(f"{self.name} is required")
            return self.default
        if self.kind is ArgKind.INT:
            number = _whole_number(self.name, value)
            low, high = self.minimum, self.maximum
            if (low is not None and number < low) or (high is not None and number > high):
                raise CommandError(f"{self.name} must be between {low} and {high}, not {number}")
            return number
        text = str(value).strip()
        if self.kind is ArgKind.CHOICE and text.lower() not in self.choices:
            raise CommandError(
                f"{self.name} must be {' or '.join(self.choices)}, not {text!r}"
            )  # fmt: skip
        if self.minimum is not None and len(text) < self.minimum:
            raise CommandError(f"{self.name} needs {self.minimum} characters or more")
        if self.maximum is not None and len(text) > self.maximum:
            text = text[: self.maximum]
        return text.lower() if self.kind is ArgKind.CHOICE else text


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One subcommand: its name, one-line description, arguments, and whether it changes
    the channel's settings (then only a channel admin may run it)."""

    name: str
    description: str
    args: tuple[Arg, ...] = ()
    admin: bool = False

    def usage(self) -> str:
        """`search <query> [watchlist] [days]`."""
        return " ".join([self.name, *(a.usage() for a in self.args)])

    def bind(self, values: Mapping[str, ArgValue]) -> dict[str, ArgValue]:
        """Every argument converted (`Arg.convert`), defaults filled in; CommandError for
        a bad value or a name this subcommand does not take."""
        unknown = sorted(set(values) - {a.name for a in self.args})
        if unknown:
            raise CommandError(f"{self.name} takes no {unknown[0]}: /news {self.usage()}")
        try:
            return {a.name: a.convert(values.get(a.name)) for a in self.args}
        except CommandError as exc:
            raise CommandError(f"{exc}: /news {self.usage()}") from exc

    def bind_words(
        self, words: Sequence[str], fits: Callable[[Arg, str], bool]
    ) -> dict[str, ArgValue]:
        """The arguments of a text command (`search canola tariffs canola 30`), then `bind`.

        Words fill the arguments in order. A REST argument takes every word left over
        once the optional arguments after it have taken the last words that `fits` them
        (so `search china canola` keeps both words as the query unless `canola` is a
        watchlist). Too many words, or too few, is a usage error."""
        args = list(self.args)
        rest_at = next((i for i, a in enumerate(args) if a.kind is ArgKind.REST), None)
        remaining = list(words)
        values: dict[str, ArgValue] = {}
        if rest_at is None:
            if len(remaining) > len(args):
                raise CommandError(f"usage: /news {self.usage()}")
            values = dict(zip((a.name for a in args), remaining, strict=False))
            return self.bind(values)
        for arg in args[:rest_at]:
            if remaining:
                values[arg.name] = remaining.pop(0)
        for arg in reversed(args[rest_at + 1 :]):
            if len(remaining) > 1 and fits(arg, remaining[-1]):
                values[arg.name] = remaining.pop()
        values[args[rest_at].name] = " ".join(remaining)
        return self.bind(values)


def split_words(text: str) -> list[str]:
    """`text` as words, a double-quoted phrase one word (`"0 8 * * mon-fri"`); apostrophes
    and backslashes are text (`China's`, `l'Italie`). CommandError on an unclosed quote."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = '"'
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise CommandError(f"could not read the arguments ({exc}); check the quotes") from exc


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked, and where: `channel` is a channel reference (`discord:<id>`, ...);
    `is_admin` asks the platform (Manage Channels, a configured role or user) and is
    awaited only for an admin subcommand."""

    channel: str
    user: str
    is_admin: Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: `public` replies go to the channel (an admin subcommand that
    succeeded), the others only to the caller."""

    message: Message
    public: bool = False


class CommandCore(Protocol):
    """What an adapter asks of the command core."""

    @property
    def table(self) -> Sequence[CommandSpec]:
        """Every subcommand, in the order help lists them."""

    async def answer(self, name: str, caller: Caller, values: Mapping[str, ArgValue]) -> Reply:
        """Run subcommand `name` with typed values (Discord's options); never raises."""

    async def answer_text(self, caller: Caller, text: str) -> Reply:
        """Run `<subcommand> <arguments>` as one text (Slack's `/news`); never raises."""

    def watchlist_choices(self, current: str) -> list[str]:
        """Watchlist ids for autocomplete: those starting with `current`, then containing it."""


def _whole_number(name: str, value: ArgValue) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"-?[0-9]{1,12}", text):
        raise CommandError(f"{name} must be a whole number, not {text!r}")
    return int(text)
