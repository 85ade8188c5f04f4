"""Shared fixtures: a loopback feed server, a fresh database on each backend, a hermetic
environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from feedserver import FeedServer
from hypothesis import settings
from pgtest import POSTGRES_ENV, SKIP_REASON, fresh_database, postgres_url

# The same examples on every run, so that CI never fails on a draw it never saw before;
# WIREWATCH_HYPOTHESIS=explore draws new ones (run it when you change a tested parser).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("WIREWATCH_HYPOTHESIS", "ci"))

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy and no wirewatch variable from the developer's shell (a Slack token, a
    web port) leaks into a test; the test-server variable is the one kept."""
    proxies = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
    for name in list(os.environ):
        if name in proxies or (name.startswith("WIREWATCH_") and name != POSTGRES_ENV):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A running FeedServer on 127.0.0.1."""
    server = await FeedServer().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'wirewatch.db'}"


@pytest.fixture
async def postgres_db_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database; skipped without `$WIREWATCH_TEST_POSTGRES_URL`."""
    server = postgres_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    async with fresh_database(server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database: each test that takes it runs once on SQLite and once on
    PostgreSQL (skipped, with the reason, when no PostgreSQL server is configured)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_db_url"
    url: str = request.getfixturevalue(fixture)
    return url
