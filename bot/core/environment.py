"""Every environment variable wirewatch reads, read here and nowhere else.

Secrets (tokens, webhook URLs) come from `NAME`, or from the file named by `NAME_FILE`
(Docker secrets); they never come from the config file and are never logged. The chat
platforms' settings live here too, so that knowing which platforms are configured loads
no platform library.

Values are untrusted input like the config file: one that is malformed (a secret with a
space or a control character in it, a URL that is not http(s), a yes/no that is neither)
is a ConfigError naming the variable, never a failure later on.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.channels import ChannelRef
from bot.core.errors import ConfigError
from bot.core.safe_text import CONTROLS
from bot.core.wording import quoted

DEFAULT_CONFIG_NAME = "wirewatch.yaml"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_SNOWFLAKE = re.compile(r"[0-9]{15,21}")
_SLACK_ADMIN = re.compile(r"[USW][A-Z0-9]{2,20}")  # user, user group, enterprise user ids
_URL = re.compile(r"https?://[^\s/]+\S*")
_FALSE = ("0", "false", "no", "off")
_SECRET_LIMIT = 64 * 1024
_TRUE = ("1", "true", "yes", "on")


def variable(name: str) -> str | None:
    """The value of environment variable `name`, stripped; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def proxies() -> dict[str, str]:
    """The proxies `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` name, by scheme (`no` for the
    bypass list), as the standard library reads them."""
    return urllib.request.getproxies_environment()


def find_config(explicit: str | None) -> Path | None:
    """The config file to read, or None for the embedded defaults."""
    chosen = explicit or variable("WIREWATCH_CONFIG")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def read_secret(name: str) -> str | None:
    """The value of `name` or of the file `name_FILE` names (stripped), else None; a file
    is read up to `_SECRET_LIMIT` bytes, and a value must be one word of printable text."""
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if value and path:
        raise ConfigError([f"set {name} or {name}_FILE, not both"])
    if path:
        name = f"{name}_FILE"
        value = _secret_file(name, Path(path))
    value = value.strip() if value else None
    if value and (re.search(r"\s", value) or CONTROLS.search(value)):
        raise ConfigError([f"{name}: a space or a control character inside the value"])
    return value


