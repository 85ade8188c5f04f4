"""Settings: one YAML file (optional) plus environment variables, validated once at startup.

Resolution: `--config PATH`, else `$WIREWATCH_CONFIG`, else `./wirewatch.yaml` if it
exists, else the embedded defaults. Relative paths in a config file are relative to
that file's folder; without a file, to the current folder. Secrets never live in the
file.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.core.channels import PLATFORMS, followup_problem, parse_channel
from bot.core.cron import check_timezone, next_fire, parse_quiet_hours
from bot.core.environment import variable, webhook_problem
from bot.core.errors import ConfigError
from bot.core.feed_groups import unknown_group
from bot.core.safe_text import CONTROLS
from bot.core.web_settings import WebSettings, read_web_section, web_overrides
from bot.core.wording import quoted
from bot.core.yaml_source import YamlDocument, load_yaml

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}
# items taken from one feed body at most: ten times an ordinary feed and more than the
# busiest carry, while the parser's answer stays well under a megabyte
DEFAULT_MAX_ITEMS = 500
# a feed whose newest item is older than this is stale (`poll.stale_after`): a quarter
# year without news is a frozen feed, not a quiet one, for every bundled outlet
DEFAULT_STALE_AFTER = timedelta(days=90)
_BYTE_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 1024**2, "gb": 10**9}
_SECOND, _MINUTE, _HOUR, _DAY = (timedelta(seconds=n) for n in (1, 60, 3600, 86400))
_KIB, _MIB = 1024, 1024**2
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")  # printable ASCII: no control character, no newline
MAX_HEADERS = 20  # request headers one feed may add
MAX_HEADER_VALUE = 2000  # characters of one header value or user agent
# headers a feed's `headers` may not set, and why (names in lower case)
_OWN_HEADERS = {
    "host": "the fetcher sets it from the URL",
    "content-length": "the fetcher sets it",
    "transfer-encoding": "the fetcher sets it",
    "connection": "the fetcher manages its connections",
    "keep-alive": "the fetcher manages its connections",
    "proxy-connection": "the fetcher manages its connections",
    "te": "the fetcher sets it",
    "trailer": "the fetcher sets it",
    "upgrade": "the fetcher manages its connections",
    "accept-encoding": "the fetcher asks only for what it decompresses (gzip, deflate)",
    "if-none-match": "the bot's conditional GET sets it",
    "if-modified-since": "the bot's conditional GET sets it",
    "user-agent": "set the feed's `user_agent` instead",
}


def duration_seconds(value: Any) -> float:
    """`90`, `"90s"`, `"15m"`, `"2h"`, `"1d"`, `"1h30m"`, `"2y"` (a year is 365 days) →
    seconds (infinite when the number is); anything else, NaN included, is a ValueError."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h or 1d")
    if isinstance(value, int):  # compared exactly: float() of a huge int would overflow
        return float(value) if abs(value) < 10**300 else math.copysign(math.inf, value)
    if isinstance(value, float):
        seconds = value
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)([smhdwy])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{quoted(value)} is not a duration such as 90s, 15m, 2h or 1d")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if math.isnan(seconds):
        raise ValueError("expected a duration such as 90s, 15m, 2h or 1d, not .nan")
    return seconds


def _duration_between(shortest: timedelta, longest: timedelta) -> BeforeValidator:
    """Parse a duration setting and hold it to [shortest, longest] (whole seconds); zero
    or less is refused unless `shortest` is zero (it would poll in a busy loop or time
    out at once)."""

    def check(value: Any) -> timedelta:
        seconds = duration_seconds(value)
        if seconds <= 0 < shortest.total_seconds():
            raise ValueError("must be longer than 0s")
        if seconds < shortest.total_seconds():
            raise ValueError(f"must be at least {_show_duration(shortest)}")
        if seconds > longest.total_seconds():
            raise ValueError(f"must be at most {_show_duration(longest)}")
        return timedelta(seconds=seconds)

    return BeforeValidator(check)


