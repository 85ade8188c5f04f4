"""What every command checks before it opens anything: that each subscription names
known watchlists and a platform whose secrets are set.

Light on purpose (no database, network or platform library): `wirewatch check` runs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bot.core.channels import parse_channel
from bot.core.config import Settings
from bot.core.environment import DiscordSettings, SlackSettings
from bot.core.errors import ConfigError
from bot.matching.watchlists import Watchlist


def configured_platforms() -> set[str]:
    """The platforms this installation can deliver to: the console always, and each chat
    platform whose secrets are in the environment. Raises SecretError on an unreadable one."""
    platforms = {"console"}
    if DiscordSettings.from_env().configured():
        platforms.add("discord")
    if SlackSettings.from_env().configured():
        platforms.add("slack")
    return platforms


def check_subscriptions(
    settings: Settings, watchlists: list[Watchlist], platforms: Iterable[str]
) -> None:
    """Raise ConfigError listing every subscription that names an unknown watchlist, a
    platform with no adapter configured, or repeats another one."""
    known = {w.id for w in watchlists}
    platforms = set(platforms)
    problems = []
    keys = Counter(s.key for s in settings.subscriptions)
    for n, sub in enumerate(settings.subscriptions):
        where = f"subscriptions.{n}"
        for watchlist in sub.watchlists:
            if watchlist not in known:
                problems.append(
                    f"{where}.watchlists: unknown watchlist {watchlist!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
        adapter = parse_channel(sub.channel).adapter
        if adapter not in platforms:
            problems.append(
                f"{where}.channel: {sub.channel} needs the {adapter} adapter, which is not "
                "configured (see README: Discord and Slack)"
            )
        if keys[sub.key] > 1:
            problems.append(f"{where}: the same subscription is declared twice; give each a name")
    if problems:
        raise ConfigError(problems)
