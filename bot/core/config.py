"""Settings: one YAML file (optional) plus environment variables, validated once at startup.

Resolution: `--config PATH`, else `$WIREWATCH_CONFIG`, else `./wirewatch.yaml` if it
exists, else the embedded defaults. Relative paths in a config file are relative to
that file's folder; without a file, to the current folder. Secrets never live in the
file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.channels import parse_channel
from bot.core.cron import check_cron, check_timezone, parse_quiet_hours
from bot.core.environment import variable
from bot.core.errors import ConfigError
from bot.core.yaml_source import load_yaml

DEFAULT_CONFIG_NAME = "wirewatch.yaml"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# items taken from one feed body at most: ten times an ordinary feed and more than the
# busiest carry, while the parser's answer stays well under a megabyte
DEFAULT_MAX_ITEMS = 500
_BYTE_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 1024**2, "gb": 10**9}


def parse_duration(value: Any) -> timedelta:
    """`90`, `"90s"`, `"15m"`, `"2h"`, `"1d"`, `"1h30m"` → timedelta; anything else is an error."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h or 1d")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration such as 90s, 15m, 2h or 1d")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def parse_byte_size(value: Any) -> int:
    """`1048576`, `"10MiB"`, `"500 kB"` → a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(value).lower())
    if not match or match.group(2) not in _BYTE_UNITS:
        raise ValueError(f"{value!r} is not a size such as 10MiB or 500kB")
    return int(float(match.group(1)) * _BYTE_UNITS[match.group(2)])


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
# intervals, timeouts and ages: zero or less would poll in a busy loop or time out at once
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    """A feed listed in the config file."""

    url: str
    name: str | None = None
    interval: PositiveDuration | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/]+", url.strip()):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url.strip()


class PollSettings(_Strict):
    """How feeds are fetched and when."""

    interval: PositiveDuration = timedelta(minutes=15)
    tick: PositiveDuration = timedelta(seconds=15)
    concurrency: int = Field(default=32, ge=1, le=1000)
    per_host: int = Field(default=2, ge=1, le=100)
    connect_timeout: PositiveDuration = timedelta(seconds=10)
    read_timeout: PositiveDuration = timedelta(seconds=30)
    total_timeout: PositiveDuration = timedelta(seconds=90)
    max_bytes: ByteSize = 10 * 1024 * 1024
    max_items: int = Field(default=DEFAULT_MAX_ITEMS, ge=10, le=10_000)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_item_age: PositiveDuration = timedelta(hours=48)
    max_backoff: PositiveDuration = timedelta(hours=6)
    dead_after: int = Field(default=8, ge=1)
    user_agent: str | None = None
    parse_worker: bool = True


class SubscriptionConfig(_Strict):
    """A channel's subscription to watchlists, declared in the config file.

    `alerts`: post each story at or above a watchlist's alert threshold at once.
    `digest`: a cron schedule (`0 8 * * mon-fri`) in `timezone` for a digest of
    everything matched since the last one. Alerts during `quiet_hours` (`22:00-07:00`,
    in `timezone`) go into the next digest if there is one, else out when they end.
    `mention_role`: a Discord role id its alerts ping (the only mention ever allowed).
    """

    channel: str
    watchlists: list[str] = Field(min_length=1)
    alerts: bool = True
    digest: str | None = None
    timezone: str = "UTC"
    min_score: float = Field(default=0.0, ge=0.0)
    quiet_hours: str | None = None
    nothing_new: bool = False
    name: str | None = None
    mention_role: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return str(parse_channel(value))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value

    @field_validator("mention_role", mode="before")
    @classmethod
    def _mention_role(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"\d{15,21}", text):
            raise ValueError(f"{value!r} is not a Discord role id (15 to 21 digits)")
        return text

    @property
    def key(self) -> str:
        """This subscription's identity across restarts: its name, else what it does."""
        if self.name:
            return f"config:{self.name}"
        modes = "+".join(m for m, on in (("alerts", self.alerts), ("digest", self.digest)) if on)
        return f"config:{self.channel}:{','.join(sorted(self.watchlists))}:{modes}"

    @model_validator(mode="after")
    def _schedule(self) -> SubscriptionConfig:
        if self.digest is not None:
            check_cron(self.digest, self.timezone)
        if not self.alerts and self.digest is None:
            raise ValueError("a subscription needs alerts, a digest schedule, or both")
        if self.mention_role and parse_channel(self.channel).adapter != "discord":
            raise ValueError("mention_role is for Discord channels (a Discord role id)")
        return self


