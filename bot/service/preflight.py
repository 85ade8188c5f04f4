"""What every command checks before it opens anything: that each subscription names
known watchlists and a platform whose secrets are set.

Light on purpose (no database, network or platform library): `wirewatch check` runs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.core.channels import parse_channel
from bot.core.config import (
    Settings,
    load_settings,
    repeated_subscriptions,
    unconfigured_platform,
    unknown_watchlists,
)
from bot.core.environment import DiscordSettings, SlackSettings, variable, webhook_problem
from bot.core.errors import ConfigError
from bot.core.yaml_source import YamlDocument, load_yaml
from bot.matching.watchlists import Watchlist, load_configured_watchlists


def configured_platforms() -> set[str]:
    """The platforms this installation can deliver to: the console, apprise and signed
    webhooks always (each of their channels names its own variables, which
    `webhook_problem` checks), and each chat platform whose secrets are in the
    environment. Raises ConfigError on an unreadable one."""
    platforms = {"console", "apprise", "webhook"}
    if DiscordSettings.from_env().configured():
        platforms.add("discord")
    if SlackSettings.from_env().configured():
        platforms.add("slack")
    return platforms


def check_subscriptions(
    settings: Settings, watchlists: list[Watchlist], platforms: Iterable[str]
) -> None:
    """Raise ConfigError listing every subscription that names an unknown watchlist, a
    platform with no adapter configured, or repeats another one (for settings made in
    code; a config file gets these checks from `load_configuration`, with lines)."""
    known = {w.id for w in watchlists}
    platforms = set(platforms)
    problems = []
    for n, sub in enumerate(settings.subscriptions):
        if problem := unknown_watchlists(sub.watchlists, known):
            problems.append(f"subscriptions.{n}.watchlists: {problem}")
        channel = parse_channel(sub.channel)
        if problem := unconfigured_platform(sub.channel, platforms) or webhook_problem(channel):
            problems.append(f"subscriptions.{n}.channel: {problem}")
    if problem := repeated_subscriptions(settings.subscriptions):
        problems.append(f"subscriptions: {problem}")
    problems += apprise_problems(settings)
    if problems:
        raise ConfigError(problems)


def apprise_problems(settings: Settings) -> list[str]:
    """One problem per subscription whose `apprise:` URL apprise cannot use (parsed and
    instantiated, never sent to); apprise is loaded only when a subscription names one.
    A URL not set is `webhook_problem`'s to report, and is skipped here."""
    named = [
        (n, channel)
        for n, sub in enumerate(settings.subscriptions)
        if (channel := parse_channel(sub.channel)).platform == "apprise"
    ]
    if not named:
        return []
    from adapters.apprise import url_problem  # lazily: apprise loads its 100 plugins

    problems = []
    for n, channel in named:
        try:
            problem = url_problem(channel)
        except ConfigError:
            continue  # unreadable: already reported by webhook_problem
        if problem:
            problems.append(f"subscriptions.{n}.channel: {problem}")
    return problems


def load_configuration(path: Path | None) -> tuple[Settings, list[Watchlist]]:
    """The settings of config file `path` (None: the defaults) and the watchlists they
    name, each subscription checked against both and against the platforms' secrets.
    Raises ConfigError with every problem of the config file and the watchlist files at
    once, each with its file and line."""
    document = None
    if path is not None:
        if not path.exists():
            raise ConfigError([f"{path}: config file not found"])
        document = load_yaml(path)
    problems: list[str] = []
    known: set[str] | None = None
    try:
        watchlists = load_configured_watchlists(_folder_settings(document))
        known = {w.id for w in watchlists}
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        settings = load_settings(
            path, watchlists=known, platforms=configured_platforms(), document=document
        )
    except ConfigError as exc:
        raise ConfigError([*exc.problems, *problems]) from exc
    problems += apprise_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings, watchlists


def _folder_settings(document: YamlDocument | None) -> Settings:
    """The two settings that choose the watchlist folders (`watchlists_dir`,
    `bundled_watchlists`), read from the file as they are: a bad value is
    `load_settings`'s to report, and the default stands in for it here."""
    data = document.data if document is not None and isinstance(document.data, dict) else {}
    bundled = data.get("bundled_watchlists", True)
    folder: Path | None = None
    if from_env := variable("WIREWATCH_WATCHLISTS"):  # as load_settings reads it: as given
        folder = Path(from_env)
    elif document is not None and isinstance(data.get("watchlists_dir"), str):
        folder = document.path.parent / data["watchlists_dir"]  # beside the config file
    return Settings(
        watchlists_dir=folder, bundled_watchlists=bundled if isinstance(bundled, bool) else True
    )
