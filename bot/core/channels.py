"""Channel references: where a subscription's messages go.

`console`, `discord:<channel id>`, `discord-webhook:<name>`, `slack:<channel id>`,
`slack-webhook:<name>`, `apprise:<name>`, `webhook:<name>`. A channel's URL is a secret,
so the config names it and the adapter reads it from the environment (`secret_env`):
`WIREWATCH_<PLATFORM>_WEBHOOK_<NAME>`, `WIREWATCH_APPRISE_<NAME>` or
`WIREWATCH_WEBHOOK_<NAME>` (each also `..._FILE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# every platform an adapter serves; `discord-webhook:` goes to `discord`, and so on
PLATFORMS = ("console", "discord", "slack", "apprise", "webhook")
_NAME = re.compile(r"(?![a-z0-9_-]*[_-](?:file|secret)$)[a-z0-9][a-z0-9_-]{0,63}")
_TARGETS = {
    "discord": (re.compile(r"\d{15,21}"), "a Discord channel id (15 to 21 digits)"),
    "discord-webhook": (
        re.compile(r"[a-z0-9][a-z0-9_-]{0,63}"),
        "a webhook name (a-z, 0-9, _ or -)",
    ),
    "slack": (re.compile(r"[CGD][A-Z0-9]{6,20}"), "a Slack channel id such as C0123456789"),
    "slack-webhook": (re.compile(r"[a-z0-9][a-z0-9_-]{0,63}"), "a webhook name (a-z, 0-9, _ or -)"),
    "apprise": (_NAME, "a name (a-z, 0-9, _ or -) not ending in -file or -secret"),
    "webhook": (_NAME, "a name (a-z, 0-9, _ or -) not ending in -file or -secret"),
}
# the variable of `webhook:x-secret` would be x's secret; of `apprise:x-file`, x's file
_SECRET_PREFIXES = {"apprise": "WIREWATCH_APPRISE_", "webhook": "WIREWATCH_WEBHOOK_"}


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A parsed channel reference; `str()` gives it back in canonical form."""

    platform: str
    target: str = ""

    def __str__(self) -> str:
        return self.platform if self.platform == "console" else f"{self.platform}:{self.target}"

    @property
    def adapter(self) -> str:
        """The adapter that delivers here: `discord-webhook` is served by `discord`, etc."""
        return self.platform.removesuffix("-webhook")

    def webhook_env(self) -> str | None:
        """The environment variable holding this channel's URL, for channels that are
        named URLs (the platforms' webhooks, `apprise:`, `webhook:`); else None."""
        name = self.target.upper().replace("-", "_")
        if self.platform in _SECRET_PREFIXES:
            return _SECRET_PREFIXES[self.platform] + name
        if not self.platform.endswith("-webhook"):
            return None
        return f"WIREWATCH_{self.adapter.upper()}_WEBHOOK_{name}"

    def signing_env(self) -> str | None:
        """The environment variable holding a `webhook:` channel's signing secret."""
        return f"{self.webhook_env()}_SECRET" if self.platform == "webhook" else None


def parse_channel(reference: str) -> ChannelRef:
    """Parse a channel reference; ValueError says what is wrong and what is expected."""
    text = reference.strip()
    if text == "console":
        return ChannelRef("console")
    platform, sep, target = text.partition(":")
    if not sep or platform not in _TARGETS:
        raise ValueError(
            f"{reference!r} is not a channel: expected console, discord:<channel id>, "
            "discord-webhook:<name>, slack:<channel id>, slack-webhook:<name>, "
            "apprise:<name> or webhook:<name>"
        )
    pattern, expected = _TARGETS[platform]
    if not pattern.fullmatch(target):
        raise ValueError(f"{reference!r}: after {platform}: expected {expected}")
    return ChannelRef(platform, target)


# What an alert on each kind of channel can do once it is posted: be edited in place
# (Discord's bot and webhook messages, Slack's Web API messages), take replies in a
# thread (a Discord bot's channel, Slack's Web API). A Slack incoming webhook answers
# with no message id and the terminal prints; neither can do either.
FOLLOWUP_MODES: dict[str, frozenset[str]] = {
    "discord": frozenset({"edit", "thread"}),
    "discord-webhook": frozenset({"edit"}),
    "slack": frozenset({"edit", "thread"}),
}
FOLLOWUPS = ("edit", "thread", "off")


def followup_problem(channel: ChannelRef, mode: str) -> str | None:
    """Why `channel` cannot take follow-ups in `mode`, or None when it can (or mode is off)."""
    if mode == "off" or mode in FOLLOWUP_MODES.get(channel.platform, frozenset()):
        return None
    can = sorted(FOLLOWUP_MODES.get(channel.platform, frozenset()))
    return (
        f"followups: {mode} is not possible on {channel.platform} channels "
        f"(possible: {', '.join([*can, 'off'])})"
    )


def followup_mode(channel: str, configured: str | None) -> str:
    """How an alert to `channel` grows with its story: the `configured` mode, or by
    default `edit` where the channel's messages can be edited and `off` elsewhere."""
    if configured is not None:
        return configured
    try:
        platform = parse_channel(channel).platform
    except ValueError:  # a platform of a later version: nothing it cannot do
        return "off"
    return "edit" if "edit" in FOLLOWUP_MODES.get(platform, frozenset()) else "off"
