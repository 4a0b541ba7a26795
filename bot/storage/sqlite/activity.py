"""The activity log on SQLite: the store's single writer keeps the chain one chain."""

from __future__ import annotations

import sqlite3
from typing import Any

from bot.storage.activity import COLUMNS, HASHED, Entry, Verdict, as_dict, next_link, walk
from bot.storage.sqlite.engine import Store


def append(conn: sqlite3.Connection, entry: Entry, now: float) -> str:
    """Append one entry; return its hash. Runs inside the caller's transaction."""
    last = conn.execute("SELECT id, hash FROM activity ORDER BY id DESC LIMIT 1").fetchone()
    fields, prev_hash, digest = next_link(last, entry, now)
    conn.execute(f"INSERT INTO activity ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*fields, prev_hash, digest))
    return digest


def verify(conn: sqlite3.Connection) -> Verdict:
    return walk(conn.execute(f"SELECT {COLUMNS} FROM activity ORDER BY id"))


def recent(conn: sqlite3.Connection, limit: int, repo: str | None = None) -> list[dict[str, Any]]:
    query = f"SELECT {', '.join(HASHED)} FROM activity"
    params: tuple[Any, ...] = ()
    if repo:
        query += " WHERE repo = ?"
        params = (repo,)
    return [as_dict(row) for row in conn.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit))]


class SqliteActivity:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def append(self, entry: Entry, now: float) -> str:
        return str(await self._store.run(append, entry, now))

    async def verify(self) -> Verdict:
        return await self._store.run(verify)

    async def recent(self, *, limit: int, repo: str | None = None) -> list[dict[str, Any]]:
        return await self._store.run(recent, limit, repo)
