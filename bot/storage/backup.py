"""`wirewatch backup`: a consistent copy of the SQLite database, safe while the bot runs."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.core.errors import DatabaseError


class BackupError(DatabaseError):
    """The backup could not be made; the text says why."""


def backup_sqlite(database_url: str, target: Path) -> int:
    """Copy the SQLite database at `database_url` to `target` with SQLite's online backup
    (a consistent snapshot even while the bot writes, WAL included); return its size in
    bytes. `target` must not exist; it appears only once complete (written beside it
    under a temporary name, then renamed), so a failed backup leaves nothing behind.
    Raises BackupError for other databases, a missing source, an existing target, or a
    failed copy."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"backup copies SQLite files; for {url.get_backend_name()} use its own tools "
            "(pg_dump for PostgreSQL)"
        )
    source = Path(url.database or "")
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file name")
    if not target.parent.is_dir():  # a mistyped folder must not be made silently
        raise BackupError(f"no folder {target.parent} to write {target.name} in; create it first")
    readonly = f"{source.resolve().as_uri()}?mode=ro"
    partial = target.with_name(f".{target.name}.partial")
    try:
        with (
            closing(sqlite3.connect(readonly, uri=True)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst)
        partial.replace(target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} to {target} failed: {exc}") from exc
    return target.stat().st_size
