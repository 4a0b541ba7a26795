"""Effect keys on SQLite: the store's single writer and the primary key make `record` once-only."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.storage.effects import PRUNE_CHUNK
from bot.storage.sqlite.engine import Store, single_statement


@single_statement
def seen(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("SELECT 1 FROM effects WHERE key = ?", (key,)).fetchone() is not None


@single_statement
def detail(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT detail FROM effects WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


@single_statement
def record(conn: sqlite3.Connection, key: str, delivery_id: str | None, now: float, detail: dict[str, Any]) -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO effects (key, delivery_id, created_at, detail) VALUES (?, ?, ?, ?)",
        (key, delivery_id, now, json.dumps(detail, sort_keys=True)),
    )
    return bool(cursor.rowcount)


def prune(conn: sqlite3.Connection, before: float, limit: int = PRUNE_CHUNK) -> int:
    """Keys are recorded in time order, so the old ones are a prefix of the table in rowid order:
    looking at the first `limit` rows is enough, with no index on the time and no full scan."""
    old = [
        rowid
        for rowid, created_at in conn.execute("SELECT rowid, created_at FROM effects ORDER BY rowid LIMIT ?", (limit,))
        if created_at < before
    ]
    if old:
        conn.execute(f"DELETE FROM effects WHERE rowid IN ({','.join('?' * len(old))})", old)
    return len(old)


class SqliteEffects:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def seen(self, key: str) -> bool:
        return bool(await self._store.run(seen, key))

    async def detail(self, key: str) -> dict[str, Any] | None:
        return await self._store.run(detail, key)

    async def record(self, key: str, delivery_id: str | None, now: float, detail: dict[str, Any]) -> bool:
        return bool(await self._store.run(record, key, delivery_id, now, detail))

    async def prune(self, before: float, limit: int = PRUNE_CHUNK) -> int:
        return int(await self._store.run(prune, before, limit))
