"""Effect keys on PostgreSQL: the primary key and ON CONFLICT DO NOTHING make `record` once-only
across replicas (a second insert of a key waits for the first to commit, then inserts nothing)."""

from __future__ import annotations

import json
from typing import Any

from bot.storage.effects import PRUNE_CHUNK
from bot.storage.postgres.engine import PostgresEngine


class PostgresEffects:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def seen(self, key: str) -> bool:
        async with self._engine.connection() as conn:
            cursor = await conn.execute("SELECT 1 FROM effects WHERE key = %s", (key,))
            return await cursor.fetchone() is not None

    async def detail(self, key: str) -> dict[str, Any] | None:
        async with self._engine.connection() as conn:
            cursor = await conn.execute("SELECT detail FROM effects WHERE key = %s", (key,))
            row = await cursor.fetchone()
        return json.loads(row[0]) if row else None

    async def record(self, key: str, delivery_id: str | None, now: float, detail: dict[str, Any]) -> bool:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO effects (key, delivery_id, created_at, detail) VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (key, delivery_id, now, json.dumps(detail, sort_keys=True)),
            )
            return cursor.rowcount == 1

    async def prune(self, before: float, limit: int = PRUNE_CHUNK) -> int:
        # The oldest first through effects_by_age; SKIP LOCKED: two replicas pruning at once take
        # different keys instead of one waiting on the other's. A small chunk per transaction keeps
        # each DELETE short; autovacuum then reuses the dead rows' space for new keys, so the table
        # stays the size of its retention window rather than growing.
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                "DELETE FROM effects WHERE key IN ("
                " SELECT key FROM effects WHERE created_at < %s ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)",
                (before, limit),
            )
            return cursor.rowcount