def _kept_for(shortest: timedelta) -> BeforeValidator:
    """A retention time: a duration of at least `shortest` (at most a century), or
    `never` (also `false`) for rows kept for ever (None)."""
    duration = _duration_between(shortest, 36500 * _DAY)

    def check(value: Any) -> timedelta | None:
        if value is False or (isinstance(value, str) and value.strip().lower() == "never"):
            return None
        result: timedelta = duration.func(value)  # type: ignore[call-arg]
        return result

    return BeforeValidator(check)


def _show_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    unit = next((u for u in "dhm" if seconds and seconds % _UNITS[u] == 0), "s")
    return f"{seconds // _UNITS[unit]}{unit}"


def byte_count(value: Any) -> float:
    """`1048576`, `"10MiB"`, `"500 kB"` → a number of bytes (infinite when the number
    is); anything else is a ValueError."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value) if abs(value) < 10**300 else math.copysign(math.inf, value)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*", str(value).lower())
    if not match or match.group(2) not in _BYTE_UNITS:
        raise ValueError(f"{quoted(value)} is not a size such as 10MiB or 500kB")
    return float(match.group(1)) * _BYTE_UNITS[match.group(2)]


def _size_between(smallest: int, largest: int) -> BeforeValidator:
    """Parse a size setting and hold it to [smallest, largest] bytes."""

    def check(value: Any) -> int:
        count = byte_count(value)
        if count < smallest:
            raise ValueError(f"must be at least {smallest // _KIB}KiB")
        if count > largest:
            raise ValueError(f"must be at most {largest // _MIB}MiB")
        return int(count)

    return BeforeValidator(check)


def _no_controls(value: Any) -> Any:
    if CONTROLS.search(str(value)):
        raise ValueError("must not contain control characters (a NUL, a newline, an escape)")
    return value


def header_name_problem(name: str) -> str | None:
    """Why a feed may not send a request header named `name`, or None when it may."""
    if not _HEADER_NAME.fullmatch(name):
        return f"{quoted(name)} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
    if (why := _OWN_HEADERS.get(name.lower())) is not None:
        return f"{name} cannot be set per feed: {why}"
    return None


def value_problem(value: str, what: str) -> str | None:
    """Why `value` cannot be sent as a request header's value (`what` names it), or None."""
    if not _HEADER_VALUE.fullmatch(value):
        return f"{what} must be printable ASCII: no control character, newline or non-ASCII letter"
    if len(value) > MAX_HEADER_VALUE:
        return f"{what} is longer than {MAX_HEADER_VALUE} characters"
    return None


def _header_name(value: str) -> str:
    if problem := header_name_problem(value.strip()):
        raise ValueError(problem)
    return value.strip()


def _header_value(value: str) -> str:
    if problem := value_problem(value.strip(), "a header's value"):
        raise ValueError(problem)
    return value.strip()


