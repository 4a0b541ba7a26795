"""Helpers of the contract suite: several replicas on one PostgreSQL, and SQL around the interface."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.storage.base import Storage
from bot.storage.open import open_storage
from tests.conftest import make_settings


@asynccontextmanager
async def replicas(tmp_path: Path, database_url: str, count: int) -> AsyncIterator[list[Storage]]:
    """`count` started Storage objects on one database, as `count` forgebot processes would have
    (each its own pool and replica id)."""
    storages = [
        open_storage(make_settings(tmp_path, database_url=database_url, replica_id=f"replica-{n}"))
        for n in range(count)
    ]
    await asyncio.gather(*(s.start() for s in storages))
    try:
        yield storages
    finally:
        await asyncio.gather(*(s.stop() for s in storages))


async def execute(storage: Storage, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement beside the interface (to inspect rows or tamper with them); `?`
    placeholders and SQL both databases speak. Returns the rows, if any."""
    if storage.backend == "postgresql":
        async with storage.engine.transaction() as conn:
            cursor = await conn.execute(sql.replace("?", "%s"), params)
            return [tuple(row) for row in await cursor.fetchall()] if cursor.description else []

    def job(conn: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    return list(await storage.engine.run(job))
