"""Throwaway PostgreSQL databases for tests, on the server `$WIREWATCH_TEST_POSTGRES_URL` names.

The URL's role must be allowed to create databases; its database is only where the
CREATE DATABASE and DROP DATABASE statements run. Each test gets a database of its own,
named after this process so that two test runs on one server never meet, and set to a
time zone far from UTC.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

POSTGRES_ENV = "WIREWATCH_TEST_POSTGRES_URL"
SKIP_REASON = (
    f"PostgreSQL tests need ${POSTGRES_ENV}, e.g. "
    "postgresql+asyncpg://wirewatch:wirewatch@127.0.0.1:5432/wirewatch_test "
    "(a role that may CREATE DATABASE); .ci/run sets it up"
)
ODD_ZONE = "America/St_Johns"  # UTC-03:30 or -02:30
_numbers = itertools.count(1)


def postgres_url() -> str | None:
    """The test server's URL from the environment, or None when PostgreSQL tests are off."""
    return os.environ.get(POSTGRES_ENV) or None


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """Create an empty database on the server of `server_url`, yield its
    postgresql+asyncpg URL, and drop it (whoever is still connected) afterwards."""
    server = make_url(server_url).set(drivername="postgresql+asyncpg")
    name = f"wirewatch_test_{os.getpid()}_{next(_numbers)}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        async with admin.connect() as conn:
            await _drop(conn, name)
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            # a session time zone far from UTC, so that a timestamp that goes through it
            # (an aware value cast to timestamptz, say) shows up as hours off
            await conn.execute(sa.text(f'ALTER DATABASE "{name}" SET timezone TO {ODD_ZONE!r}'))
            # a test's commits need not survive a crash of the server: no waiting for disk
            await conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await _drop(conn, name)
    finally:
        await admin.dispose()


async def _drop(conn: AsyncConnection, name: str, tries: int = 60) -> None:
    """Drop the database, whoever of our role is still connected; wait out a session we
    may not end (autovacuum working on it, whose process FORCE may only end as superuser)."""
    for attempt in range(tries):
        try:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != "42501" or attempt == tries - 1:
                raise  # not "insufficient privilege", or it did not go away in 30 s
            await asyncio.sleep(0.5)