def _secret_file(name: str, path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(_SECRET_LIMIT + 1)
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read {path}: {exc.strerror}"]) from exc
    if len(data) > _SECRET_LIMIT:
        raise ConfigError([f"{name}: {path} is longer than a secret ({_SECRET_LIMIT:,} bytes)"])
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{name}: {path} is not UTF-8 text"]) from exc
    if not value:
        raise ConfigError([f"{name}: {path} is empty"])
    return value


FEED_TOKEN_MIN = 16  # characters of WIREWATCH_FEED_TOKEN, which travels in readers' URLs


def feed_token() -> str | None:
    """`WIREWATCH_FEED_TOKEN` (or `_FILE`): the token a watchlist feed's URL must carry
    (`?token=`); None leaves the feeds off unless `web.public_feeds` is true. A token
    shorter than FEED_TOKEN_MIN characters is a ConfigError: it could be guessed."""
    token = read_secret("WIREWATCH_FEED_TOKEN")
    if token is not None and len(token) < FEED_TOKEN_MIN:
        raise ConfigError(
            [
                f"WIREWATCH_FEED_TOKEN must be at least {FEED_TOKEN_MIN} characters "
                f"(it has {len(token)}); `openssl rand -hex 24` makes one"
            ]
        )
    return token


def names_starting(prefix: str) -> list[str]:
    """The environment variables whose names start with `prefix`, `_FILE` forms included."""
    return sorted(name for name in os.environ if name.startswith(prefix))


def webhook_variables(platform: str) -> list[str]:
    """The channel URL variables set for `platform` (`discord`, `slack`: webhooks;
    `apprise`, `webhook`: every channel), `_FILE` forms included, signing secrets not."""
    prefix = (
        f"WIREWATCH_{platform.upper()}_"
        if platform in ("apprise", "webhook")
        else f"WIREWATCH_{platform.upper()}_WEBHOOK_"
    )
    return [
        name
        for name in names_starting(prefix)
        if not name.removesuffix("_FILE").endswith("_SECRET")
    ]


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """What the Discord adapter needs, from the environment (`from_env`) or given directly."""

    token: str | None = None
    guild_id: int | None = None  # sync the commands to this server only
    api_url: str | None = None  # REST base, e.g. http://proxy:8080/api/v10
    admin_role: int | None = None  # may run subscribe/unsubscribe/digest
    webhooks: Mapping[str, str] = field(default_factory=dict)  # name → URL, else from env
    timeout: float = 60.0  # seconds for one REST call, rate-limit waits included

    @classmethod
    def from_env(cls) -> DiscordSettings:
        """`WIREWATCH_DISCORD_TOKEN` (or `_FILE`), `WIREWATCH_DISCORD_GUILD_ID`,
        `WIREWATCH_DISCORD_API_URL`, `WIREWATCH_DISCORD_ADMIN_ROLE`. Raises ConfigError
        when an id is not one."""
        return cls(
            token=read_secret("WIREWATCH_DISCORD_TOKEN"),
            guild_id=_snowflake("WIREWATCH_DISCORD_GUILD_ID", "a server id"),
            api_url=_url("WIREWATCH_DISCORD_API_URL"),
            admin_role=_snowflake("WIREWATCH_DISCORD_ADMIN_ROLE", "a role id"),
        )

    def configured(self) -> bool:
        """Whether anything Discord is set up (a bot token or a webhook)."""
        return bool(self.token or self.webhooks or webhook_variables("discord"))


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """What the Slack adapter needs, from the environment (`from_env`) or given directly."""

    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    api_url: str = DEFAULT_SLACK_API_URL
    socket_mode: bool = True
    admins: frozenset[str] = frozenset()  # user ids (U…) and user group ids (S…)
    webhooks: Mapping[str, str] = field(default_factory=dict)  # name → URL, else from env

    @classmethod
    def from_env(cls) -> SlackSettings:
        """`WIREWATCH_SLACK_BOT_TOKEN`, `_APP_TOKEN`, `_SIGNING_SECRET` (each also `_FILE`),
        `WIREWATCH_SLACK_API_URL`, `WIREWATCH_SLACK_SOCKET_MODE` (`false` for HTTP mode),
        `WIREWATCH_SLACK_ADMINS` (comma-separated user and user-group ids)."""
        admins = frozenset(
            a.strip() for a in (variable("WIREWATCH_SLACK_ADMINS") or "").split(",") if a.strip()
        )
        for admin in sorted(admins):
            if not _SLACK_ADMIN.fullmatch(admin):
                raise ConfigError(
                    [
                        f"WIREWATCH_SLACK_ADMINS: {quoted(admin)} is not a Slack user or user "
                        "group id (U…, W… or S…)"
                    ]
                )
        return cls(
            bot_token=read_secret("WIREWATCH_SLACK_BOT_TOKEN"),
            app_token=read_secret("WIREWATCH_SLACK_APP_TOKEN"),
            signing_secret=read_secret("WIREWATCH_SLACK_SIGNING_SECRET"),
            api_url=_url("WIREWATCH_SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            socket_mode=_yes_no("WIREWATCH_SLACK_SOCKET_MODE", default=True),
            admins=admins,
        )

    def configured(self) -> bool:
        """Whether anything Slack is set up (a bot token or a webhook)."""
        return bool(self.bot_token or self.webhooks or webhook_variables("slack"))


def _snowflake(name: str, what: str) -> int | None:
    value = variable(name)
    if value is None:
        return None
    if not _SNOWFLAKE.fullmatch(value):
        raise ConfigError([f"{name}: expected {what} (15 to 21 digits), not {quoted(value)}"])
    return int(value)


def _url(name: str) -> str | None:
    value = variable(name)
    if value is not None and (not _URL.fullmatch(value) or CONTROLS.search(value)):
        raise ConfigError([f"{name}: {quoted(value)} is not an http(s) URL"])
    return value


def _yes_no(name: str, *, default: bool) -> bool:
    value = (variable(name) or "").lower()
    if not value:
        return default
    if value not in _TRUE + _FALSE:
        raise ConfigError([f"{name}: expected true or false, not {quoted(value)}"])
    return value in _TRUE


# Where each platform's incoming webhooks live (a proxy set as the platform's API URL
# is accepted too: WIREWATCH_SLACK_API_URL, WIREWATCH_DISCORD_API_URL).
_WEBHOOK_HOSTS = {
    "slack": ("hooks.slack.com", "hooks.slack-gov.com"),
    "discord": ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"),
}
_API_URL_VARIABLES = {"slack": "WIREWATCH_SLACK_API_URL", "discord": "WIREWATCH_DISCORD_API_URL"}


def webhook_problem(channel: ChannelRef) -> str | None:
    """Why channel `channel`, if it is a named URL, cannot be posted to (its variable
    unset or unreadable; a platform's webhook not an https URL of that platform; a signed
    webhook's URL or secret unfit), or None; never shows the URL or the secret. (Whether
    apprise can use an `apprise:` URL is the apprise adapter's to say.)"""
    name = channel.webhook_env()
    if name is None:
        return None
    try:
        url = read_secret(name)
    except ConfigError as exc:
        return "; ".join(exc.problems)
    platform = channel.adapter
    if not url:
        others = [v.removesuffix("_FILE") for v in webhook_variables(platform)]
        hint = f" (set now: {', '.join(sorted(set(others)))})" if others else ""
        return f"{channel} needs its URL in {name} (or {name}_FILE), which is not set{hint}"
    if platform == "apprise":
        return None
    if platform == "webhook":
        return signed_webhook_problem(channel, url)
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    proxy = urlsplit(variable(_API_URL_VARIABLES[platform]) or "").hostname
    if proxy and host == proxy.lower():
        return None
    expected = " or ".join(_WEBHOOK_HOSTS[platform])
    if parsed.scheme != "https" or host not in _WEBHOOK_HOSTS[platform]:
        shown = f"{parsed.scheme}://{host}" if parsed.scheme and host else "something else"
        return f"{name} must hold an https URL on {expected}, not {shown}"
    if platform == "discord" and not parsed.path.startswith("/api/webhooks/"):
        return f"{name} must hold a Discord webhook URL (https://discord.com/api/webhooks/…)"
    return None


SIGNING_SECRET_MIN = 16  # characters of a signed webhook's shared secret


def signed_webhook_problem(channel: ChannelRef, url: str) -> str | None:
    """Why signed webhook `channel` (URL `url`) cannot be posted to, or None: the URL must
    be https (plain http only to this machine: localhost, 127.0.0.0/8, ::1) with a host,
    and the secret in `..._SECRET` (or `_SECRET_FILE`) at least SIGNING_SECRET_MIN
    characters. Never shows the URL or the secret."""
    name = channel.webhook_env()
    try:
        parsed = urlsplit(url)
        host = (parsed.hostname or "").lower()
        parsed.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError:
        return f"{name} does not hold a URL (its host or port cannot be read)"
    loopback = host == "localhost" or _is_loopback_address(host)
    if parsed.scheme not in ("https", "http") or not host:
        plain = re.fullmatch(r"[a-z][a-z0-9+.-]{0,20}", parsed.scheme)
        shown = f"{parsed.scheme}://…" if plain and host else "something else"
        return f"{name} must hold an https URL, not {shown}"
    if parsed.scheme == "http" and not loopback:
        return (
            f"{name} must hold an https URL: plain http is allowed only to this machine "
            f"(localhost), not to {host}"
        )
    secret_name = channel.signing_env()
    assert secret_name is not None
    try:
        secret = read_secret(secret_name)
    except ConfigError as exc:
        return "; ".join(exc.problems)
    if not secret:
        return (
            f"{channel} needs its signing secret in {secret_name} (or {secret_name}_FILE), "
            "which is not set"
        )
    if len(secret) < SIGNING_SECRET_MIN:
        return f"{secret_name}: a signing secret needs at least {SIGNING_SECRET_MIN} characters"
    return None


def signing_secret(channel: ChannelRef) -> str | None:
    """The signing secret of `webhook:` channel `channel`, or None when unset."""
    name = channel.signing_env()
    return read_secret(name) if name else None


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
