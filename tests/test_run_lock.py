"""One running bot per SQLite file: a second `wirewatch run` on the same file is refused
with a clear message, while commands that only look run beside it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from recording import RecordingAdapter

from bot.core.config import Settings
from bot.core.errors import UsageError
from bot.matching.watchlists import load_configured_watchlists
from bot.service.app import open_app
from bot.storage.run_lock import RunLock


def settings(url: str) -> Settings:
    return Settings(default_feeds=False, database_url=url)


async def test_a_second_running_bot_on_one_sqlite_file_is_refused(sqlite_url: str) -> None:
    config = settings(sqlite_url)
    watchlists = load_configured_watchlists(config)
    adapters = {"console": RecordingAdapter()}
    async with open_app(config, watchlists, adapters, deliver=True):
        with pytest.raises(UsageError) as refused:
            async with open_app(config, watchlists, adapters, deliver=True):
                pass
        assert f"(pid {os.getpid()})" in str(refused.value)
        assert "one bot per SQLite file" in str(refused.value)
        async with open_app(config, watchlists):  # a command that only looks
            pass
    async with open_app(config, watchlists, adapters, deliver=True):  # released
        pass


def test_other_databases_take_no_lock() -> None:
    with RunLock("postgresql://u:p@127.0.0.1/w") as lock:
        assert lock.path is None


@pytest.mark.slow
async def test_wirewatch_run_twice_on_one_file_says_why_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\n")
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        lock = tmp_path / "data" / "wirewatch.db.lock"
        for _ in range(200):  # until the first one holds the lock (its pid is written)
            if lock.exists() and lock.read_bytes():
                break
            await asyncio.sleep(0.05)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--once", cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(second.communicate(), 60)
    finally:
        first.terminate()
        await asyncio.wait_for(first.communicate(), 30)
    assert second.returncode == 2
    assert f"another wirewatch run (pid {first.pid})" in err.decode()