def _user_agent(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty (leave it out for the bot's own)")
    if problem := value_problem(value, "user_agent"):
        raise ValueError(problem)
    return value


def _known_group(value: str) -> str:
    if problem := unknown_group(value):
        raise ValueError(problem)
    return value


# Each duration setting is held to its own range, documented in docs/configuration.md.
Interval = Annotated[timedelta, _duration_between(_MINUTE, 30 * _DAY)]  # polling a feed
Timeout = Annotated[timedelta, _duration_between(_SECOND, _HOUR)]
# text that reaches the file system, a socket or an HTTP header
OneLine = Annotated[str, AfterValidator(_no_controls)]
SafePath = Annotated[Path, AfterValidator(_no_controls)]
UserAgent = Annotated[str, AfterValidator(_user_agent)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]
FeedGroup = Annotated[str, AfterValidator(_known_group)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FeedConfig(_Strict):
    """A feed listed in the config file; `user_agent` and `headers` are sent with its
    requests (the headers only to its own host), besides or instead of the bot's."""

    url: OneLine
    name: str | None = None
    interval: Interval | None = None
    user_agent: UserAgent | None = None
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=MAX_HEADERS)

    @field_validator("headers")
    @classmethod
    def _each_once(cls, value: dict[str, str]) -> dict[str, str]:
        """Each header once, in whatever case it is written."""
        seen: dict[str, str] = {}
        for name in value:
            if (first := seen.setdefault(name.lower(), name)) != name:
                raise ValueError(f"{name} is given twice (also as {first})")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/]+", url.strip()):
            raise ValueError(f"{quoted(url)} is not an http(s) URL")
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018  # raises ValueError for a port out of range
        except ValueError:
            unread = "is not a URL (its host or port cannot be read)"
            raise ValueError(f"{quoted(url)} {unread}") from None
        if not parts.hostname:
            raise ValueError(f"{quoted(url)} names no host")
        return url.strip()


class PollSettings(_Strict):
    """How feeds are fetched and when."""

    interval: Interval = timedelta(minutes=15)
    tick: Annotated[timedelta, _duration_between(_SECOND, _HOUR)] = timedelta(seconds=15)
    concurrency: int = Field(default=32, ge=1, le=1000)
    per_host: int = Field(default=2, ge=1, le=100)
    connect_timeout: Timeout = timedelta(seconds=10)
    read_timeout: Timeout = timedelta(seconds=30)
    total_timeout: Timeout = timedelta(seconds=90)
    max_bytes: Annotated[int, _size_between(_KIB, 100 * _MIB)] = 10 * _MIB
    max_items: int = Field(default=DEFAULT_MAX_ITEMS, ge=10, le=10_000)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_item_age: Annotated[timedelta, _duration_between(_HOUR, 365 * _DAY)] = 48 * _HOUR
    max_backoff: Annotated[timedelta, _duration_between(_MINUTE, 30 * _DAY)] = 6 * _HOUR
    dead_after: int = Field(default=8, ge=1, le=1000)
    # a feed whose last body held no item, or whose newest item is older, is stale
    stale_after: Annotated[timedelta, _duration_between(_DAY, 3650 * _DAY)] = DEFAULT_STALE_AFTER
    user_agent: UserAgent | None = None
    parse_worker: bool = True
    # workers sharing PostgreSQL: how long one's claim on the feeds it polls holds (the
    # feeds of a worker that died are polled by another after this)
    claim_for: Annotated[timedelta, _duration_between(5 * _SECOND, 24 * _HOUR)] = 10 * _MINUTE
    # hosts and address ranges that feeds added from chat may reach although they are
    # loopback, private or otherwise not public (the operator's own feeds always may)
    allow_private: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("allow_private")
    @classmethod
    def _hosts_or_ranges(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            text = entry.strip().strip("[]")
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                if not _HOST_NAME.fullmatch(text):
                    raise ValueError(
                        f"{quoted(entry)} is neither a host name nor an address or CIDR range"
                    ) from None
        return [entry.strip() for entry in entries]


def unknown_watchlists(ids: Iterable[str], known: Collection[str]) -> str | None:
    """Why a subscription's watchlist ids are wrong, or None when all are `known`."""
    unknown = [i for i in ids if i not in known]
    if not unknown:
        return None
    return f"unknown watchlist {unknown[0]!r} (known: {', '.join(sorted(known))})"


def unconfigured_platform(channel: str, platforms: Collection[str]) -> str | None:
    """Why `channel` cannot be delivered to, or None when its platform is in `platforms`."""
    adapter = parse_channel(channel).adapter
    if adapter in platforms:
        return None
    variable = "WIREWATCH_DISCORD_TOKEN" if adapter == "discord" else "WIREWATCH_SLACK_BOT_TOKEN"
    return (
        f"{channel} needs the {adapter} adapter, which is not configured: set {variable} "
        "(or a webhook variable) in the environment (docs/slack.md, docs/discord.md)"
    )


def repeated_subscriptions(subscriptions: Sequence[SubscriptionConfig]) -> str | None:
    """Which subscriptions are declared twice (the same key), or None."""
    keys = Counter(s.key for s in subscriptions)
    twice = [n for n, s in enumerate(subscriptions) if keys[s.key] > 1]
    if not twice:
        return None
    items = ", ".join(str(n) for n in twice)
    return f"subscriptions {items} are the same subscription declared twice; give each a name"


class SubscriptionConfig(_Strict):
    """A channel's subscription to watchlists, declared in the config file.

    `alerts`: post each story at or above a watchlist's alert threshold at once.
    `digest`: a cron schedule (`0 8 * * mon-fri`) in `timezone` for a digest of
    everything matched since the last one. Alerts during `quiet_hours` (`22:00-07:00`,
    in `timezone`) go into the next digest if there is one, else out when they end.
    `mention_role`: a Discord role id its alerts ping (the only mention ever allowed).
    `followups`: when more outlets report a story already alerted, `edit` the alert in
    place ("also: …"), reply in its `thread`, or `off`; unset, `edit` where the channel's
    messages can be edited (Discord, Slack's Web API) and `off` elsewhere.
    """

    channel: str
    watchlists: list[str] = Field(min_length=1)
    alerts: bool = True
    digest: str | None = None
    timezone: str = "UTC"
    min_score: float = Field(default=0.0, ge=0.0, le=10_000)
    quiet_hours: str | None = None
    nothing_new: bool = False
    name: str | None = None
    mention_role: str | None = None
    followups: Literal["edit", "thread", "off"] | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str, info: ValidationInfo) -> str:
        """A channel reference; on a platform the context's `platforms` lack, an error."""
        channel = parse_channel(value)
        platforms = (info.context or {}).get("platforms")
        if platforms is None:  # not a full check: the platform and a webhook's URL
            return str(channel)
        if problem := unconfigured_platform(str(channel), platforms) or webhook_problem(channel):
            raise ValueError(problem)
        return str(channel)

    @field_validator("watchlists")
    @classmethod
    def _known_watchlists(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """The ids; one the context's `watchlists` lack is an error."""
        known = (info.context or {}).get("watchlists")
        if known is not None and (problem := unknown_watchlists(value, known)):
            raise ValueError(problem)
        return value

    @field_validator("digest")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """A cron schedule that fires (from a fixed start: a schedule repeats yearly)."""
        if value is not None:
            next_fire(value, "UTC", datetime(2000, 1, 1, tzinfo=UTC))
        return value

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
        if not self.alerts and self.digest is None:
            raise ValueError("a subscription needs alerts, a digest schedule, or both")
        if self.mention_role and parse_channel(self.channel).adapter != "discord":
            raise ValueError("mention_role is for Discord channels (a Discord role id)")
        if self.followups is not None and (
            problem := followup_problem(parse_channel(self.channel), self.followups)
        ):
            raise ValueError(problem)
        return self


class DeliverySettings(_Strict):
    """How the outbox delivers: retries and pacing."""

    retry_for: Annotated[timedelta, _duration_between(24 * _HOUR, 30 * _DAY)] = 48 * _HOUR
    max_backoff: Annotated[timedelta, _duration_between(_SECOND, 24 * _HOUR)] = 30 * _MINUTE
    # platform -> the least time between two messages to one channel
    pacing: dict[str, Annotated[timedelta, _duration_between(timedelta(0), _HOUR)]] = {}
    digest_size: int = Field(default=10, ge=1, le=50)  # stories per watchlist in a digest
    # the least time between two follow-ups (edits or thread replies) of one alert
    followups_min_interval: Annotated[timedelta, _duration_between(_MINUTE, 24 * _HOUR)] = (
        10 * _MINUTE
    )
    # workers sharing PostgreSQL: how long one's claim on a delivery it sends holds (a
    # send of a worker that died is made again by another after this)
    claim_for: Annotated[timedelta, _duration_between(5 * _SECOND, _HOUR)] = 5 * _MINUTE

    @field_validator("pacing")
    @classmethod
    def _platforms(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        unknown = sorted(set(value) - set(PLATFORMS))
        if unknown:
            raise ValueError(f"unknown platform {unknown[0]!r} (expected {', '.join(PLATFORMS)})")
        return value


class RetentionSettings(_Strict):
    """How long the database keeps what it stores; pruned in batches `every` so often.
    `retention: off` (or `false`) keeps everything; each time may also be `never`."""

    enabled: bool = True
    items: Annotated[timedelta | None, _kept_for(7 * _DAY)] = 90 * _DAY  # matched nothing
    matches: Annotated[timedelta | None, _kept_for(30 * _DAY)] = 730 * _DAY  # and stories
    deliveries: Annotated[timedelta | None, _kept_for(30 * _DAY)] = 180 * _DAY  # finished
    # a pruned item's key, after its feed's last parsed body no longer held it
    seen_keys: Annotated[timedelta, _duration_between(_DAY, 3650 * _DAY)] = 30 * _DAY
    every: Annotated[timedelta, _duration_between(_MINUTE, _DAY)] = _HOUR

    @model_validator(mode="before")
    @classmethod
    def _on_off_or_mapping(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"enabled": value}
        if not isinstance(value, dict | RetentionSettings):
            raise ValueError(
                "expected off, on, or a mapping of items, matches, deliveries, seen_keys "
                "and every (docs/configuration.md)"
            )
        return value


class DefaultFeeds(_Strict):
    """Which groups of the bundled default feeds are polled: `true` (all), `false`
    (none), `{exclude: [groups]}` (all but these) or `{include: [groups]}` (only these)."""

    include: list[FeedGroup] | None = None
    exclude: list[FeedGroup] = []

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        if isinstance(value, list):
            raise ValueError(
                "a list of groups is ambiguous: write {exclude: [...]} to leave them out "
                "or {include: [...]} to poll only them"
            )
        if not isinstance(value, dict | DefaultFeeds):
            raise ValueError("expected true, false, {exclude: [groups]} or {include: [groups]}")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> DefaultFeeds:
        if self.include is not None and self.exclude:
            raise ValueError("give include or exclude, not both")
        return self

    def polled(self, group: str) -> bool:
        """Whether the bundled feeds of `group` are polled."""
        return (self.include is None or group in self.include) and group not in self.exclude

    @classmethod
    def of(cls, value: bool | DefaultFeeds) -> DefaultFeeds:
        """The setting as groups: `true` is every group, `false` none."""
        if isinstance(value, DefaultFeeds):
            return value
        return cls() if value else cls(include=[])

    def __bool__(self) -> bool:
        """Whether any bundled feed may be polled."""
        return self.include is None or bool(self.include)


def _bool_or_groups(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "DefaultFeeds"


# `true`, `false` or a mapping of groups; an error names the mapping's keys, not the member
DefaultFeedsSetting = Annotated[
    Annotated[bool, Tag("bool")] | Annotated[DefaultFeeds, Tag("DefaultFeeds")],
    Discriminator(_bool_or_groups),
]


class Settings(_Strict):
    """The whole configuration; every field has a default, so no file at all is valid."""

    data_dir: SafePath = Path("data")
    database_url: OneLine | None = None
    watchlists_dir: SafePath | None = None
    bundled_watchlists: bool = True  # load the bundled watchlists besides the local ones
    default_feeds: DefaultFeedsSetting = True  # all, none, or some groups (`bundled_groups`)
    watchlist_sources: bool | None = (
        None  # poll the watchlists' own feeds (default: as default_feeds)
    )
    feeds: list[FeedConfig] = []
    poll: PollSettings = PollSettings()
    subscriptions: list[SubscriptionConfig] = []
    delivery: DeliverySettings = DeliverySettings()
    retention: RetentionSettings = RetentionSettings()
    web: WebSettings = WebSettings()

    @field_validator("subscriptions")
    @classmethod
    def _distinct(cls, value: list[SubscriptionConfig]) -> list[SubscriptionConfig]:
        if problem := repeated_subscriptions(value):
            raise ValueError(problem)
        return value

    @field_validator("watchlists_dir")
    @classmethod
    def _watchlist_folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Read from a file (`context`: its folder), the folder must hold watchlists."""
        base = (info.context or {}).get("base")
        if value is not None and base is not None and (problem := _folder_problem(base / value)):
            raise ValueError(problem)
        return value

    @property
    def bundled_groups(self) -> DefaultFeeds:
        """`default_feeds` as the groups of bundled feeds to poll."""
        return DefaultFeeds.of(self.default_feeds)

    def resolved_database_url(self) -> str:
        """`$WIREWATCH_DATABASE_URL`, else `database_url`, else SQLite in `data_dir`."""
        url = variable("WIREWATCH_DATABASE_URL") or self.database_url
        return url or f"sqlite+aiosqlite:///{self.data_dir / 'wirewatch.db'}"


def load_settings(
    path: Path | None,
    *,
    watchlists: Collection[str] | None = None,
    platforms: Collection[str] | None = None,
    document: YamlDocument | None = None,
) -> Settings:
    """Read and validate `path` (None: defaults; `document`: the file already read) and
    the environment variables that override it; with `watchlists` (ids) and `platforms`,
    each subscription must name known ones. Raises ConfigError listing every problem at
    once, in line order."""
    overrides, problems = _environment_overrides()
    settings = Settings()
    if path is not None:
        context: dict[str, Any] = {"watchlists": watchlists, "platforms": platforms}
        if "watchlists_dir" not in overrides:
            context["base"] = path.parent
        try:
            settings = _read_file(path, context, document)
        except ConfigError as exc:
            problems = [*exc.problems, *problems]
    if problems:
        raise ConfigError(problems)
    web = overrides.pop("web", {})
    if web:
        overrides["web"] = replace(settings.web, **web)
    return settings.model_copy(update=overrides) if overrides else settings


def _read_file(path: Path, context: dict[str, Any], doc: YamlDocument | None) -> Settings:
    if doc is None:
        if not path.exists():
            raise ConfigError([f"{path}: config file not found"])
        doc = load_yaml(path)
    if doc.data is None:
        doc = replace(doc, data={})
    if not isinstance(doc.data, dict):
        mapping = f"{path}:1: the config file must be a mapping of settings"
        raise ConfigError([*(text for _, text in doc.problems), mapping])
    base = path.parent
    web, web_problems = read_web_section(doc, doc.data.get("web"))
    rest = replace(
        doc,
        data={key: value for key, value in doc.data.items() if key != "web"},
        problems=(*doc.problems, *web_problems),
    )
    settings = rest.validate(Settings, context=context)
    updates: dict[str, Any] = {"data_dir": base / settings.data_dir, "web": web}
    if settings.watchlists_dir is not None:
        updates["watchlists_dir"] = base / settings.watchlists_dir
    return settings.model_copy(update=updates)


def _folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot be a watchlists folder, or None if it can."""
    try:
        if not folder.exists():
            return f"{folder} does not exist"
        if not folder.is_dir():
            return f"{folder} is not a folder"
        if not any(p.suffix in (".yaml", ".yml") for p in folder.glob("*.y*ml")):
            return f"{folder} holds no watchlist files (*.yaml)"
    except OSError as exc:  # a name too long, a loop of links
        return f"cannot read {quoted(str(folder))}: {exc.strerror}"
    return None


def _environment_overrides() -> tuple[dict[str, Any], list[str]]:
    """The settings that environment variables override (`web` as a dict of its fields)
    and a problem naming the variable for each bad value."""
    updates: dict[str, Any] = {}
    problems: list[str] = []

    def bad(name: str, message: str) -> None:
        problems.append(f"{name}: {message}")

    if data_dir := variable("WIREWATCH_DATA_DIR"):
        if CONTROLS.search(data_dir):
            bad("WIREWATCH_DATA_DIR", "must not contain control characters")
        updates["data_dir"] = Path(data_dir)
    if watchlists := variable("WIREWATCH_WATCHLISTS"):
        if CONTROLS.search(watchlists):
            bad("WIREWATCH_WATCHLISTS", "must not contain control characters")
        elif problem := _folder_problem(Path(watchlists)):
            bad("WIREWATCH_WATCHLISTS", problem)
        updates["watchlists_dir"] = Path(watchlists)
    if (url := variable("WIREWATCH_DATABASE_URL")) and CONTROLS.search(url):
        bad("WIREWATCH_DATABASE_URL", "must not contain control characters")  # nor be shown
    web, web_problems = web_overrides()
    problems.extend(web_problems)
    if web:
        updates["web"] = web
    return updates, problems
