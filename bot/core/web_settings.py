"""The web server's settings (`web:` in the config file, `WIREWATCH_WEB_HOST` and
`WIREWATCH_WEB_PORT`), read without pydantic: `wirewatch health`, which the image runs
every 30 s, needs nothing else, and `load_settings` reads the section the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.environment import variable
from bot.core.errors import ConfigError
from bot.core.yaml_source import YamlDocument, load_config_file


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The bot's web server (health, metrics, Slack HTTP mode); off while `port` is unset
    (0: any free port)."""

    host: str = "127.0.0.1"
    port: int | None = None


def read_web_section(doc: YamlDocument, section: Any) -> tuple[WebSettings, list[str]]:
    """The `web:` mapping of `doc` as WebSettings, and every problem in it as
    `file:line: web.key: message` (the defaults stand in for a bad value)."""
    if section is None:
        return WebSettings(), []
    problems: list[str] = []

    def problem(key: str | None, message: str) -> None:
        loc = ("web", key) if key else ("web",)
        line = doc.line_of(loc)
        where = f"{doc.path}:{line}" if line else str(doc.path)
        problems.append(f"{where}: {'.'.join(loc)}: {message}")

    if not isinstance(section, dict):
        problem(None, "expected a mapping (key: value lines)")
        return WebSettings(), problems
    for key in section:
        if key not in ("host", "port"):
            problem(str(key), "unknown key")
    host, port = section.get("host", "127.0.0.1"), section.get("port")
    if not isinstance(host, str) or not host.strip():
        problem("host", "expected a host name or address, such as 127.0.0.1 or 0.0.0.0")
        host = "127.0.0.1"
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        problem("port", "expected a port number from 0 to 65535")
        port = None
    elif port is not None and not 0 <= port <= 65535:
        problem("port", f"{port} is not a port number (0 to 65535)")
        port = None
    return WebSettings(host.strip(), port), problems


def with_web_env(web: WebSettings) -> WebSettings:
    """`web` with `WIREWATCH_WEB_HOST` and `WIREWATCH_WEB_PORT` applied (they win over the
    file); `web` itself when neither is set. A bad value is a ConfigError naming it."""
    host, port = variable("WIREWATCH_WEB_HOST"), variable("WIREWATCH_WEB_PORT")
    if host is None and port is None:
        return web
    number = web.port
    if port is not None:
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError([f"WIREWATCH_WEB_PORT: {port!r} is not a port number (0 to 65535)"])
        number = int(port)
    return WebSettings(host or web.host, number)


def read_web_settings(path: Path | None) -> WebSettings:
    """The `web` settings of config file `path` (None: the defaults), the environment
    applied. Only that section is checked here; `wirewatch check` checks the rest."""
    if path is None:
        return with_web_env(WebSettings())
    doc, data = load_config_file(path)
    web, problems = read_web_section(doc, data.get("web"))
    if problems:
        raise ConfigError(problems)
    return with_web_env(web)
