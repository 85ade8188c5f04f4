"""`wirewatch backup`: a consistent copy of a SQLite database that is open and written to."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.models import FeedSpec
from bot.storage.backup import BackupError, backup_sqlite
from bot.storage.store import Store

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_a_backup_of_a_running_store_holds_its_latest_writes(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = await Store.open(sqlite_url)
    try:
        feeds = [
            FeedSpec(f"https://news.example.test/{n}.xml", f"Feed {n}", "config") for n in range(30)
        ]
        await store.sync_feeds(feeds, NOW)  # still in the WAL: the store is open
        (tmp_path / "backup").mkdir()
        size = backup_sqlite(sqlite_url, tmp_path / "backup" / "wirewatch.db")
    finally:
        await store.close()
    assert size > 0 and count(tmp_path / "backup" / "wirewatch.db", "feeds") == 30
    restored = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'backup' / 'wirewatch.db'}")
    try:
        assert len(await restored.list_feeds()) == 30
    finally:
        await restored.close()


def test_backup_refuses_to_overwrite_or_to_copy_what_is_not_sqlite(tmp_path: Path) -> None:
    existing = tmp_path / "old.db"
    existing.write_bytes(b"keep me")
    with pytest.raises(BackupError, match="no database at"):
        backup_sqlite(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", tmp_path / "new.db")
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+asyncpg://u:p@127.0.0.1/wirewatch", tmp_path / "new.db")
    source = tmp_path / "wirewatch.db"
    sqlite3.connect(source).close()
    with pytest.raises(BackupError, match=r"no folder .*missing to write x\.db in"):
        backup_sqlite(f"sqlite:///{source}", tmp_path / "missing" / "x.db")
    assert not (tmp_path / "missing").exists()  # a mistyped folder is not made
    with pytest.raises(BackupError, match="exists already"):
        backup_sqlite(f"sqlite:///{source}", existing)
    assert existing.read_bytes() == b"keep me"


def test_wirewatch_backup_prints_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\n")
    assert main(["feeds"]) == 0  # creates the database
    assert main(["backup", "copy.db"]) == 0
    assert "to copy.db (" in capsys.readouterr().out
    assert main(["backup", "copy.db"]) == 1
    assert "exists already" in capsys.readouterr().err


def test_a_failed_backup_says_why_and_leaves_no_file(tmp_path: Path) -> None:
    garbage = tmp_path / "wirewatch.db"
    garbage.write_bytes(b"not a database at all" * 100)
    target = tmp_path / "backup.db"
    with pytest.raises(BackupError, match="failed"):
        backup_sqlite(f"sqlite:///{garbage}", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wirewatch.db"]
