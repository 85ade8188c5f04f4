"""Workers sharing a PostgreSQL database take turns at the writes that read before they
insert, each turn a transaction-scoped advisory lock; SQLite has one bot per file.

Every lock id the bot takes is listed here, so that no two kinds of write share one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

RECORD_POLLS = 0x77770001  # `record_polls`: a new item (or URL) goes to one batch only
MIGRATION = 0x77770002  # `migrate`: the first worker migrates, the others find it done
FEED_LIST = 0x77770003  # declaring and adding feeds: a URL is inserted once
SUBSCRIPTIONS = 0x77770004  # declaring and making subscriptions: a key is inserted once


def take_turn_sync(conn: Connection, lock: int) -> None:
    """Wait until no other worker holds `lock`, then hold it until `conn`'s transaction
    ends; nothing on SQLite. Synchronous, as migrations run (through `run_sync`)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


async def take_turn(conn: AsyncConnection, lock: int) -> None:
    """`take_turn_sync` on an asynchronous connection."""
    await conn.run_sync(take_turn_sync, lock)
