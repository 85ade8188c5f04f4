"""The web server's settings (`web:` in the config file, `WIREWATCH_WEB_HOST` and
`WIREWATCH_WEB_PORT`), read without pydantic: `wirewatch health`, which the image runs
every 30 s, needs nothing else, and `load_settings` reads the section the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.core.environment import variable
from bot.core.errors import ConfigError
from bot.core.safe_text import CONTROLS
from bot.core.wording import quoted
from bot.core.yaml_source import YamlDocument, load_yaml

DEFAULT_HOST = "127.0.0.1"
_PORT = "expected a port number from 0 to 65535"


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The bot's web server (health, metrics, watchlist feeds, Slack HTTP mode); off while
    `port` is unset (0: any free port)."""

    host: str = DEFAULT_HOST
    port: int | None = None
    public_status: bool = False  # /readyz and /metrics answer internet addresses too
    public_feeds: bool = False  # /feeds/<watchlist>.atom and .json need no token
    feed_size: int = 50  # stories in a watchlist's feed


def read_web_section(doc: YamlDocument, section: Any) -> tuple[WebSettings, list[tuple[int, str]]]:
    """The `web:` mapping of `doc` as WebSettings, and every problem in it as
    `(line, "file:line: web.key: message")` (the defaults stand in for a bad value)."""
    if section is None:
        return WebSettings(), []
    problems: list[tuple[int, str]] = []

    def problem(key: str | None, message: str) -> None:
        loc = ("web", key) if key else ("web",)
        line = doc.line_of(loc) or 0
        where = f"{doc.path}:{line}" if line else str(doc.path)
        problems.append((line, f"{where}: {'.'.join(loc)}: {message}"))

    if not isinstance(section, dict):
        problem(None, "expected a mapping (key: value lines)")
        return WebSettings(), problems
    for key in section:
        if key not in ("host", "port", "public_status", "public_feeds", "feed_size"):
            problem(str(key), "unknown key")
    host, port = section.get("host", DEFAULT_HOST), section.get("port")
    if not isinstance(host, str) or not _is_host(host):
        problem("host", _not_a_host(host))
        host = DEFAULT_HOST
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        problem("port", _PORT)
        port = None
    elif port is not None and not 0 <= port <= 65535:
        problem("port", f"{port} is not a port number (0 to 65535)")
        port = None
    public = section.get("public_status", False)
    if not isinstance(public, bool):
        problem("public_status", "expected true or false")
        public = False
    feeds = section.get("public_feeds", False)
    if not isinstance(feeds, bool):
        problem("public_feeds", "expected true or false")
        feeds = False
    size = section.get("feed_size", 50)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 200:
        problem("feed_size", f"expected a number of stories from 1 to 200, not {quoted(size)}")
        size = 50
    return WebSettings(host, port, public, feeds, size), problems


def web_overrides() -> tuple[dict[str, Any], list[str]]:
    """The web settings `WIREWATCH_WEB_HOST` and `WIREWATCH_WEB_PORT` override (they win
    over the file), and a problem naming the variable for each bad value."""
    web: dict[str, Any] = {}
    problems: list[str] = []
    if host := variable("WIREWATCH_WEB_HOST"):
        if _is_host(host):
            web["host"] = host
        else:
            problems.append(f"WIREWATCH_WEB_HOST: {_not_a_host(host)}")
    if port := variable("WIREWATCH_WEB_PORT"):
        if re.fullmatch(r"[0-9]{1,5}", port) and int(port) <= 65535:
            web["port"] = int(port)
        else:
            problems.append(f"WIREWATCH_WEB_PORT: {_PORT}, not {quoted(port)}")
    return web, problems


def read_web_settings(path: Path | None) -> WebSettings:
    """The `web` settings of config file `path` (None: the defaults), the environment
    applied. Only that section is checked here; `wirewatch check` checks the rest."""
    web, problems = WebSettings(), []
    if path is not None:
        if not path.exists():
            raise ConfigError([f"{path}: config file not found"])
        doc = load_yaml(path)
        data = doc.data if isinstance(doc.data, dict) else {}
        web, found = read_web_section(doc, data.get("web"))
        problems = [text for _, text in sorted(found)]
    overrides, env_problems = web_overrides()
    if problems or env_problems:
        raise ConfigError([*problems, *env_problems])
    return replace(web, **overrides)


def _is_host(value: str) -> bool:
    return bool(value) and not re.search(r"\s", value) and not CONTROLS.search(value)


def _not_a_host(value: object) -> str:
    return f"{quoted(value)} is not a host name or address"
