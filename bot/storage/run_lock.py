"""One running bot per SQLite file: `wirewatch run` holds a lock beside the database, and a
second `run` on the same file is refused with the first one's process id.

SQLite serialises writers, but two bots on one file would poll every feed twice and race
for the same deliveries. Other commands (`feeds`,
`subscriptions`, `backup`, …) may run beside the bot and take no lock. The lock is an
advisory `flock` on `<database>.lock`, released by the kernel when the process ends,
however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from bot.core.errors import UsageError
from bot.storage.database_url import sqlite_file


class RunLock:
    """The lock a running bot holds on its SQLite file (nothing for other databases)."""

    def __init__(self, database_url: str) -> None:
        database = sqlite_file(database_url)
        self.path = Path(f"{database}.lock") if database is not None else None
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        """Take the lock, or raise UsageError naming the process that holds it."""
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            database = self.path.with_suffix("")
            raise UsageError(
                f"another wirewatch run (pid {holder}) is using {database}: one bot per "
                "SQLite file; stop that one first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lock (the file stays: removing it would race a new holder)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
