"""Named leases in the database: work that one of several workers does at a time.

A lease is a row (`leases`: name, owner, until). A worker holds it while `until` is in
the future and renews it while it works; a worker that dies loses it when `until`
passes, and another takes it over. Taking and renewing are one statement each, so two
workers never both hold a lease, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.schema import leases


def new_owner() -> str:
    """A name for this worker, unique among the workers of one database: its host, its
    process id and a random suffix (a restarted container may reuse a pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leases:
    """The named leases of one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def hold(self, name: str, owner: str, now: datetime, length: timedelta) -> bool:
        """Take lease `name` for `owner` until `now + length`, or renew it if `owner`
        holds it; False when another worker holds it."""
        until = now + length
        async with self.engine.begin() as conn:
            renewed = await conn.execute(
                leases.update()
                .where(
                    leases.c.name == name,
                    sa.or_(leases.c.owner == owner, leases.c.until <= now),
                )
                .values(owner=owner, until=until)
            )
            if renewed.rowcount:
                return True
            taken = await conn.execute(
                _insert(conn.dialect.name)
                .values(name=name, owner=owner, until=until)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            return bool(taken.rowcount)

    async def release(self, owner: str) -> None:
        """Give up every lease `owner` holds."""
        async with self.engine.begin() as conn:
            await conn.execute(leases.delete().where(leases.c.owner == owner))


def _insert(dialect: str) -> Any:
    """The INSERT of `leases` that takes ON CONFLICT DO NOTHING, on this dialect."""
    if dialect == "postgresql":
        return postgresql.insert(leases)
    return sqlite.insert(leases)
