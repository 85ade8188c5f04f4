"""`wirewatch migrate-db`: move a whole installation from one database to another.

Typically from the SQLite file to PostgreSQL, but any pair of supported databases works.
The source is brought to the current schema version (as any start of the bot would), the
target is migrated to it, and then every table of the schema is copied in dependency
order, ids included, in one target transaction: a failed copy leaves the target as it
was. PostgreSQL sequences are moved past the copied ids, and every table's row count is
checked on both sides before the copy is committed. Item keys and URLs too long to index
(stored by versions that did not limit them) are shortened as the store now does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.errors import DatabaseError
from bot.storage.database_url import DatabaseUrlError, async_database_url, display_url
from bot.storage.schema import MIGRATIONS, items, leases, metadata, migrate, schema_version
from bot.storage.store import indexable_key, indexable_url, open_engine

BATCH = 1000  # rows read and written at a time
# parents first; not the leases of running workers, which a stopped installation has none of
DATA_TABLES = [t for t in metadata.sorted_tables if t not in (schema_version, leases)]
Progress = Callable[[str], None]


class MigrationError(DatabaseError):
    """The copy was not made; the text says why. `exit_code` is 2 for a problem with the
    arguments or the databases given (fix them and run again), 1 for a runtime failure."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def lines(self) -> list[str]:
        """The message, naming the command."""
        return [f"wirewatch: migrate-db: {self}"]


async def migrate_database(
    source: str, target: str, *, force: bool, progress: Progress
) -> dict[str, int]:
    """Copy every table of the database at `source` into the one at `target`; return the
    rows copied per table.

    Both URLs may be plain (`sqlite:///PATH`, `postgresql://…`) or name the async driver.
    A target that holds rows already is refused unless `force`, which deletes them first.
    `progress` gets one line per step and per batch (`items: 3000/12000`). Raises
    MigrationError; the source is never changed beyond a schema upgrade.
    """
    source_url, target_url = _parse(source, "--from"), _parse(target, "--to")
    if _same_database(source_url, target_url):
        raise MigrationError("--from and --to name the same database", 2)
    _require_source_file(source_url)
    source_engine, target_engine = open_engine(source_url), open_engine(target_url)
    try:
        async with _failing_as(f"source {display_url(source)}"):
            version = await _ready_source(source_engine, progress)
        progress(f"source {display_url(source)}: schema v{version}")
        async with _failing_as(f"target {display_url(target)}"):
            await _check_target(target_engine, force)
            async with target_engine.begin() as dst, source_engine.connect() as src:
                await dst.run_sync(migrate)
                progress(f"target {display_url(target)}: schema v{version}")
                if force:
                    await _clear(dst)
                copied = {t.name: await _copy_table(src, dst, t, progress) for t in DATA_TABLES}
                if dst.dialect.name == "postgresql":
                    await _reset_sequences(dst)
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    return copied


def _parse(url: str, option: str) -> str:
    try:
        return async_database_url(url)
    except DatabaseUrlError as exc:
        raise MigrationError(f"{option}: {exc}", 2) from exc


def _same_database(a: str, b: str) -> bool:
    first, second = make_url(a), make_url(b)
    if first.get_backend_name() == second.get_backend_name() == "sqlite":
        return Path(first.database or "").resolve() == Path(second.database or "").resolve()
    return (first.drivername, first.host, first.port or 5432, first.database) == (
        second.drivername, second.host, second.port or 5432, second.database
    )  # fmt: skip


def _require_source_file(url: str) -> None:
    """An SQLite source must exist: opening a missing one would create it empty."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise MigrationError(f"--from: no SQLite database at {parsed.database}", 2)


@asynccontextmanager
async def _failing_as(what: str) -> AsyncIterator[None]:
    """Turn a database or connection failure into a MigrationError that names `what`."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise MigrationError(f"{what}: {reason}", 1) from exc


async def _ready_source(engine: AsyncEngine, progress: Progress) -> int:
    """Bring the source to the current schema version; return that version."""
    async with engine.begin() as conn:
        version = await conn.run_sync(_installed_version)
        if version is None:
            raise MigrationError("--from: not a wirewatch database (no schema_version table)", 2)
        _refuse_newer(version, "--from")
        if version < len(MIGRATIONS):
            await conn.run_sync(migrate)
            progress(f"source: schema upgraded from v{version} to v{len(MIGRATIONS)}")
    return len(MIGRATIONS)


async def _check_target(engine: AsyncEngine, force: bool) -> None:
    """Refuse a target of a newer schema, and one that holds rows unless `force`."""
    async with engine.connect() as conn:
        version = await conn.run_sync(_installed_version)
        if version is not None:
            _refuse_newer(version, "--to")
        present = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        counts = {t.name: await _count(conn, t) for t in DATA_TABLES if t.name in present}
    held = ", ".join(f"{name}: {n}" for name, n in counts.items() if n)
    if held and not force:
        raise MigrationError(
            f"--to: the target database holds data already (rows in {held}); "
            "give --force to delete it and copy over it",
            2,
        )


def _installed_version(conn: Connection) -> int | None:
    """The schema version of the database, 0 for none applied, None with no wirewatch
    schema at all."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return None
    return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def _refuse_newer(version: int, option: str) -> None:
    if version > len(MIGRATIONS):
        raise MigrationError(
            f"{option}: the database is at schema version {version}, newer than this "
            f"wirewatch knows ({len(MIGRATIONS)}); use the wirewatch that wrote it",
            2,
        )


async def _clear(conn: AsyncConnection) -> None:
    """Delete every row of the data tables, children first."""
    for table in reversed(DATA_TABLES):
        await conn.execute(table.delete())


async def _copy_table(
    src: AsyncConnection, dst: AsyncConnection, table: sa.Table, progress: Progress
) -> int:
    """Copy `table` in primary-key order, BATCH rows at a time; return the rows copied,
    once the source, the copy and the target agree on the count."""
    total = await _count(src, table)
    done = 0
    result = await src.stream(sa.select(table).order_by(*table.primary_key.columns))
    async for batch in result.partitions(BATCH):
        await dst.execute(table.insert(), [_as_stored(table, row) for row in batch])
        done += len(batch)
        progress(f"{table.name}: {done}/{total}")
    if not done:
        progress(f"{table.name}: 0/0")
    stored = await _count(dst, table)
    if not done == total == stored:
        raise MigrationError(
            f"{table.name}: {total} rows in the source, {done} read, {stored} in the target; "
            "stop the bot while migrating, then run again",
            1,
        )
    return done


def _as_stored(table: sa.Table, row: sa.Row[Any]) -> dict[str, Any]:
    """A source row as the target stores it: an item's key and URL made indexable."""
    values = dict(row._mapping)
    if table is items:
        values["key"], values["url"] = indexable_key(values["key"]), indexable_url(values["url"])
    return values


async def _count(conn: AsyncConnection, table: sa.Table) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def _reset_sequences(conn: AsyncConnection) -> None:
    """Move each table's id sequence past the copied ids, so that new rows get new ids."""
    for table in DATA_TABLES:
        (key,) = table.primary_key.columns
        sequence = sa.func.pg_get_serial_sequence(table.name, key.name)
        following = sa.select(sa.func.coalesce(sa.func.max(key), 0) + 1).scalar_subquery()
        await conn.execute(sa.select(sa.func.setval(sequence, following, False)))
