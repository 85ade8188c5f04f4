"""Database URLs: which ones wirewatch takes, the async driver for each, and how to show
one without its password."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.errors import ConfigError

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class DatabaseUrlError(ConfigError):
    """A database URL that is malformed or names a database wirewatch does not support."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


def async_database_url(url: str) -> str:
    """`url` with wirewatch's async driver: `sqlite:///path` and `sqlite+aiosqlite:///path`
    give aiosqlite, `postgresql://…` (or `postgres://…`, `postgresql+asyncpg://…`) asyncpg.
    Raises DatabaseUrlError for anything else."""
    from sqlalchemy.engine import make_url  # only commands that open a database load it
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise DatabaseUrlError(f"{display_url(url)!r} is not a database URL") from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseUrlError(
            f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///PATH "
            "or postgresql://USER:PASSWORD@HOST/DATABASE"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Whether `url` (any form `async_database_url` takes) names a SQLite database."""
    return async_database_url(url).startswith("sqlite")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite `url` (any form `async_database_url` takes); None for another
    database or an in-memory one."""
    from sqlalchemy.engine import make_url  # only commands that open a database load it

    parsed = make_url(async_database_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def display_url(url: str) -> str:
    """`url` fit for logs and messages: everything between `user:` and the last `@` is
    shown as `***`, so no password shows, whatever it holds (`/`, `@`); a query with an
    `@` in it may be hidden too, which costs only detail."""
    match = _CREDENTIALS.match(url)
    if match is None:
        return url
    return f"{match['head']}***@{match['rest']}"


_CREDENTIALS = re.compile(r"(?P<head>[\w+.-]+://[^:/@]*:)(?P<secret>.*)@(?P<rest>[^@]*)\Z", re.S)