class DeliverySettings(_Strict):
    """How the outbox delivers: retries and pacing."""

    retry_for: PositiveDuration = timedelta(hours=48)
    max_backoff: PositiveDuration = timedelta(minutes=30)
    pacing: dict[str, Duration] = {}  # platform -> seconds between messages to one channel
    digest_size: int = Field(default=10, ge=1, le=50)  # stories per watchlist in a digest

    @field_validator("pacing")
    @classmethod
    def _platforms(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        unknown = sorted(set(value) - {"console", "discord", "slack"})
        if unknown:
            raise ValueError(f"unknown platform {unknown[0]!r} (expected console, discord, slack)")
        return value

    @field_validator("retry_for")
    @classmethod
    def _at_least_a_day(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=24):
            raise ValueError("retries must continue for at least 24h")
        return value


class WebSettings(_Strict):
    """The bot's web server (health, Slack HTTP mode); off while `port` is unset."""

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)


class Settings(_Strict):
    """The whole configuration; every field has a default, so no file at all is valid."""

    data_dir: Path = Path("data")
    database_url: str | None = None
    watchlists_dir: Path | None = None
    default_feeds: bool = True
    feeds: list[FeedConfig] = []
    poll: PollSettings = PollSettings()
    subscriptions: list[SubscriptionConfig] = []
    delivery: DeliverySettings = DeliverySettings()
    web: WebSettings = WebSettings()

    def resolved_database_url(self) -> str:
        """`$WIREWATCH_DATABASE_URL`, else `database_url`, else SQLite in `data_dir`."""
        url = variable("WIREWATCH_DATABASE_URL") or self.database_url
        return url or f"sqlite+aiosqlite:///{self.data_dir / 'wirewatch.db'}"


def find_config(explicit: str | None) -> Path | None:
    """The config file to read, or None for the embedded defaults."""
    chosen = explicit or variable("WIREWATCH_CONFIG")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_settings(path: Path | None) -> Settings:
    """Read and validate `path` (None: defaults). Raises ConfigError listing every problem."""
    if path is None:
        return _with_env(Settings())
    if not path.exists():
        raise ConfigError([f"{path}: config file not found"])
    doc = load_yaml(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config file must be a mapping of settings"])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(doc.describe(exc)) from exc
    base = path.parent
    updates: dict[str, Any] = {"data_dir": base / settings.data_dir}
    if settings.watchlists_dir is not None:
        updates["watchlists_dir"] = base / settings.watchlists_dir
    return _with_env(settings.model_copy(update=updates))


def _with_env(settings: Settings) -> Settings:
    """Apply the environment variables that override file settings."""
    updates: dict[str, Any] = {}
    if data_dir := variable("WIREWATCH_DATA_DIR"):
        updates["data_dir"] = Path(data_dir)
    if watchlists := variable("WIREWATCH_WATCHLISTS"):
        updates["watchlists_dir"] = Path(watchlists)
    web = variable("WIREWATCH_WEB_HOST"), variable("WIREWATCH_WEB_PORT")
    if any(web):
        try:
            updates["web"] = WebSettings(
                host=web[0] or settings.web.host, port=int(web[1]) if web[1] else settings.web.port
            )
        except ValueError as exc:
            raise ConfigError([f"WIREWATCH_WEB_PORT / WIREWATCH_WEB_HOST: {exc}"]) from exc
    return settings.model_copy(update=updates) if updates else settings
